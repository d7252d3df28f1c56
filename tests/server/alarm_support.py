"""A small secured site with one simulated Modbus meter, for the alarm tests (asyncua and
node-opcua clients over TCP): users of every role, the meter can be disconnected."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ampacity.drivers.registry import all_profiles
from ampacity.server.app import RunningSite, start_site
from ampacity.server.config import SiteConfig
from ampacity.server.factory import build_context, build_drivers
from ampacity.server.security import Role
from ampacity.server.security.users import UserRecord, UsersFile, hash_password
from ampacity.sim.server import SimServer, SimulatedDevice
from asyncua import Client, ua
from security_support import PASSWORDS, SecureSite, client_certs, connect, free_port

PROFILE = "janitza_umg604"
SITE_ID = "alarmsite"
METER = "meter"


class MeterModel:
    """A grid meter reading 1 kW import."""

    def read(self, asset: str, point: str) -> Any:
        if point.startswith("Identification"):
            return None
        return {"ActivePower": 1000.0, "Frequency": 50.0}.get(point, 230.0)

    def write(self, asset: str, point: str, value: Any) -> None:
        pass


@dataclass
class AlarmSite:
    secure: SecureSite
    sim: SimServer
    device: SimulatedDevice

    @property
    def site(self) -> RunningSite:
        return self.secure.site

    def node(self, key: str) -> ua.NodeId:
        return self.secure.node(key)

    async def client(self, user: str) -> Client:
        return await connect(self.secure, user=user, timeout=10)


@contextlib.asynccontextmanager
async def alarm_site(
    data_dir: Path, storage: dict[str, Any] | None = None, **alarms: Any
) -> AsyncIterator[AlarmSite]:
    device = SimulatedDevice(all_profiles()[PROFILE], MeterModel(), unit_id=1)
    sim = SimServer([device])
    host, port = await sim.start_tcp("127.0.0.1", 0)
    config = SiteConfig.model_validate(
        {
            "site": {"id": SITE_ID, "name": "Alarm test site"},
            "server": {"host": "127.0.0.1", "port": free_port(), "data_dir": str(data_dir)},
            "devices": [
                {
                    "id": METER,
                    "profile": PROFILE,
                    "host": host,
                    "port": port,
                    "unit_id": 1,
                    "poll_s": 0.2,
                    "role": "grid",
                }
            ],
            "storage": {"fsync": False, **(storage or {})},
            "alarms": alarms,
        }
    )
    security = config.security
    trusted = security.pki_path(data_dir) / "trusted"
    trusted.mkdir(parents=True, exist_ok=True)
    (trusted / "client.der").write_bytes(client_certs().trusted.der)
    users = {
        name: UserRecord(name, Role(name), hash_password(password))
        for name, password in PASSWORDS.items()
    }
    UsersFile(security.users_path(data_dir)).save(users)
    context = build_context(config)
    drivers = await build_drivers(config, context)
    site = await start_site(config, drivers)
    try:
        yield AlarmSite(SecureSite(site, data_dir, site.site_ns), sim, device)
    finally:
        await site.stop()
        await context.aclose()
        await sim.stop()


SELECT = (
    "EventId",
    "EventType",
    "SourceNode",
    "Message",
    "Severity",
    "ConditionName",
    "Retain",
    "ActiveState/Id",
    "AckedState/Id",
    "EnabledState/Id",
    "Comment",
    "ClientUserId",
)
"""The fields the asyncua client selects (plus ConditionId, the condition's NodeId)."""


def event_filter(
    of_type: int = ua.ObjectIds.ConditionType, min_severity: int = 0
) -> ua.EventFilter:
    """Select ``SELECT`` and ConditionId; where: of ``of_type`` (or a RefreshStart/End) and
    Severity >= ``min_severity``."""
    flt = ua.EventFilter()
    for path in SELECT:
        op = ua.SimpleAttributeOperand()
        op.TypeDefinitionId = ua.NodeId(ua.ObjectIds.BaseEventType)
        op.BrowsePath = [ua.QualifiedName(part, 0) for part in path.split("/")]
        op.AttributeId = ua.AttributeIds.Value
        flt.SelectClauses.append(op)
    cid = ua.SimpleAttributeOperand()
    cid.TypeDefinitionId = ua.NodeId(ua.ObjectIds.ConditionType)
    cid.AttributeId = ua.AttributeIds.NodeId
    flt.SelectClauses.append(cid)
    severity = ua.SimpleAttributeOperand()
    severity.TypeDefinitionId = ua.NodeId(ua.ObjectIds.BaseEventType)
    severity.BrowsePath = [ua.QualifiedName("Severity", 0)]
    severity.AttributeId = ua.AttributeIds.Value
    elements = [
        ua.ContentFilterElement(
            FilterOperator=ua.FilterOperator.And,
            FilterOperands=[ua.ElementOperand(Index=1), ua.ElementOperand(Index=2)],
        ),
        ua.ContentFilterElement(
            FilterOperator=ua.FilterOperator.OfType,
            FilterOperands=[ua.LiteralOperand(Value=ua.Variant(ua.NodeId(of_type)))],
        ),
        ua.ContentFilterElement(
            FilterOperator=ua.FilterOperator.GreaterThanOrEqual,
            FilterOperands=[
                severity,
                ua.LiteralOperand(Value=ua.Variant(min_severity, ua.VariantType.UInt16)),
            ],
        ),
    ]
    flt.WhereClause = ua.ContentFilter(Elements=elements)
    return flt


@dataclass
class Events:
    """An asyncua subscription handler keeping every event's fields by name."""

    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def event_notification(self, event: Any) -> None:
        fields = event.get_event_props_as_fields_dict()
        self.received.append({k: v.Value for k, v in fields.items()})
        self.arrived.set()

    async def wait_for(
        self, check: Callable[[dict[str, Any]], bool], timeout_s: float = 15.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while True:
            for event in self.received[seen:]:
                if check(event):
                    return event
            seen = len(self.received)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such event; received {self.received}")
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def settled(site: AlarmSite) -> None:
    """The meter answers and no condition is retained (a loaded machine can make a poll time
    out before a test silences the meter: that alarm is acknowledged here, not by the test)."""
    alarms = site.site.alarms
    assert alarms is not None

    async def quiet() -> bool:
        connected = site.site.writer.slot(f"{METER}.Health.Connected").value is True
        if connected and alarms.retained:
            await alarms.acknowledge_all("test-setup")
        return connected and not alarms.retained

    await until(quiet, 30)


PG_HOST, PG_PORT, PG_DB = "127.0.0.1", 5432, "test"
"""The local PostgreSQL server of the storage tests (trust authentication)."""


def pg_user() -> str | None:
    """A user that can connect to the local PostgreSQL, or ``None``."""
    import psycopg

    for user in ("postgres", "root"):
        try:
            with psycopg.connect(
                host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, connect_timeout=3
            ):
                return user
        except Exception:
            continue
    return None


def drop_schema(user: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, dbname=PG_DB, user=user, autocommit=True
    ) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
