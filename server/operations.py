"""What runs beside a started site for its operators: systemd readiness and watchdog, the
clock watch, the metrics endpoint (``ampacity run`` enters it after ``start_site``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .app import RunningSite, StartupError
from .clock import ClockWatch
from .metrics import parse_listen, registry_for, serve_metrics
from .systemd import ServiceManager

log = logging.getLogger(__name__)


@dataclass
class Operations:
    clock: ClockWatch
    service: ServiceManager
    metrics_address: tuple[str, int] | None = None


@contextlib.asynccontextmanager
async def operations(
    site: RunningSite,
    metrics_listen: str | None = None,
    clock: ClockWatch | None = None,
    service: ServiceManager | None = None,
) -> AsyncIterator[Operations]:
    """Start the clock watch and the metrics endpoint, then tell systemd READY=1.

    Raises:
        StartupError: the metrics address is invalid or taken.
    """
    clock = clock or ClockWatch(site.config.site.id, site.writer)
    service = service or ServiceManager()
    ops = Operations(clock, service)
    task = asyncio.create_task(clock.run_forever(), name="clock-watch")
    try:
        async with contextlib.AsyncExitStack() as stack:
            if metrics_listen:
                try:
                    host, port = parse_listen(metrics_listen)
                    ops.metrics_address = await stack.enter_async_context(
                        serve_metrics(registry_for(site, clock), host, port)
                    )
                except (ValueError, OSError) as exc:
                    reason = getattr(exc, "strerror", None) or exc
                    raise StartupError(
                        f"metrics: cannot listen on {metrics_listen}: {reason}"
                    ) from None
            service.ready(f"serving {site.endpoint}")
            try:
                yield ops
            finally:
                await service.stopping()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
