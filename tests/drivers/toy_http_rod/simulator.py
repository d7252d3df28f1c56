"""The toy rod's simulator: a local HTTP server with the device's API and its fallback timer."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web


class ToyRodSimulator:
    """Serves ``/status`` and ``/limit`` on 127.0.0.1.

    Attributes:
        mode: ``ok``; ``garbage`` (a body that is not JSON); ``error`` (HTTP 500); ``silent``
            (answers after 30 s, so the client times out).
        fallback_s: the limit drops to 0 W when not renewed within this time.
    """

    def __init__(self, fallback_s: float = 2.0) -> None:
        self.mode = "ok"
        self.fallback_s = fallback_s
        self.limit_w = 0.0
        self.limit_set_at = 0.0
        self.writes: list[float] = []
        self.temperature_c = 55.5
        self.write_delay_s = 0.0
        """How long ``POST /limit`` takes to answer (a slow device)."""
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def power_w(self) -> float:
        if time.monotonic() - self.limit_set_at > self.fallback_s:
            self.limit_w = 0.0
        return self.limit_w

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/status", self._status)
        app.router.add_post("/limit", self._limit)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _status(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "silent":
            await asyncio.sleep(30)
        if self.mode == "garbage":
            return web.Response(text="<html>oops</html>")
        if self.mode == "error":
            return web.Response(status=500)
        return web.json_response(
            {
                "power_w": self.power_w,
                "temperature_c": self.temperature_c,
                "serial": "TOY-0042",
                "limit_w": self.limit_w,
            }
        )

    async def _limit(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await asyncio.sleep(self.write_delay_s)
        self.limit_w = float(body["limit_w"])
        self.limit_set_at = time.monotonic()
        self.writes.append(self.limit_w)
        return web.json_response({"limit_w": self.limit_w})
