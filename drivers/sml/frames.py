"""SML transport layer: find frames in a byte stream, check their CRC, undo the escaping.

An SML transport v1 frame (FNN / BSI TR-03109-1, SML 1.04 §8.1) is::

    1B1B1B1B 01010101  <payload, padded to a multiple of 4>  1B1B1B1B 1A <pad> <crc_hi> <crc_lo>

Inside the payload four ``1B`` bytes are sent twice (``1B1B1B1B 1B1B1B1B``); escape sequences
sit at 4-byte boundaries counted from the frame start. The CRC is CRC-16/X-25 over everything
from the start escape up to and including ``<pad>``, sent big-endian.

The reader copes with what an optical head delivers: it may start in the middle of a frame,
frames arrive split over many reads, noise and a wrong baud rate give garbage between frames, a
frame can be cut off by a new start sequence, and a frame can fail its CRC. Bad frames are
counted and never returned.

Holley DTZ541 firmware quirk: some DTZ541 send a CRC that verifies only as CRC-16/KERMIT (same
polynomial, init 0, no final XOR; smllib issue #8, libsml accepts it as a workaround for this
meter). ``FrameReader`` therefore reports a frame whose X-25 check fails but whose KERMIT check
passes as ``kermit=True``; the caller accepts it only when the frame says it comes from a Holley
meter (manufacturer FLAG id ``HLY``) and counts it as a bad frame otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from smllib.crc import kermit, x25

ESCAPE = b"\x1b\x1b\x1b\x1b"
START = ESCAPE + b"\x01\x01\x01\x01"
END_MARK = 0x1A
MAX_FRAME = 16 * 1024
"""A longer run without an end sequence is discarded as garbage (real frames are < 1 KiB)."""


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One complete frame.

    Attributes:
        payload: the SML messages, escapes undone, padding removed.
        message: the frame as it was on the wire (start escape to CRC).
        kermit: the CRC verifies only as CRC-16/KERMIT (the Holley quirk), not as X-25.
    """

    payload: bytes
    message: bytes
    kermit: bool = False


@dataclass(slots=True)
class StreamStats:
    """What the reader has seen since it started."""

    bytes_in: int = 0
    frames: int = 0
    crc_errors: int = 0
    kermit_frames: int = 0
    malformed: int = 0
    garbage_bytes: int = 0


def crc_x25(data: bytes) -> int:
    """CRC-16/X-25 as sent (big-endian in the last two bytes; smllib returns it so)."""
    return x25.get_crc(data)


def crc_kermit(data: bytes) -> int:
    """CRC-16/KERMIT as the Holley firmware sends it (big-endian in the last two bytes)."""
    return kermit.get_crc(data)


def build_frame(payload: bytes) -> bytes:
    """A complete transport-v1 frame around ``payload`` (escaping, padding, X-25 CRC).

    Used by the simulator and the tests; the meter side of the protocol.
    """
    escaped = _escape(payload)
    pad = (-len(escaped)) % 4
    body = START + escaped + b"\x00" * pad + ESCAPE + bytes((END_MARK, pad))
    crc = crc_x25(body)
    return body + crc.to_bytes(2, "big")


def _escape(payload: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(payload):
        if payload[i : i + 4] == ESCAPE and (i % 4) == 0:
            out += ESCAPE + ESCAPE
            i += 4
            continue
        out.append(payload[i])
        i += 1
    return bytes(out)


def _unescape(data: bytes) -> bytes:
    """Undo the doubling of ``1B1B1B1B`` (at 4-byte boundaries of the payload)."""
    if ESCAPE + ESCAPE not in data:
        return data
    out = bytearray()
    pos = 0
    while True:
        hit = data.find(ESCAPE + ESCAPE, pos)
        while hit >= 0 and hit % 4:
            hit = data.find(ESCAPE + ESCAPE, hit + 1)
        if hit < 0:
            out += data[pos:]
            return bytes(out)
        out += data[pos : hit + 4]
        pos = hit + 8


class FrameReader:
    """Frames out of a byte stream (``feed`` bytes, then take ``frames()``)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.stats = StreamStats()
        self.last_problem = ""

    def feed(self, data: bytes) -> list[RawFrame]:
        """Add received bytes; return the frames they completed (CRC-checked, in order)."""
        self.stats.bytes_in += len(data)
        self._buf += data
        out: list[RawFrame] = []
        while True:
            frame = self._next()
            if frame is None:
                return out
            out.append(frame)

    @property
    def pending(self) -> int:
        """Bytes waiting for the rest of their frame."""
        return len(self._buf)

    def _next(self) -> RawFrame | None:
        buf = self._buf
        while True:
            start = buf.find(START)
            if start < 0:
                # keep a tail that may be the beginning of a start sequence
                keep = min(len(buf), len(START) - 1)
                dropped = len(buf) - keep
                if dropped:
                    self.stats.garbage_bytes += dropped
                    del buf[:dropped]
                return None
            if start:
                self.stats.garbage_bytes += start
                del buf[:start]
            end = self._find_end(buf)
            if end is None:
                if len(buf) > MAX_FRAME:
                    self._malformed("no end sequence within 16 KiB")
                    del buf[:8]
                    continue
                return None
            if end < 0:  # restart at a new start sequence (the old frame was cut off)
                self._malformed("frame cut off by the next frame's start")
                del buf[:-end]
                continue
            message = bytes(buf[:end])
            del buf[:end]
            frame = self._check(message)
            if frame is not None:
                return frame

    def _find_end(self, buf: bytearray) -> int | None:
        """Length of the frame at ``buf[0]``; ``None``: incomplete; ``-n``: a new frame starts
        at ``n`` (the first was cut off)."""
        pos = len(START)
        while True:
            hit = buf.find(ESCAPE, pos)
            if hit < 0:
                return None
            if hit % 4:  # escape sequences are aligned to the frame start
                pos = hit + 1
                continue
            if len(buf) < hit + 8:
                return None
            tail = buf[hit + 4 : hit + 8]
            if tail == ESCAPE:  # escaped payload bytes
                pos = hit + 8
                continue
            if tail == b"\x01\x01\x01\x01":
                return -hit
            if tail[0] == END_MARK:
                return hit + 8
            pos = hit + 4  # an unknown escape: keep looking (the CRC decides)

    def _check(self, message: bytes) -> RawFrame | None:
        pad = message[-3]
        sent = message[-2] << 8 | message[-1]
        kermit_only = False
        if crc_x25(message[:-2]) != sent:
            if crc_kermit(message[:-2]) != sent:
                self.stats.crc_errors += 1
                self.last_problem = (
                    f"CRC error in an SML frame of {len(message)} bytes "
                    f"(sent {sent:04x}, computed {crc_x25(message[:-2]):04x})"
                )
                return None
            kermit_only = True
        if pad > 3 or len(message) < 16 + pad:
            self._malformed(f"bad padding count {pad}")
            return None
        payload = _unescape(message[8 : len(message) - 8 - pad])
        self.stats.frames += 1
        if kermit_only:
            self.stats.kermit_frames += 1
        return RawFrame(payload, message, kermit_only)

    def _malformed(self, why: str) -> None:
        self.stats.malformed += 1
        self.last_problem = f"malformed SML frame: {why}"
