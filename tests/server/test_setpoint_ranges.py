"""Setpoint ranges that mean something: a battery's EURange is its rating, and "no limit" on the
site's limits is a Null value (Good), not 1e9."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ampacity.assets import Quality, Reading
from ampacity.assets.kinds import MAX_POWER_W, SPECS, AssetKind
from ampacity.server.setpoints import RatingFromDevice, SetpointTarget
from asyncua import ua
from conftest import DemoUnderTest

in_demo = pytest.mark.asyncio(loop_scope="module")


async def _write(demo: DemoUnderTest, key: str, variant: ua.Variant) -> int:
    node = demo.client.get_node(ua.NodeId(key, demo.ns))
    try:
        await node.write_value(ua.DataValue(variant))
    except ua.UaStatusCodeError as exc:
        return int(exc.code)
    return ua.StatusCodes.Good


@in_demo
async def test_battery_setpoint_range_is_the_batterys_rating(running_demo: DemoUnderTest) -> None:
    battery = running_demo.demo.sims.physics.battery
    node = running_demo.client.get_node(
        ua.NodeId("battery.BatteryPowerSetpoint.EURange", running_demo.ns)
    )
    eu_range = await node.read_value()
    assert (eu_range.Low, eu_range.High) == (-battery.max_charge_w, battery.max_discharge_w)
    assert battery.max_discharge_w < 1e6
    code = await _write(
        running_demo, "battery.BatteryPowerSetpoint", ua.Variant(1.0e7, ua.VariantType.Double)
    )
    assert code == ua.StatusCodes.BadOutOfRange  # was accepted and silently clamped


@in_demo
async def test_no_feed_in_limit_is_null_and_can_be_set_and_lifted(
    running_demo: DemoUnderTest,
) -> None:
    node = running_demo.client.get_node(ua.NodeId("demo.FeedInLimit", running_demo.ns))
    data = await node.read_data_value()
    assert data.StatusCode.is_good()
    assert data.Value.Value is None  # was 1,000,000,000
    key = "demo.FeedInLimit"
    assert await _write(running_demo, key, ua.Variant(5000.0, ua.VariantType.Double)) == 0
    assert await node.read_value() == 5000.0
    assert await _write(running_demo, key, ua.Variant(None, ua.VariantType.Null)) == 0
    data = await node.read_data_value()
    assert data.StatusCode.is_good() and data.Value.Value is None
    import_limit = running_demo.client.get_node(ua.NodeId("demo.GridImportLimit", running_demo.ns))
    assert await import_limit.read_value() is None


@in_demo
async def test_null_is_refused_for_a_device_setpoint(running_demo: DemoUnderTest) -> None:
    code = await _write(
        running_demo, "battery.BatteryPowerSetpoint", ua.Variant(None, ua.VariantType.Null)
    )
    assert code == ua.StatusCodes.BadTypeMismatch


# --- the range from the device's reported maxima (no profile or configuration rating) ---------


def _target() -> SetpointTarget:
    point = SPECS[AssetKind.BATTERY].point("BatteryPowerSetpoint")
    return SetpointTarget("bat", point.name, point, (-MAX_POWER_W, MAX_POWER_W), None)


def _reading(point: str, value: object, quality: Quality = Quality.GOOD) -> Reading:
    return Reading("bat", point, value, quality, datetime(2026, 1, 1, tzinfo=UTC))


def test_unknown_sides_follow_the_largest_reported_maxima() -> None:
    target = _target()
    written: list[tuple[str, tuple[float, float]]] = []
    rating = RatingFromDevice(
        {"bat.BatteryPowerSetpoint": target}, lambda k, r: written.append((k, r)), MAX_POWER_W
    )
    rating(_reading("MaxChargePower", 3000.0))
    assert target.value_range == (-3000.0, MAX_POWER_W)
    rating(_reading("MaxDischargePower", 4600.0))
    rating(_reading("MaxDischargePower", 2000.0))  # derated now: the rating stays
    rating(_reading("MaxChargePower", 5000.0, Quality.UNCERTAIN_LAST_USABLE))  # not Good
    rating(_reading("MaxChargePower", True))
    rating(_reading("StateOfCharge", 50.0))
    assert target.value_range == (-3000.0, 4600.0)
    assert written == [
        ("bat.BatteryPowerSetpoint", (-3000.0, MAX_POWER_W)),
        ("bat.BatteryPowerSetpoint", (-3000.0, 4600.0)),
    ]


def test_a_known_rating_is_not_replaced_by_reported_maxima() -> None:
    target = _target()
    target.value_range = (-2500.0, 2500.0)  # from the profile or the configuration
    written: list[object] = []
    rating = RatingFromDevice(
        {"bat.BatteryPowerSetpoint": target}, lambda k, r: written.append(r), MAX_POWER_W
    )
    rating(_reading("MaxChargePower", 9000.0))
    rating(_reading("MaxDischargePower", 9000.0))
    assert target.value_range == (-2500.0, 2500.0)
    assert written == []
