"""The decoding pipeline: word order, byte swap, scale/offset/sign, bits, booleans, enums, strings,
sentinels, sums of several registers; and the write conversion (range, zero_means_off,
percent_of, sign, before steps and the ``once`` ones)."""

import math

import pytest
from ampacity.assets import (
    IDENTIFICATION_POINTS,
    AssetKind,
    OutOfRangeError,
    Quality,
    WriteError,
    spec_for,
)
from ampacity.drivers.codec import CodecError, WireType, encode
from ampacity.drivers.modbus.decode import compile_decoder, decode_parts, decode_point
from ampacity.drivers.modbus.write import model_from_write_register, prepare_write
from ampacity.drivers.profile import PointMap, Transport

BIG = Transport()
LITTLE = Transport(word_order="little")
SWAPPED = Transport(byte_swap=True)
NO_SENTINELS = Transport(nan_sentinels=False)

PV = spec_for(AssetKind.PV_INVERTER)
BAT = spec_for(AssetKind.BATTERY)
EV = spec_for(AssetKind.CHARGE_POINT)
RCR = spec_for(AssetKind.RIPPLE_CONTROL_RECEIVER)


def pm(**kw) -> PointMap:
    kw.setdefault("address", 0)
    return PointMap.model_validate(kw)


def test_word_orders_and_byte_swap():
    value = 0x00012345  # 74565
    s = PV.point("ActivePower")
    assert decode_point(pm(type="u32"), s, [0x0001, 0x2345], BIG).value == 74565.0
    assert decode_point(pm(type="u32"), s, [0x2345, 0x0001], LITTLE).value == 74565.0
    # per-point word order wins over the profile default
    assert (
        decode_point(pm(type="u32", word_order="little"), s, [0x2345, 0x0001], BIG).value == 74565.0
    )
    assert decode_point(pm(type="u32"), s, [0x0100, 0x4523], SWAPPED).value == value
    f32 = encode(1234.5, WireType.F32, "little")
    assert decode_point(pm(type="f32"), s, f32, LITTLE).value == 1234.5


def test_scale_offset_sign_into_model_units():
    volts = decode_point(pm(type="u16", scale=0.1), PV.point("VoltageL1"), [2305], BIG)
    assert volts == type(volts)(230.5, Quality.GOOD)  # no binary noise
    kwh = decode_point(pm(type="u32", scale=1000), PV.point("EnergyProduced"), [0, 1234], BIG)
    assert kwh.value == 1_234_000.0  # kWh register -> Wh
    temp = decode_point(
        pm(type="s16", scale=0.1, offset=-40),
        spec_for(AssetKind.HEAT_METER).point("FlowTemperature"),
        [655],
        BIG,
    )
    assert temp.value == pytest.approx(25.5)
    # a device reporting "positive = charging" becomes the model's "positive = discharge"
    charging = decode_point(pm(type="s16", sign=-1), BAT.point("ActivePower"), [1500], BIG)
    assert charging.value == -1500.0
    discharging = decode_point(pm(type="s16", sign=-1), BAT.point("ActivePower"), [0xFC18], BIG)
    assert discharging.value == 1000.0


def test_type_sentinels_give_bad_out_of_range_without_value():
    s = PV.point("ActivePower")
    for wire, words in (
        ("u16", [0xFFFF]),
        ("s16", [0x8000]),
        ("u32", [0xFFFF, 0xFFFF]),
        ("s32", [0x8000, 0x0000]),
        ("u64", [0xFFFF] * 4),
        ("s64", [0x8000, 0, 0, 0]),
    ):
        decoded = decode_point(pm(type=wire), s, words, BIG)
        assert (decoded.value, decoded.quality) == (None, Quality.BAD_OUT_OF_RANGE), wire
    nan = encode(math.nan, WireType.F32)
    assert decode_point(pm(type="f32"), s, nan, BIG).quality is Quality.BAD_OUT_OF_RANGE
    # switched off: the raw pattern is a value
    assert decode_point(pm(type="s16"), s, [0x8000], NO_SENTINELS).value == -32768.0
    # little word order: the pattern is compared after reordering
    assert (
        decode_point(pm(type="s32"), s, [0x0000, 0x8000], LITTLE).quality
        is Quality.BAD_OUT_OF_RANGE
    )


def test_point_sentinels_give_their_stated_quality():
    s = PV.point("Frequency")
    point = pm(type="s16", scale=0.01, sentinels={0: "sensor_failure", 0x7FFF: "out_of_range"})
    assert decode_point(point, s, [0], BIG) == type(decode_point(point, s, [0], BIG))(
        None, Quality.BAD_SENSOR_FAILURE
    )
    assert decode_point(point, s, [0x7FFF], BIG).quality is Quality.BAD_OUT_OF_RANGE
    assert decode_point(point, s, [5001], BIG).value == 50.01
    # a negative sentinel written as its unsigned pattern matches too
    neg = pm(type="s16", sentinels={0xFFFE: "sensor_failure"})
    assert decode_point(neg, s, [0xFFFE], BIG).quality is Quality.BAD_SENSOR_FAILURE


def test_bits_booleans_enums_and_strings():
    connected = EV.point("VehicleConnected")
    status = pm(type="u16", bit=3)
    assert decode_point(status, EV.point("Charging"), [0b1000], BIG).value is True
    assert decode_point(status, EV.point("Charging"), [0b0111], BIG).value is False
    # bit fields may legitimately have every bit set: no type sentinel
    assert decode_point(status, EV.point("Charging"), [0xFFFF], BIG).value is True
    states = pm(type="u16", true_values=[2, 3])  # IEC 61851 states B and C
    assert decode_point(states, connected, [1], BIG).value is False
    assert decode_point(states, connected, [3], BIG).value is True
    text_states = pm(type="string", length=1, true_values=["B", "C"])
    assert decode_point(text_states, connected, [0x4200], BIG).value is True
    assert decode_point(text_states, connected, [0x4100], BIG).value is False
    plain = pm(type="u16")
    assert decode_point(plain, connected, [7], BIG).value is True
    assert decode_point(plain, connected, [0], BIG).value is False
    coil = pm(function="discrete_input", type="bool")
    assert decode_point(coil, RCR.point("Contact1"), [True], BIG, bit_function=True).value is True

    state = PV.point("OperatingState")
    mapped = pm(type="u16", enum={2: 4, 4: 5, 7: 7})
    assert decode_point(mapped, state, [4], BIG) == type(decode_point(mapped, state, [4], BIG))(
        5, Quality.GOOD
    )
    assert decode_point(mapped, state, [9], BIG).quality is Quality.BAD_OUT_OF_RANGE
    assert decode_point(pm(type="u16"), state, [4], BIG).value == 4  # integer point: int

    serial = next(p for p in IDENTIFICATION_POINTS if p.name == "SerialNumber")
    words = encode("SN-42", WireType.STRING, string_words=4)
    assert decode_point(pm(type="string", length=4), serial, words, BIG).value == "SN-42"
    assert decode_point(pm(type="u32"), serial, [0, 4711], BIG).value == "4711"


# --- writes ------------------------------------------------------------------------------------


def test_write_range_from_device_limits_else_model():
    limit = EV.point("ChargeCurrentLimit")  # model 0..80 A
    device = pm(address=None, write={"address": 10, "min": 6, "max": 16, "scale": 0.1})
    with pytest.raises(OutOfRangeError):
        prepare_write(device, limit, 17, BIG, 1, where="ev.ChargeCurrentLimit")
    with pytest.raises(OutOfRangeError):
        prepare_write(device, limit, 3, BIG, 1)
    ok = prepare_write(device, limit, 10, BIG, 1)
    assert ok.segments == ((10, (100,)),)
    assert (ok.written, ok.clamped) == (10.0, False)
    model_only = pm(address=None, write={"address": 10})
    with pytest.raises(OutOfRangeError):
        prepare_write(model_only, limit, 81, BIG, 1)
    assert prepare_write(model_only, limit, 80, BIG, 1).segments == ((10, (80,)),)
    with pytest.raises(WriteError):
        prepare_write(model_only, limit, "ten", BIG, 1)


def test_zero_means_off():
    limit = EV.point("ChargeCurrentLimit")
    point = pm(address=None, write={"address": 10, "min": 6, "max": 16, "zero_means_off": True})
    paused = prepare_write(point, limit, 3, BIG, 1)
    assert paused.segments == ((10, (0,)),)
    assert (paused.requested, paused.written, paused.clamped) == (3.0, 0.0, True)
    zero = prepare_write(point, limit, 0, BIG, 1)
    assert (zero.written, zero.clamped) == (0.0, False)
    with pytest.raises(OutOfRangeError):
        prepare_write(point, limit, -1, BIG, 1)
    with pytest.raises(OutOfRangeError):
        prepare_write(point, limit, 17, BIG, 1)


def test_percent_of_sign_before_steps_and_single_register():
    pl = PV.point("ActivePowerLimit")
    point = pm(address=None, write={"address": 40, "percent_of": "NominalPower", "scale": 0.01})
    with pytest.raises(WriteError):
        prepare_write(point, pl, 5000, BIG, 1, reference=None)
    half = prepare_write(point, pl, 5000, BIG, 1, reference=10000.0)
    assert half.segments == ((40, (5000,)),)  # 50.00 % in 0.01 % steps
    assert (half.written, half.clamped) == (5000.0, False)
    above = prepare_write(point, pl, 12000, BIG, 1, reference=10000.0)
    assert above.segments == ((40, (10000,)),) and above.clamped and above.written == 10000.0
    assert model_from_write_register(point, [5000], BIG, 10000.0) == 5000.0

    setpoint = BAT.point("BatteryPowerSetpoint")
    signed = pm(
        address=None,
        sign=-1,
        write={
            "address": 20,
            "type": "s32",
            "min": -5000,
            "max": 5000,
            "before": [{"address": 18, "value": 1}, {"address": 19, "value": 802}],
        },
    )
    discharge = prepare_write(signed, setpoint, 2000, BIG, 3)
    # one FC16 request: enable flag, mode, then -2000 (the device's "positive = charge")
    assert discharge.segments == ((18, (1, 802, 0xFFFF, 0xF830)),)
    assert discharge.unit_id == 3 and discharge.written == 2000.0
    assert model_from_write_register(signed, [0xFFFF, 0xF830], BIG) == 2000.0
    single = pm(
        address=None,
        write={
            "address": 5,
            "type": "u32",
            "use_single_register_write": True,
            "before": [{"address": 1, "value": 7}],
        },
    )
    prepared = prepare_write(
        single, spec_for(AssetKind.HEATING_ROD).point("PowerSetpoint"), 70000, BIG, 1
    )
    assert prepared.single_register
    assert prepared.segments == ((1, (7,)), (5, (1,)), (6, (4464,)))


def test_before_steps_and_setpoint_that_form_one_range_go_in_one_request():
    setpoint = BAT.point("BatteryPowerSetpoint")
    sma_like = pm(
        address=None,
        write={
            "address": 40149,
            "type": "s32",
            "before": [{"address": 40151, "type": "u32", "value": 802}],
        },
    )
    prepared = prepare_write(sma_like, setpoint, -1500, BIG, 3)
    assert prepared.segments == ((40149, (*encode(-1500, WireType.S32), 0, 802)),)
    apart = pm(address=None, write={"address": 10, "before": [{"address": 20, "value": 1}]})
    assert prepare_write(apart, setpoint, 5, BIG, 1).segments == ((20, (1,)), (10, (5,)))


def test_coil_setpoint_without_before_steps():
    contact = pm(
        address=None, function="coil", type="bool", write={"address": 3, "function": "coil"}
    )
    sg = spec_for(AssetKind.HEAT_PUMP).point("SgReadyState")
    prepared = prepare_write(contact, sg, True, BIG, 1)
    assert (prepared.segments, prepared.coil) == ((), (3, True))


def test_once_steps_only_in_the_first_write_and_still_in_one_request():
    setpoint = BAT.point("BatteryPowerSetpoint")
    sma_like = pm(
        address=None,
        write={
            "address": 40149,
            "type": "s32",
            "before": [{"address": 40151, "type": "u32", "value": 1079, "once": True}],
        },
    )
    prepared = prepare_write(sma_like, setpoint, -1500, BIG, 3)
    assert prepared.has_once_steps
    assert prepared.segments == ((40149, (*encode(-1500, WireType.S32), 0, 1079)),)
    assert prepared.repeat_segments == ((40149, tuple(encode(-1500, WireType.S32))),)
    mixed = pm(
        address=None,
        write={
            "address": 12,
            "before": [{"address": 10, "value": 4, "once": True}, {"address": 11, "value": 1}],
        },
    )
    both = prepare_write(mixed, setpoint, 7, BIG, 1)
    assert both.segments == ((10, (4, 1, 7)),) and both.repeat_segments == ((11, (1, 7)),)
    plain = prepare_write(
        pm(address=None, write={"address": 12, "before": [{"address": 11, "value": 1}]}),
        setpoint,
        7,
        BIG,
        1,
    )
    assert not plain.has_once_steps and plain.segments == plain.repeat_segments


def test_parts_are_added_and_a_missing_part_counts_as_zero():
    dc = PV.point("DcPower")
    trackers = pm(type="s32", add_addresses=(30,), scale=0.5)
    a, b, na = encode(3000, WireType.S32), encode(-200, WireType.S32), [0x8000, 0]
    summed = decode_parts(trackers, dc, [a, b], BIG)
    assert (summed.value, summed.quality) == (1400.0, Quality.GOOD)  # (3000 - 200) * 0.5
    assert decode_parts(trackers, dc, [na, b], BIG).value == -100.0
    assert decode_parts(trackers, dc, [a, na], BIG).quality is Quality.GOOD
    missing = decode_parts(trackers, dc, [na, na], BIG)
    assert (missing.value, missing.quality) == (None, Quality.BAD_OUT_OF_RANGE)
    failed = pm(type="u16", add_addresses=(1,), sentinels={0xFFFE: "sensor_failure"})
    broken = decode_parts(failed, dc, [[0xFFFE], [0xFFFF]], BIG)
    assert (broken.value, broken.quality) == (None, Quality.BAD_SENSOR_FAILURE)
    assert decode_parts(trackers, dc, [a], BIG).value == 1500.0


def _register_samples(count: int) -> list[list[int]]:
    """Edge words (zero, sign bits, all ones, NaN and infinity patterns) and random ones."""
    import random

    rng = random.Random(20261207)
    edges = [0x0000, 0x0001, 0x7FFF, 0x8000, 0xFFFF, 0x7FC0, 0x7F80, 0xFF80, 0x3F80]
    samples = [[edge] * count for edge in edges]
    samples += [[edges[i % len(edges)], *([0] * (count - 1))] for i in range(len(edges))]
    samples += [[rng.randrange(0x10000) for _ in range(count)] for _ in range(400)]
    return samples


@pytest.mark.parametrize("wire", ["u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64"])
@pytest.mark.parametrize(
    ("point", "transport"),
    [
        ("ActivePower", BIG),  # Double
        ("ActivePower", LITTLE),
        ("ActivePower", NO_SENTINELS),
        ("OperatingState", BIG),  # Int32 (rounded)
    ],
)
@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"scale": 0.1},
        {"scale": 1000, "sign": -1},
        {"scale": 0.01, "offset": -40.0},
        {"sentinels": {0x7FFF: "sensor_failure", -1: "out_of_range"}},
    ],
)
def test_the_compiled_decoder_gives_what_decode_point_gives(
    wire: str, point: str, transport: Transport, extra: dict[str, object]
) -> None:
    """The fast path the Modbus driver uses for plain numeric points (``compile_decoder``) has
    the same result as the generic pipeline for every register value: value, NaN, the type's
    "not available" pattern, the point's sentinels, scale/offset/sign, rounding."""
    spec = PV.point(point)
    mapping = pm(type=wire, **extra)
    fast = compile_decoder(mapping, spec, transport)
    assert fast is not None
    for words in _register_samples(WireType(wire).word_count):
        want = decode_point(mapping, spec, words, transport)
        got = fast(words)
        assert got.quality is want.quality, (words, got, want)
        if isinstance(want.value, float) and math.isnan(want.value):
            assert isinstance(got.value, float) and math.isnan(got.value)
        else:
            assert got.value == want.value and type(got.value) is type(want.value), (words, got)


def test_the_compiled_decoder_leaves_what_it_does_not_cover_to_decode_point() -> None:
    spec = PV.point("ActivePower")
    assert compile_decoder(pm(type="u16", bit=3), spec, BIG) is None
    assert compile_decoder(pm(type="u16"), spec, SWAPPED) is None
    assert compile_decoder(pm(type="string", length=4), spec, BIG) is None
    assert compile_decoder(pm(type="u16", enum={1: 2}), PV.point("OperatingState"), BIG) is None
    fast = compile_decoder(pm(type="u32"), spec, BIG)
    assert fast is not None
    with pytest.raises(CodecError, match="needs 2 registers, got 1"):
        fast([1])


def test_infinite_or_overflowing_values_are_bad_not_an_error() -> None:
    """A float register holding infinity, or a value that scaling carries past the float range,
    is BadOutOfRange with no value (before: an OverflowError escaped into the poll loop for an
    integer point, and a Double point published infinity as Good)."""
    state = PV.point("OperatingState")  # Int32
    power = PV.point("ActivePower")  # Double
    inf_f32 = [0x7F80, 0x0000]
    for spec in (state, power):
        decoded = decode_point(pm(type="f32"), spec, inf_f32, BIG)
        assert (decoded.value, decoded.quality) == (None, Quality.BAD_OUT_OF_RANGE)
    huge_f64 = [0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF]  # the largest finite double
    decoded = decode_point(pm(type="f64", scale=1000), power, huge_f64, BIG)
    assert (decoded.value, decoded.quality) == (None, Quality.BAD_OUT_OF_RANGE)
