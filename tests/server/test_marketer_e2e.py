"""The direct marketer's methods and § 14a dimming on the demo devices, through real clients with
users and roles over an encrypted endpoint.

The site's control cycle is 5 s here, so a device that follows a call within 1 s shows that
external demands act on arrival, not at the next cycle.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from ampacity.control.dimming import DimmedConsumer, DimmingConfig
from ampacity.server.app import start_site
from ampacity.server.demo import demo_site
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.security import Role, SecurityConfig
from ampacity.server.security.users import UserRecord, UsersFile, hash_password
from asyncua import Client, ua
from conftest import assert_demo_started, demo_start_of
from demo_support import vehicle_plugged_in
from security_support import PASSWORDS, SecureSite, client_certs, connect, free_port

pytestmark = pytest.mark.asyncio(loop_scope="module")

CYCLE_S = 5.0


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    data_dir: Path = tmp_path_factory.mktemp("marketer-site")
    security = SecurityConfig()
    trusted = security.pki_path(data_dir) / "trusted"
    trusted.mkdir(parents=True)
    cert = client_certs().trusted.cert
    (trusted / cert.name).write_bytes(cert.read_bytes())
    UsersFile(security.users_path(data_dir)).save(
        {name: UserRecord(name, Role(name), hash_password(pw)) for name, pw in PASSWORDS.items()}
    )
    with demo_start_of(request.node) as start:  # --demo-starts: this module's demo starts then
        async with demo_site(data_dir=data_dir, port=free_port()) as demo:
            assert_demo_started(demo, start)
            assert demo.config.control is not None
            dimming = DimmingConfig(
                consumers=(
                    DimmedConsumer(id="heidelberg", kind="charge_point"),
                    DimmedConsumer(id="battery", kind="battery"),
                )
            )
            control = demo.config.control.model_copy(
                update={"cycle_s": CYCLE_S, "dimming": dimming}
            )
            config = demo.config.model_copy(update={"security": security, "control": control})
            context = build_context(config)
            drivers = await build_drivers(config, context)
            running = await start_site(config, drivers)
            try:
                yield SecureSite(running, data_dir, running.site_ns), demo
            finally:
                await running.stop()
                await context.aclose()


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> float:
    """Poll until ``check`` holds; returns the seconds it took."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not reached within {timeout_s} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def later(seconds: float) -> ua.Variant:
    return ua.Variant(datetime.now(UTC) + timedelta(seconds=seconds), ua.VariantType.DateTime)


async def call(client: Client, ns: int, method: str, *args: ua.Variant) -> ua.CallMethodResult:
    """The raw CallMethodResult (status and per-argument results)."""
    parent = method.rsplit(".", 1)[0]
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId(parent, ns)
    request.MethodId = ua.NodeId(method, ns)
    request.InputArguments = list(args)
    (result,) = await client.uaclient.call([request])
    return result


async def value(client: Client, ns: int, key: str) -> Any:
    return await client.get_node(ua.NodeId(key, ns)).read_value()


async def good_value(client: Client, ns: int, key: str) -> Any:
    """The value once the device has been read (the site may have just started)."""
    node = client.get_node(ua.NodeId(key, ns))

    async def good() -> bool:
        data = await node.read_data_value(raise_on_bad_status=False)
        return bool(data.StatusCode.is_good())

    await until(good)
    return await node.read_value()


async def test_only_marketers_and_admins_may_call_the_marketer_methods(site: Any) -> None:
    secure, _ = site
    for user, allowed in (
        ("marketer", True),
        ("admin", True),
        ("operator", False),
        ("viewer", False),
    ):
        client = await connect(secure, user=user)
        try:
            result = await call(client, secure.ns, "demo.Marketer.ClearSetpoints")
            expected = ua.StatusCodes.Good if allowed else ua.StatusCodes.BadUserAccessDenied
            assert result.StatusCode.value == expected, user
        finally:
            await client.disconnect()


async def test_a_power_limit_reaches_the_inverters_at_once_and_lapses_at_expiry(
    site: Any,
) -> None:
    secure, demo = site
    ns = secure.ns
    client = await connect(secure, user="marketer")
    physics = demo.sims.physics
    try:
        nominal = float(await good_value(client, ns, "pv-sma.NominalPower"))
        fronius = float(await good_value(client, ns, "pv-fronius.NominalPower"))
        result = await call(
            client,
            ns,
            "demo.Marketer.SetActivePowerLimit",
            ua.Variant(40.0, ua.VariantType.Double),
            ua.Variant("%", ua.VariantType.String),
            later(4.0),
        )
        assert result.StatusCode.is_good()
        limit_w = result.OutputArguments[0].Value
        assert limit_w == pytest.approx(0.4 * (nominal + fronius))
        sma_share = limit_w * nominal / (nominal + fronius)

        async def sma_limited() -> bool:
            return bool(physics.pv_limit_w <= sma_share + 1.0)

        took = await until(sma_limited, timeout_s=CYCLE_S)
        assert took < 1.0  # on arrival, not at the next 5 s cycle
        decision = "demo.Control.Setpoints.pv-sma.ActivePowerLimit"
        assert await value(client, ns, f"{decision}.Owner") in ("marketer", "feed-in-limit")
        demands = json.loads(await value(client, ns, "demo.Marketer.ActiveDemands"))
        assert {d["resource"] for d in demands} == {
            "pv-sma.ActivePowerLimit",
            "pv-fronius.ActivePowerLimit",
        }
        assert await value(client, ns, "demo.Marketer.LastCall") is not None

        async def lapsed() -> bool:
            return json.loads(await value(client, ns, "demo.Marketer.ActiveDemands")) == []

        await until(lapsed, timeout_s=4.0 + 2 * CYCLE_S)
        # local control again: the 70 % rule of the demo, no longer the marketer's 40 %
        why = [await value(client, ns, f"{decision}.{n}") for n in ("Owner", "Reason", "Value")]
        assert why[0] != "marketer", why
    finally:
        await client.disconnect()


async def test_bad_arguments_are_refused_one_by_one_and_nothing_is_applied(site: Any) -> None:
    secure, _ = site
    ns = secure.ns
    client = await connect(secure, user="marketer")
    good = ua.StatusCodes.Good
    invalid, out_of_range = ua.StatusCodes.BadInvalidArgument, ua.StatusCodes.BadOutOfRange
    past = ua.Variant(datetime.now(UTC) - timedelta(minutes=1), ua.VariantType.DateTime)

    def args(limit: Any, unit: str, until: ua.Variant) -> tuple[ua.Variant, ...]:
        kind = ua.VariantType.Double if isinstance(limit, float) else ua.VariantType.String
        return (ua.Variant(limit, kind), ua.Variant(unit, ua.VariantType.String), until)

    cases = [
        (args(50.0, "kW", later(60)), [good, invalid, good]),
        (args(150.0, "%", later(60)), [out_of_range, good, good]),
        (args(-1.0, "W", past), [out_of_range, good, out_of_range]),
        (args("lots", "W", later(60)), [invalid, good, good]),
    ]
    try:
        for arguments, expected in cases:
            result = await call(client, ns, "demo.Marketer.SetActivePowerLimit", *arguments)
            assert result.StatusCode.value == invalid
            assert [r.value for r in result.InputArgumentResults] == expected
        result = await call(
            client,
            ns,
            "demo.Marketer.SetBatterySetpoint",
            ua.Variant(1.0e6, ua.VariantType.Double),
            later(60),
        )
        assert [r.value for r in result.InputArgumentResults] == [out_of_range, good]
        assert json.loads(await value(client, ns, "demo.Marketer.ActiveDemands")) == []
    finally:
        await client.disconnect()


async def test_a_battery_setpoint_holds_until_cleared(site: Any) -> None:
    secure, demo = site
    ns = secure.ns
    client = await connect(secure, user="marketer")
    battery = demo.sims.physics.battery
    try:
        result = await call(
            client,
            ns,
            "demo.Marketer.SetBatterySetpoint",
            ua.Variant(-2000.0, ua.VariantType.Double),
            later(600),
        )
        assert result.StatusCode.is_good()

        async def charging() -> bool:
            return bool(battery.setpoint_w == -2000.0)

        assert await until(charging) < 1.0
        owner = "demo.Control.Setpoints.battery.BatteryPowerSetpoint.Owner"
        assert await value(client, ns, owner) == "marketer"
        assert (await call(client, ns, "demo.Marketer.ClearSetpoints")).StatusCode.is_good()

        async def local() -> bool:
            return bool(await value(client, ns, owner) != "marketer")

        await until(local, timeout_s=2.0)
    finally:
        await client.disconnect()


async def test_paragraph_14a_dimming_caps_the_consumers_and_is_audited(site: Any) -> None:
    secure, demo = site
    ns = secure.ns
    client = await connect(secure, user="operator")
    heidelberg = demo.sims.physics.chargers["heidelberg"]
    # §14a caps a consumer that draws: a vehicle charging on the Heidelberg, at any time of day
    with vehicle_plugged_in(demo.sims.physics, "heidelberg"):
        try:

            async def charging() -> bool:  # the control has seen the vehicle, lets it charge
                decision = "demo.Control.Setpoints.heidelberg.ChargeCurrentLimit.Value"
                data = await client.get_node(ua.NodeId(decision, ns)).read_data_value(
                    raise_on_bad_status=False
                )
                amps = data.Value.Value if data.StatusCode.is_good() else None
                return amps is not None and amps >= 6.0 and heidelberg.limit_a >= 6.0

            await until(charging, timeout_s=3 * CYCLE_S)
            result = await call(
                client,
                ns,
                "demo.GridOperator.SetDimming",
                ua.Variant(True, ua.VariantType.Boolean),
                later(600),
            )
            assert result.StatusCode.is_good()
            cap_a = 4200.0 / (230.0 * 3)  # 6.09 A: 4.2 kW on three phases, never less

            async def dimmed() -> bool:
                return bool(heidelberg.limit_a <= cap_a + 0.1)

            await until(dimmed, timeout_s=2.0)
            assert heidelberg.limit_a >= 6.0
            setpoints = "demo.Control.Setpoints"
            owner = await value(client, ns, f"{setpoints}.heidelberg.ChargeCurrentLimit.Owner")
            limited_by = await value(
                client, ns, f"{setpoints}.heidelberg.ChargeCurrentLimit.LimitedBy"
            )
            assert "grid-operator-14a" in (owner, limited_by)
            assert await value(client, ns, "demo.GridOperator.DimmingActive") is True
            end = await call(
                client,
                ns,
                "demo.GridOperator.SetDimming",
                ua.Variant(False, ua.VariantType.Boolean),
                later(600),
            )
            assert end.StatusCode.is_good()
            assert await value(client, ns, "demo.GridOperator.DimmingActive") is False
            historian = secure.site.historian
            assert await historian.flush()
            events, _ = await historian.read_events(
                None,
                datetime.now(UTC) - timedelta(minutes=5),
                datetime.now(UTC) + timedelta(seconds=1),
            )
            texts = [e.message for e in events]
            assert any("§14a dimming on" in t for t in texts)
            assert any("§14a dimming off" in t for t in texts)
        finally:
            await client.disconnect()


# --- argument count and types (issue 17) --------------------------------------------------------


async def test_wrong_argument_counts_are_refused_without_a_traceback(
    site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secure, _ = site
    ns = secure.ns
    client = await connect(secure, user="admin")
    limit = ua.Variant(50.0, ua.VariantType.Double)
    unit = ua.Variant("%", ua.VariantType.String)
    active = ua.Variant(True, ua.VariantType.Boolean)
    extra = ua.Variant(1, ua.VariantType.Int32)
    missing, too_many = ua.StatusCodes.BadArgumentsMissing, ua.StatusCodes.BadTooManyArguments
    cases = [
        ("demo.Marketer.SetActivePowerLimit", (limit, unit), missing),
        ("demo.Marketer.SetActivePowerLimit", (limit, unit, later(60), extra), too_many),
        ("demo.Marketer.SetActivePowerLimit", (), missing),
        ("demo.Marketer.SetBatterySetpoint", (limit,), missing),
        ("demo.Marketer.SetBatterySetpoint", (limit, later(60), extra), too_many),
        ("demo.GridOperator.SetDimming", (active,), missing),
        ("demo.GridOperator.SetDimming", (active, later(60), extra), too_many),
        ("demo.Marketer.ClearSetpoints", (extra,), too_many),
    ]
    try:
        with caplog.at_level("WARNING"):
            for method, arguments, expected in cases:
                result = await call(client, ns, method, *arguments)
                assert result.StatusCode.value == expected, (method, len(arguments))
        assert json.loads(await value(client, ns, "demo.Marketer.ActiveDemands")) == []
        assert await value(client, ns, "demo.GridOperator.DimmingActive") is False
    finally:
        await client.disconnect()
    errors = [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
    assert errors == []


async def test_an_integer_limit_is_read_as_a_double(site: Any) -> None:
    """README: a Double argument accepts any integer variant (what a Python client sends for
    ``60``); a Boolean or a String does not."""
    secure, _ = site
    ns = secure.ns
    client = await connect(secure, user="marketer")
    percent = ua.Variant("%", ua.VariantType.String)
    try:
        as_double = await call(
            client,
            ns,
            "demo.Marketer.SetActivePowerLimit",
            ua.Variant(60.0, ua.VariantType.Double),
            percent,
            later(60),
        )
        for kind in (ua.VariantType.Int32, ua.VariantType.Int64, ua.VariantType.UInt16):
            as_int = await call(
                client,
                ns,
                "demo.Marketer.SetActivePowerLimit",
                ua.Variant(60, kind),
                percent,
                later(60),
            )
            assert as_int.StatusCode.is_good(), kind
            assert as_int.OutputArguments[0].Value == as_double.OutputArguments[0].Value > 0
        refused = await call(
            client,
            ns,
            "demo.Marketer.SetActivePowerLimit",
            ua.Variant(True, ua.VariantType.Boolean),
            percent,
            later(60),
        )
        assert refused.InputArgumentResults[0].value == ua.StatusCodes.BadInvalidArgument
    finally:
        await call(client, ns, "demo.Marketer.ClearSetpoints")
        await client.disconnect()


async def test_ending_dimming_checks_valid_until_too(site: Any) -> None:
    secure, _ = site
    ns = secure.ns
    client = await connect(secure, user="operator")
    past = ua.Variant(datetime.now(UTC) - timedelta(minutes=1), ua.VariantType.DateTime)
    off = ua.Variant(False, ua.VariantType.Boolean)
    try:
        for until_arg, expected in (
            (past, ua.StatusCodes.BadOutOfRange),
            (later(30 * 24 * 3600), ua.StatusCodes.BadOutOfRange),
            (ua.Variant("tomorrow", ua.VariantType.String), ua.StatusCodes.BadInvalidArgument),
        ):
            result = await call(client, ns, "demo.GridOperator.SetDimming", off, until_arg)
            assert result.StatusCode.value == ua.StatusCodes.BadInvalidArgument
            assert [r.value for r in result.InputArgumentResults] == [ua.StatusCodes.Good, expected]
        ended = await call(client, ns, "demo.GridOperator.SetDimming", off, later(60))
        assert ended.StatusCode.is_good()
    finally:
        await client.disconnect()
