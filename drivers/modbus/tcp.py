"""Modbus TCP: one connection and one request queue per ``host:port``."""

from __future__ import annotations

import asyncio

from ampacity.drivers.runtime.backoff import SYSTEM_CLOCK, Backoff, Clock
from ampacity.drivers.runtime.errors import describe
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient

from .link import QueuedLink, client_kwargs


class TcpLink(QueuedLink):
    """A Modbus TCP connection shared by every driver of the same endpoint.

    Devices that accept a single client (SolarEdge, many gateways) and several unit ids behind one
    gateway both need this: get it from ``LinkRegistry.tcp`` rather than constructing it, so all
    users of ``host:port`` share the one instance.

    Args:
        host: IP address or host name.
        port: TCP port.
        timeout_s: answer and connect timeout per request, seconds.
        backoff: reconnect pacing.
        clock: time source.
        request_gap_s: least pause between two requests, seconds.
        connect_delay_s: wait after a connect before the first request, seconds.
    """

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        timeout_s: float = 1.0,
        backoff: Backoff | None = None,
        clock: Clock = SYSTEM_CLOCK,
        request_gap_s: float = 0.0,
        connect_delay_s: float = 0.0,
    ) -> None:
        super().__init__(
            f"{host}:{port}",
            timeout_s=timeout_s,
            backoff=backoff,
            clock=clock,
            inter_frame_gap_s=request_gap_s,
            connect_delay_s=connect_delay_s,
        )
        self.host = host
        self.port = port

    async def _connect_problem(self) -> str:
        try:
            async with asyncio.timeout(self.timeout_s):
                _, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as exc:
            return describe(exc)
        writer.close()
        return "the connection was accepted, then closed"

    def _new_client(self) -> ModbusBaseClient:
        return AsyncModbusTcpClient(
            self.host,
            port=self.port,
            name=f"ampacity {self.endpoint}",
            **client_kwargs(self.timeout_s),
        )
