"""End-to-end latency of external limits in the running demo: from the signal to the device.

    python bench/external_latency.py [--flips 20]

Starts the demo site (simulated devices on loopback, the real server and control) and measures
the time from

* a ripple-control contact change on the control box's Modbus simulator (stage 3, 30 %) to the
  SMA inverter simulator receiving the lower active-power limit (driver poll of the contacts,
  the control cycle triggered on arrival, the Modbus write to the inverter);
* a marketer's ``SetActivePowerLimit`` call by an OPC UA client to the same write (the call's
  round trip included).

The control cycle is set to 5 s, so every figure below 5 s shows that the limit acted on
arrival, not at the next cycle. Prints median, p95 and max in ms over ``--flips`` changes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ampacity.server.app import start_site
from ampacity.server.demo import demo_site
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.security import Role, SecurityConfig
from asyncua import Client, ua


async def _wait(predicate: object, timeout_s: float = 10.0) -> float:
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - started > timeout_s:
            raise TimeoutError("no change within 10 s")
        await asyncio.sleep(0.002)
    return time.monotonic() - started


def _summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"{name:<38} n={len(ms):3d}  median {statistics.median(ms):6.1f} ms"
        f"  p95 {p95:6.1f} ms  max {ms[-1]:6.1f} ms"
    )


async def main(flips: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with demo_site(data_dir=Path(tmp), port=48_400 + random.randrange(500)) as demo:
            assert demo.config.control is not None
            control = demo.config.control.model_copy(update={"cycle_s": 5.0})
            # loopback only: anonymous clients are admins here, so they may call the marketer
            security = SecurityConfig(
                allow_none=True, anonymous=Role.ADMIN, anonymous_on_none=Role.ADMIN
            )
            config = demo.config.model_copy(update={"control": control, "security": security})
            context = build_context(config)
            site = await start_site(config, await build_drivers(config, context))
            physics = demo.sims.physics
            assert physics is not None
            client = Client(config.server.endpoint, timeout=10)
            await client.connect()
            try:
                ns = await client.get_namespace_index(config.site.namespace_uri)
                nominal = physics.config.inverter_nominal_w  # the SMA's, W
                await asyncio.sleep(3.0)  # first readings, first cycle
                ripple_times: list[float] = []
                for _ in range(flips):
                    await asyncio.sleep(random.uniform(0.3, 0.6))
                    demo.ripple.set_contact(3, True)
                    ripple_times.append(
                        await _wait(lambda: physics.pv_limit_w <= 0.3 * nominal + 1.0)
                    )
                    demo.ripple.set_contact(3, False)
                    await _wait(lambda: physics.pv_limit_w > 0.3 * nominal + 1.0)
                marketer = client.get_node(ua.NodeId("demo.Marketer", ns))
                method = ua.NodeId("demo.Marketer.SetActivePowerLimit", ns)
                call_times: list[float] = []
                for _ in range(flips):
                    await asyncio.sleep(random.uniform(0.3, 0.6))
                    until = datetime.now(UTC) + timedelta(seconds=60)
                    started = time.monotonic()
                    await marketer.call_method(
                        method,
                        ua.Variant(20.0, ua.VariantType.Double),
                        ua.Variant("%", ua.VariantType.String),
                        ua.Variant(until, ua.VariantType.DateTime),
                    )
                    await _wait(lambda: physics.pv_limit_w <= 0.2 * nominal + 1.0)
                    call_times.append(time.monotonic() - started)
                    await marketer.call_method(ua.NodeId("demo.Marketer.ClearSetpoints", ns))
                    await _wait(lambda: physics.pv_limit_w > 0.2 * nominal + 1.0)
                print(_summary("contact -> inverter limit written", ripple_times))
                print(_summary("marketer call -> inverter limit written", call_times))
            finally:
                await client.disconnect()
                await site.stop()
                await context.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flips", type=int, default=20)
    asyncio.run(main(parser.parse_args().flips))
