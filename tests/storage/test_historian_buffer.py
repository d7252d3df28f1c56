"""The disk write-ahead buffer: frames, recovery from torn writes, acknowledgement, bound."""

from __future__ import annotations

from pathlib import Path

from ampacity.storage.batch import Batch
from ampacity.storage.events import EventKind, make_event
from ampacity.storage.wal import DiskBuffer, decode, encode


def batch(start: int, n: int) -> Batch:
    return Batch([("pv1.P", start + i, float(i), None, 0) for i in range(n)])


def test_frames_round_trip_numbers_texts_bad_values_and_events() -> None:
    original = Batch(
        [
            ("a.P", 1, 1.5, None, 0),
            ("a.S", 2, None, "SN-1", 0),
            ("a.P", 3, None, None, 0x80050000),
        ],
        [make_event(EventKind.AUDIT_WRITE, "a.L", "set", 4, user="op", new_value=3.0)],
    )
    frame = encode(original)
    back = decode(frame[12:])
    assert back.samples == original.samples
    assert back.events == original.events


def test_unacknowledged_frames_come_back_after_reopen_in_order(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 30)
    assert buf.open() == []
    p1, _ = buf.append(batch(0, 3))
    buf.append(batch(10, 3))
    buf.ack(p1)
    buf.close()
    again = DiskBuffer(tmp_path, 1 << 30)
    pending = again.open()
    assert [b.samples[0][1] for _, b in pending] == [10]


def test_a_torn_frame_is_cut_off_and_appending_goes_on(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 30)
    buf.open()
    buf.append(batch(0, 5))
    buf.close()
    segment = sorted(tmp_path.glob("seg-*.wal"))[-1]
    frame = encode(batch(100, 5))
    with segment.open("ab") as fh:
        fh.write(frame[: len(frame) // 2])  # killed in the middle of a write
    again = DiskBuffer(tmp_path, 1 << 30)
    pending = again.open()
    assert [len(b.samples) for _, b in pending] == [5]
    assert segment.stat().st_size == len(encode(batch(0, 5)))
    again.append(batch(200, 2))
    again.close()
    third = DiskBuffer(tmp_path, 1 << 30)
    assert [b.samples[0][1] for _, b in third.open()] == [0, 200]


def test_a_corrupted_frame_is_not_replayed(tmp_path: Path) -> None:
    buf = DiskBuffer(tmp_path, 1 << 30)
    buf.open()
    buf.append(batch(0, 5))
    buf.close()
    segment = sorted(tmp_path.glob("seg-*.wal"))[-1]
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert DiskBuffer(tmp_path, 1 << 30).open() == []


def test_the_bound_drops_the_oldest_segments_and_counts_them(tmp_path: Path, monkeypatch) -> None:
    import ampacity.storage.wal as wal

    monkeypatch.setattr(wal, "SEGMENT_BYTES", 2000)
    buf = DiskBuffer(tmp_path, 5000)
    buf.open()
    dropped = 0
    for i in range(20):
        _, d = buf.append(batch(i * 100, 40))  # ~1 kB per frame
        dropped += d
    assert dropped > 0
    assert buf.unacked_bytes() <= 5000 + 2100
    remaining = DiskBuffer(tmp_path, 5000)
    buf.close()
    kept = sum(len(b.samples) for _, b in remaining.open())
    assert kept + dropped == 20 * 40
