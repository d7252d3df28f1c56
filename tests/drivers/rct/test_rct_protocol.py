"""RCT framing against real bytes: every shared capture decodes to what its source states, the
builder reproduces the captured requests byte for byte, and a frame whose CRC does not match is
dropped (never a value), as are garbage, truncated frames and impossible lengths."""

from __future__ import annotations

import binascii
import json
import struct
from pathlib import Path

import pytest
from ampacity.drivers.rct.protocol import (
    Command,
    CrcMismatch,
    Frame,
    FrameError,
    FrameReader,
    ValueType,
    crc16,
    decode_cell_statistics,
    decode_value,
    encode,
    encode_value,
    read_request,
)

FIXTURES = Path(__file__).parent / "fixtures"


def capture(name: str) -> bytes:
    return bytes.fromhex((FIXTURES / f"{name}.hex").read_text().strip())


def expected(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / f"{name}.expected.json").read_text())


def frames_of(data: bytes) -> list[Frame | FrameError]:
    reader = FrameReader()
    out = reader.feed(data)
    assert reader.pending == 0
    return out


def test_every_shared_frame_capture_decodes_with_a_matching_crc() -> None:
    names = sorted(p.stem for p in FIXTURES.glob("*.hex"))
    frame_captures = [n for n in names if "payload" not in n]  # the payload: a test below
    assert len(frame_captures) == 4 and len(names) == 5
    for name in frame_captures:
        decoded = expected(name)["decoded_here"]
        frames = frames_of(capture(name))
        assert all(isinstance(f, Frame) for f in frames), name
        assert [(f.command, f"0x{f.oid:08x}", f.data.hex()) for f in frames] == [  # type: ignore[union-attr]
            (d["command"], d["oid"], d["payload_hex"]) for d in decoded
        ], name


def test_battery_soc_response_is_roughly_0_296() -> None:
    # the source: command RESPONSE (0x05), id 0x959930BF battery.soc, data "roughly 0.296";
    # the leading 00 before the start byte is ignored
    [frame] = frames_of(capture("rctclient_battery_soc_response_a"))
    assert isinstance(frame, Frame)
    assert frame.command == Command.RESPONSE
    assert frame.oid == 0x959930BF
    assert decode_value(ValueType.FLOAT, frame.data) == pytest.approx(0.296, abs=0.0005)


def test_android_name_from_a_real_device_is_ps_6_0_ba3l() -> None:
    [frame] = frames_of(capture("rctclient_android_name_response"))
    assert isinstance(frame, Frame)
    assert (frame.command, frame.oid) == (Command.RESPONSE, 0xEBC62737)
    assert len(frame.data) == 64  # a 64-byte NUL-padded text
    assert decode_value(ValueType.STRING, frame.data) == "PS 6.0 BA3L"


def test_the_app_stream_has_seven_requests_one_with_an_escaped_byte() -> None:
    source = expected("rctclient_app_read_request_stream_pcap")["source_stated_expected"]
    frames = frames_of(capture("rctclient_app_read_request_stream_pcap"))
    assert [f"0x{f.oid:08x}" for f in frames] == [  # type: ignore[union-attr]
        i.split()[0] for i in source["ids"]
    ]
    assert all(f.command == Command.READ for f in frames)  # type: ignore[union-attr]
    # the builder gives the bytes the app sent, escaped 0x2D included (sizes 9 and 10)
    built = [read_request(f.oid) for f in frames]  # type: ignore[union-attr]
    assert [len(b) for b in built] == source["sizes"]
    assert b"".join(built) == capture("rctclient_app_read_request_stream_pcap")


def test_builder_matches_the_read_requests_of_two_sources() -> None:
    assert read_request(0x959930BF) == capture("rctclient_battery_soc_read_request")
    # mlnoga/rct build_test.go: Read InverterACPowerW and Read BatteryPowerW
    assert read_request(0xDB2D69AE) == bytes.fromhex("2B0104DB2D2D69AE55AB")
    assert read_request(0x400F015B) == bytes.fromhex("2B0104400F015B58B4")


def test_a_response_built_here_is_the_captured_response() -> None:
    data = encode_value(ValueType.FLOAT, struct.unpack(">f", bytes.fromhex("3e97b191"))[0])
    assert b"\x00" + encode(Command.RESPONSE, 0x959930BF, data) == capture(
        "rctclient_battery_soc_response_a"
    )


def test_a_crc_mismatch_is_rejected_and_the_next_frame_still_decodes() -> None:
    good = capture("rctclient_battery_soc_response_a")[1:]
    bad = good[:-1] + bytes([good[-1] ^ 0x40])  # one bit of the CRC flipped
    out = frames_of(bad + good)
    assert isinstance(out[0], CrcMismatch)
    assert (out[0].received, out[0].computed) == (0x9CC6, 0x9C86)
    assert "0x959930BF" in str(out[0]) and "dropped" in str(out[0])
    assert isinstance(out[1], Frame) and out[1].data.hex() == "3e97b191"
    corrupted_data = good[:8] + bytes([good[8] ^ 0x01]) + good[9:]  # a data bit flipped
    [rejected] = frames_of(corrupted_data)
    assert isinstance(rejected, CrcMismatch)


def test_odd_length_bodies_are_padded_for_the_crc() -> None:
    frame = encode(Command.RESPONSE, 0xF168B748, b"\x02")  # 7 bytes: cmd, len, id, one byte
    [decoded] = frames_of(frame)
    assert isinstance(decoded, Frame) and decoded.data == b"\x02"
    body = bytes([0x05, 0x05]) + bytes.fromhex("F168B748") + b"\x02"
    padded, unpadded = binascii.crc_hqx(body + b"\x00", 0xFFFF), binascii.crc_hqx(body, 0xFFFF)
    assert padded != unpadded
    assert crc16(body) == padded
    unstuffed = frame[1:].replace(b"\x2d\x2d", b"\x2d").replace(b"\x2d\x2b", b"\x2b")
    assert int.from_bytes(unstuffed[-2:], "big") == padded


def test_garbage_truncation_and_impossible_lengths_are_reported_not_decoded() -> None:
    good = capture("rctclient_battery_soc_response_a")[1:]
    out = frames_of(b"\xff\x00garbage" + good[:6] + good)  # a frame cut short by the next
    assert isinstance(out[0], FrameError) and "cut short" in str(out[0])
    assert isinstance(out[1], Frame)
    [unknown] = frames_of(bytes([0x2B, 0x77, 0x04, 1, 2, 3, 4, 0, 0]))
    assert isinstance(unknown, FrameError) and "unknown command 0x77" in str(unknown)
    [too_short] = frames_of(bytes([0x2B, 0x05, 0x02, 0, 0, 0, 0]))
    assert isinstance(too_short, FrameError) and "impossible length 2" in str(too_short)


def test_frames_split_anywhere_reassemble() -> None:
    stream = capture("rctclient_app_read_request_stream_pcap")
    for cut in range(1, len(stream)):
        reader = FrameReader()
        out = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert len(out) == 7 and all(isinstance(f, Frame) for f in out), cut


def test_values_of_the_wrong_size_are_errors() -> None:
    with pytest.raises(FrameError, match="2 data bytes where a FLOAT has 4"):
        decode_value(ValueType.FLOAT, b"\x00\x01")
    with pytest.raises(ValueError, match="finite"):
        encode_value(ValueType.FLOAT, float("nan"))


def test_the_cell_statistics_payload_is_what_its_source_states() -> None:
    # payload only (no frame): battery.cells_stat, "u_min cell 0, ts 1650184774, 3.029 V" ...
    stated = expected("rctclient_payload_battery_cells_stat")["source_stated_expected"]
    stats = decode_cell_statistics(capture("rctclient_payload_battery_cells_stat"))
    got = {s.kind: (s.cell, s.timestamp, round(s.value, 3)) for s in stats}
    assert got == {
        "u_min": (0, 1650184774, 3.029),
        "u_max": (0, 1722508273, 3.469),
        "t_min": (0, 1705045690, 18.0),
        "t_max": (14, 1625465883, 41.0),
    }
    assert "3.029 V" in stated["u_min"] and "cell 14" in stated["t_max"]
    with pytest.raises(FrameError, match="47 data bytes"):
        decode_cell_statistics(capture("rctclient_payload_battery_cells_stat")[:47])
