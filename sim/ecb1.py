"""A Hardy Barth eCB1 controller's meter API on loopback (``/api/v1/meters/<id>``, ``/api/v1/all``).

The answer has the documented shape: ``{"meter": {"id", "name", "data": {OBIS: number}}}`` with
import and export as separate non-negative values (``1-0:1.4.0`` / ``1-0:2.4.0`` in W,
``1-0:1.8.0`` / ``1-0:2.8.0`` in kWh) and per-phase currents in A. The site power is set by the
caller (W, + = import); the energies count up with it on the simulator's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web


class Ecb1Simulator:
    """Serves one meter of an eCB1 on 127.0.0.1.

    Attributes:
        power_w: the metered power, W (+ = import, - = export), split evenly over three phases.
        voltage_v: phase voltage used for the currents, V.
        mode: ``ok``; ``garbage`` (a body that is not JSON); ``error`` (HTTP 500); ``silent``
            (answers after 30 s, so the client times out); ``empty`` (a meter without data).
        meter_id: the id the meter answers on (others: HTTP 404).
    """

    def __init__(
        self,
        *,
        meter_id: int = 1,
        power_w: float = 0.0,
        import_kwh: float = 1234.5,
        export_kwh: float = 321.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.meter_id = meter_id
        self.power_w = power_w
        self.voltage_v = 230.0
        self.mode = "ok"
        self.import_kwh = import_kwh
        self.export_kwh = export_kwh
        self.requests = 0
        self._clock = clock
        self._last = clock()
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.url = ""

    def _advance(self) -> None:
        now = self._clock()
        hours = (now - self._last) / 3600.0
        self._last = now
        if self.power_w >= 0:
            self.import_kwh += self.power_w * hours / 1000.0
        else:
            self.export_kwh += -self.power_w * hours / 1000.0

    def meter_body(self) -> dict[str, Any]:
        """The ``/meters/<id>`` answer for the current state."""
        self._advance()
        plus = max(self.power_w, 0.0)
        minus = max(-self.power_w, 0.0)
        phase_current = abs(self.power_w) / 3 / self.voltage_v
        data: dict[str, float] = {
            "1-0:1.4.0": round(plus, 1),
            "1-0:2.4.0": round(minus, 1),
            "1-0:1.8.0": round(self.import_kwh, 3),
            "1-0:2.8.0": round(self.export_kwh, 3),
        }
        for p_plus, p_minus, current in ((21, 22, 31), (41, 42, 51), (61, 62, 71)):
            data[f"1-0:{p_plus}.4.0"] = round(plus / 3, 1)
            data[f"1-0:{p_minus}.4.0"] = round(minus / 3, 1)
            data[f"1-0:{current}.4.0"] = round(phase_current, 2)
        if self.mode == "empty":
            data = {}
        return {"meter": {"id": self.meter_id, "name": "EM", "data": data}}

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/meters/{id}", self._meter)
        app.router.add_get("/api/v1/all", self._all)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        self._stopping.set()  # a "silent" answer still pending ends now
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _fault(self) -> web.StreamResponse | None:
        self.requests += 1
        if self.mode == "silent":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 30)
        if self.mode == "garbage":
            return web.Response(text="<html>eCB1 booting</html>")
        if self.mode == "error":
            return web.Response(status=500)
        return None

    async def _meter(self, request: web.Request) -> web.StreamResponse:
        if (fault := await self._fault()) is not None:
            return fault
        if request.match_info["id"] != str(self.meter_id):
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response(self.meter_body())

    async def _all(self, request: web.Request) -> web.StreamResponse:
        if (fault := await self._fault()) is not None:
            return fault
        meter = self.meter_body()["meter"]
        return web.json_response(
            {"protocol-version": "1.0", "meters": [meter], "chargecontrols": [], "rfid": []}
        )
