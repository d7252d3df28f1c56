"""``python -m ampacity.sim``: run the demo devices until interrupted and print their endpoints."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .clock import Clock, demo_clock
from .demo import DemoSite
from .load import site_zone
from .site import SiteConfig


async def _serve(clock: Clock, host: str) -> None:
    async with DemoSite(clock=clock, host=host) as site:
        for pid, ep in site.endpoints.items():
            where = (
                f"{ep.host}:{ep.port}"
                if ep.transport == "tcp"
                else (f"{ep.device} {ep.baudrate} {ep.bytesize}{ep.parity}{ep.stopbits}")
            )
            units = ",".join(str(u) for u in ep.unit_ids)
            print(f"{pid:28} {ep.transport}  {where:28} unit {units}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ampacity.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (1 = real time)"
    )
    args = parser.parse_args()
    # AMPACITY_DEMO_START (HH:MM local, or an ISO datetime) sets where the simulated day starts
    clock: Clock = demo_clock(site_zone(SiteConfig().time_zone), args.speed)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(clock, args.host))


if __name__ == "__main__":
    main()
