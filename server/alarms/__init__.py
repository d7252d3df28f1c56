"""OPC UA Alarms & Conditions (Part 9) for the site: see docs/alarms.md.

``state`` (the state machine) and ``limits`` (hysteresis and delay) are pure; ``sources`` decides
which conditions a site has and when each is active; ``binding`` shows them through asyncua
(condition nodes, events, methods, ConditionRefresh); ``install_alarms`` wires it all into a site.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ampacity.drivers.base import AssetInfo
from asyncua import Server

from .binding import AlarmService, EventRecorder
from .config import AlarmsConfig, KindSettings
from .sources import AlarmSources, AssetRef, ConditionDef, Signal
from .state import ConditionError, ConditionState, Transition

__all__ = [
    "AlarmService",
    "AlarmSources",
    "AlarmsConfig",
    "AssetRef",
    "ConditionDef",
    "ConditionError",
    "ConditionState",
    "KindSettings",
    "Signal",
    "Transition",
    "install_alarms",
]


async def install_alarms(
    server: Server,
    site_ns: int,
    config: AlarmsConfig,
    site_id: str,
    devices: Sequence[tuple[str, Sequence[AssetInfo]]],
    *,
    control: bool,
    historian: EventRecorder | None,
    health: Callable[[], Any] | None,
) -> AlarmService:
    """Plan the site's conditions, add their nodes and bind the methods.

    Args:
        devices: ``(device_id, assets)`` of every driver.
        control: the site runs a control (its conditions exist).
        historian: records every transition (``None``: not recorded).
        health: the historian's ``health`` (``None``: no historian conditions).

    Returns:
        the service: add ``on_reading`` as a writer listener and run ``run()`` as a task.
    """
    refs = [
        AssetRef(
            info.asset_id,
            info.kind,
            tuple(info.points),
            device_id if len(infos) > 1 else info.asset_id,
        )
        for device_id, infos in devices
        for info in infos
    ]
    sources = AlarmSources(config, site_id, refs, control=control, historian=health is not None)
    sources.plan()
    service = AlarmService(server, site_ns, sources, config, historian)
    service.health = health
    await service.install()
    return service
