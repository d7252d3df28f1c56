"""A Hardy Barth eCB1 controller on loopback: its HTTP/JSON API (``/api/v1``) with a vehicle that
follows the current.

``EcbSimulator()`` serves one charge control and one meter: ``GET /api/v1/chargecontrols/1``,
``GET /api/v1/meters/1``, ``POST .../mode`` (``mode=manual`` or ``eco``), ``POST
.../mode/manual/ampere`` (``manualmodeamp``, whole A, only in manual mode), ``POST .../start`` and
``.../stop``. While a vehicle is plugged in (``plugged``) and charging is started with at least
6 A, the vehicle draws the current on ``phases`` phases; the meter reports power (W), currents (A),
voltages (V) and energy (kWh) under their OBIS codes, as the controller does.

``captured`` replaces the charge control's answer with a body a real controller sent. ``fault``:
``garbage`` (not JSON), ``error`` (HTTP 500), ``silent`` (answers after 30 s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

NOMINAL_VOLTAGE_V = 230.0


class EcbSimulator:
    """The controller's behaviour and its HTTP server.

    Attributes:
        plugged: a vehicle is plugged in.
        phases: phases the vehicle charges on.
        car_max_a: the vehicle's own limit, A.
        mode: ``manual`` or ``eco`` (the controller ignores external currents in ``eco``).
        started: charging enabled (``start``), else disabled (``stop``: stateid 17).
        amps: the manual-mode current, A.
        fault: ``None``, ``garbage``, ``error`` or ``silent``.
        posts: every POST as ``(path, form)``.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.plugged = False
        self.phases = 3
        self.car_max_a = 16.0
        self.mode = "eco"
        self.started = True
        self.amps = 16.0
        self.energy_kwh = 1234.5
        self.fault: str | None = None
        self.captured: dict[str, Any] | None = None
        self.posts: list[tuple[str, dict[str, str]]] = []
        self._last_t: float | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- behaviour -----------------------------------------------------------------------------

    def current_a(self) -> float:
        if not (self.plugged and self.started and self.amps >= 6):
            return 0.0
        return min(self.amps, self.car_max_a)

    def power_w(self) -> float:
        return self.current_a() * NOMINAL_VOLTAGE_V * self.phases

    def _advance(self) -> None:
        now = self.clock()
        if self._last_t is not None and now > self._last_t:
            self.energy_kwh += self.power_w() * (now - self._last_t) / 3_600_000.0
        self._last_t = now

    def chargecontrol(self) -> dict[str, Any]:
        if self.captured is not None:
            return self.captured
        charging = self.current_a() > 0
        stateid = 17 if not self.started else (5 if charging else (3 if self.plugged else 1))
        state = "C" if charging else ("B" if self.plugged else "A")
        return {
            "chargecontrol": {
                "id": 1,
                "name": "sim",
                "mode": self.mode,
                "modeid": 3 if self.mode == "manual" else 1,
                "state": state,
                "stateid": stateid,
                "connected": self.plugged,
                "manualmodeamp": self.amps,
                "evminamp": 6.0,
                "supplylinemaxamp": 32.0,
                "vendor": "Phoenix Contact",
                "type": "EVCC Basic (RS485)",
                "version": "V1.3.1",
            },
            "protocol-version": "1.4",
        }

    def meter(self) -> dict[str, Any]:
        self._advance()
        amps = self.current_a()
        on = [amps if n < self.phases else 0.0 for n in range(3)]
        return {
            "meter": {
                "id": 1,
                "name": "eCB1 meter",
                "data": {
                    "1-0:1.4.0": round(self.power_w(), 1),
                    "1-0:1.8.0": round(self.energy_kwh, 3),
                    "1-0:31.4.0": on[0],
                    "1-0:51.4.0": on[1],
                    "1-0:71.4.0": on[2],
                    "1-0:32.4.0": NOMINAL_VOLTAGE_V,
                    "1-0:52.4.0": NOMINAL_VOLTAGE_V,
                    "1-0:72.4.0": NOMINAL_VOLTAGE_V,
                },
            }
        }

    # --- server --------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/api/v1/chargecontrols/1", self._get_cc)
        app.router.add_get("/api/v1/meters/1", self._get_meter)
        app.router.add_post("/api/v1/chargecontrols/1/mode", self._post_mode)
        app.router.add_post("/api/v1/chargecontrols/1/mode/manual/ampere", self._post_amps)
        app.router.add_post("/api/v1/chargecontrols/1/start", self._post_start)
        app.router.add_post("/api/v1/chargecontrols/1/stop", self._post_stop)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://{host}:{bound}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _faulty(self) -> web.StreamResponse | None:
        if self.fault == "silent":
            await asyncio.sleep(30)
        if self.fault == "garbage":
            return web.Response(text="<html>eCB1</html>")
        if self.fault == "error":
            return web.Response(status=500)
        return None

    async def _get_cc(self, request: web.Request) -> web.StreamResponse:
        return await self._faulty() or web.json_response(self.chargecontrol())

    async def _get_meter(self, request: web.Request) -> web.StreamResponse:
        return await self._faulty() or web.json_response(self.meter())

    async def _form(self, request: web.Request) -> dict[str, str]:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.posts.append((request.path, form))
        self._advance()
        return form

    async def _post_mode(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        if form.get("mode") not in ("manual", "eco"):
            return web.Response(status=400)
        self.mode = form["mode"]
        return web.json_response({"result": "ok"})

    async def _post_amps(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        try:
            amps = float(form["manualmodeamp"])
        except (KeyError, ValueError):
            return web.Response(status=400)
        if self.mode != "manual":
            return web.Response(status=409)
        self.amps = amps
        return web.json_response({"result": "ok"})

    async def _post_start(self, request: web.Request) -> web.StreamResponse:
        await self._form(request)
        self.started = True
        return web.json_response({"result": "ok"})

    async def _post_stop(self, request: web.Request) -> web.StreamResponse:
        await self._form(request)
        self.started = False
        return web.json_response({"result": "ok"})
