"""The write-ahead buffer: batches on local disk until the database has them.

Layout: ``<folder>/seg-<n>.wal`` segment files of frames, and ``<folder>/ack`` with the position
(segment, offset) up to which the database has committed everything. A frame is
``magic(4) | payload length (u32) | crc32 (u32) | payload``; a frame cut short by a crash or with a
wrong checksum ends the segment and is truncated away on the next open, so a ``kill -9`` can only
lose the frame being written.

Payload: ``n_keys, n_numeric, json_len`` (u32 each), the key table (u16 length + UTF-8 each), the
numeric samples (``key index u32, t_us i64, value f64, status u32, flags u8``; flags bit 0: value
present), then a JSON object with the text samples and the events.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from .batch import Batch, Sample

log = logging.getLogger(__name__)

MAGIC = b"AMPB"
HEADER = struct.Struct("<4sII")
COUNTS = struct.Struct("<III")
NUMERIC = struct.Struct("<IqdIB")
KEYLEN = struct.Struct("<H")
SEGMENT_BYTES = 16 * 1024 * 1024

Position = tuple[int, int]
"""``(segment number, byte offset)``; ordered like the frames."""


def encode(batch: Batch) -> bytes:
    """The frame for ``batch``."""
    index: dict[str, int] = {}
    numeric: list[bytes] = []
    texts: list[list[object]] = []
    pack = NUMERIC.pack
    for key, t_us, value, text, status in batch.samples:
        idx = index.get(key)
        if idx is None:
            idx = index[key] = len(index)
        if text is not None:
            texts.append([idx, t_us, text, status])
        elif value is None:
            numeric.append(pack(idx, t_us, 0.0, status, 0))
        else:
            numeric.append(pack(idx, t_us, value, status, 1))
    extra = json.dumps({"texts": texts, "events": batch.events}, separators=(",", ":")).encode()
    parts = [COUNTS.pack(len(index), len(numeric), len(extra))]
    for key in index:
        raw = key.encode()
        parts.append(KEYLEN.pack(len(raw)) + raw)
    parts.extend(numeric)
    parts.append(extra)
    payload = b"".join(parts)
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes) -> Batch:
    n_keys, n_numeric, n_extra = COUNTS.unpack_from(payload, 0)
    offset = COUNTS.size
    keys: list[str] = []
    for _ in range(n_keys):
        (length,) = KEYLEN.unpack_from(payload, offset)
        offset += KEYLEN.size
        keys.append(payload[offset : offset + length].decode())
        offset += length
    end = offset + n_numeric * NUMERIC.size
    samples: list[Sample] = [
        (keys[idx], t_us, value if flags & 1 else None, None, status)
        for idx, t_us, value, status, flags in NUMERIC.iter_unpack(payload[offset:end])
    ]
    extra = json.loads(payload[end : end + n_extra])
    samples.extend(
        (keys[idx], t_us, None, text, status) for idx, t_us, text, status in extra["texts"]
    )
    samples.sort(key=lambda s: s[1])
    return Batch(samples, extra["events"])


class DiskBuffer:
    """Append-only segment files with an acknowledged position; single-threaded use only."""

    def __init__(self, folder: Path, max_bytes: int, fsync: bool = True) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._file: object = None
        self._segment = 0
        self._size = 0
        self.ack_position: Position = (0, 0)

    # --- files -----------------------------------------------------------------------------------

    def _path(self, segment: int) -> Path:
        return self.folder / f"seg-{segment:012d}.wal"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem[4:]) for p in self.folder.glob("seg-*.wal"))

    def _read_ack(self) -> Position:
        try:
            seg, off = (self.folder / "ack").read_text().split()
            return int(seg), int(off)
        except (OSError, ValueError):
            return (0, 0)

    def _write_ack(self, position: Position) -> None:
        tmp = self.folder / "ack.tmp"
        tmp.write_text(f"{position[0]} {position[1]}\n")
        os.replace(tmp, self.folder / "ack")

    @staticmethod
    def _frames(data: bytes, start: int) -> Iterator[tuple[int, int, bytes]]:
        """``(frame start, frame end, payload)`` of the intact frames from ``start``."""
        offset = start
        while offset + HEADER.size <= len(data):
            magic, length, crc = HEADER.unpack_from(data, offset)
            end = offset + HEADER.size + length
            if magic != MAGIC or end > len(data):
                return
            payload = data[offset + HEADER.size : end]
            if zlib.crc32(payload) != crc:
                return
            yield offset, end, payload
            offset = end

    # --- lifecycle -------------------------------------------------------------------------------

    def open(self) -> list[tuple[Position, Batch]]:
        """Recover: truncate a torn tail, return the batches not yet acknowledged, in order."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ack_position = self._read_ack()
        pending: list[tuple[Position, Batch]] = []
        segments = self._segments()
        for seg in segments:
            if seg < self.ack_position[0]:
                self._path(seg).unlink(missing_ok=True)
                continue
            data = self._path(seg).read_bytes()
            start = self.ack_position[1] if seg == self.ack_position[0] else 0
            good_end = start
            for _, end, payload in self._frames(data, start):
                pending.append(((seg, end), decode(payload)))
                good_end = end
            if good_end < len(data) and start <= len(data):
                log.warning("history buffer %s: dropping a torn frame at %d", seg, good_end)
                with self._path(seg).open("r+b") as fh:
                    fh.truncate(good_end)
        self._segment = (segments[-1] + 1) if segments else max(self.ack_position[0], 0) + 1
        self._open_segment()
        return pending

    def _open_segment(self) -> None:
        self.close()
        self._file = self._path(self._segment).open("ab")
        self._size = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.close()  # type: ignore[attr-defined]
            self._file = None

    # --- writing ---------------------------------------------------------------------------------

    def append(self, batch: Batch) -> tuple[Position, int]:
        """Write ``batch``; returns its end position and the number of samples dropped to keep
        the buffer inside its bound (oldest first)."""
        if self._size >= SEGMENT_BYTES:
            self._segment += 1
            self._open_segment()
        frame = encode(batch)
        fh = self._file
        fh.write(frame)  # type: ignore[attr-defined]
        fh.flush()  # type: ignore[attr-defined]
        if self.fsync:
            os.fsync(fh.fileno())  # type: ignore[attr-defined]
        self._size += len(frame)
        return (self._segment, self._size), self._enforce_bound()

    def ack(self, position: Position) -> None:
        """The database has everything up to ``position``."""
        if position <= self.ack_position:
            return
        self.ack_position = position
        self._write_ack(position)
        for seg in self._segments():
            if seg < position[0]:
                self._path(seg).unlink(missing_ok=True)

    def unacked_bytes(self) -> int:
        total = 0
        for seg in self._segments():
            if seg < self.ack_position[0]:
                continue
            size = self._path(seg).stat().st_size
            total += size - (self.ack_position[1] if seg == self.ack_position[0] else 0)
        return total

    def _enforce_bound(self) -> int:
        dropped = 0
        while self.unacked_bytes() > self.max_bytes:
            oldest = [s for s in self._segments() if s >= self.ack_position[0]]
            if len(oldest) < 2:
                break
            seg = oldest[0]
            data = self._path(seg).read_bytes()
            start = self.ack_position[1] if seg == self.ack_position[0] else 0
            dropped += sum(len(decode(p)) for _, _, p in self._frames(data, start))
            log.error("history buffer full: dropping segment %d (%d samples)", seg, dropped)
            self.ack((oldest[1], 0))
        return dropped

    def read(self, start: Position, end: Position) -> Iterator[tuple[Position, Batch]]:
        """The frames after ``start`` up to and including the one ending at ``end``."""
        for seg in self._segments():
            if seg < start[0] or seg > end[0]:
                continue
            data = self._path(seg).read_bytes()
            offset = start[1] if seg == start[0] else 0
            for _, frame_end, payload in self._frames(data, offset):
                if (seg, frame_end) > end:
                    return
                yield (seg, frame_end), decode(payload)
