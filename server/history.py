"""OPC UA Historical Access served from the historian (OPC UA Part 11 and Part 13).

``enable_history`` installs ``HistorianHistoryManager`` as the server's history manager (asyncua's
own only knows ReadRaw and ReadEvent) and marks the given variables historized. HistoryRead then
serves, for string NodeIds ``ns=<site>;s=<asset-id>.<Point>``:

* ReadRaw (``ReadRawModifiedDetails``, not modified): bounds, ``NumValuesPerNode``,
  continuation points (stateless: they carry the position of the next value);
* ReadProcessed: Average, TimeAverage, Minimum, Maximum, Range, Count, Start, End, Delta,
  DeltaBounds, Interpolative (``ampacity.storage.aggregates`` has the semantics);
* ReadAtTime (simple bounds);
* ReadEvent on the Server object (every event) or on a registered event source (its events and
  those of the nodes below it): audit of writes and method calls, device and system events.

The request's AggregateConfiguration is not evaluated: the server's own (published in each
variable's ``HA Configuration``) applies. Event filters: the select clauses are answered by field
name; of the where clause, ``OfType`` and ``InList`` on ``EventType`` and comparisons of
``Severity`` with a literal are evaluated. Alarm transitions (``alarm`` events) answer as
AlarmConditionType events with ConditionName, ConditionId, Retain, Comment and the ``Id`` of
their two-state variables.

``install_audit`` records an audit event for every client write and method call.
The historian's lifecycle stays with the caller: stopping the OPC UA server does not stop it.
"""

from __future__ import annotations

import json
import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ampacity.assets import DataType
from ampacity.storage import (
    Aggregate,
    EventKind,
    EventRecord,
    Historian,
    HistorianUnavailable,
    HistValue,
    SeriesInfo,
    from_us,
    to_us,
)
from asyncua import Node, Server, ua
from asyncua.server.history import HistoryManager, HistoryStorageInterface

from .history_encoding import encode_history_data, value_size
from .nodestore import add_references, write_unwatched

log = logging.getLogger(__name__)

AGGREGATES: dict[int, Aggregate] = {
    ua.ObjectIds.AggregateFunction_Average: Aggregate.AVERAGE,
    ua.ObjectIds.AggregateFunction_TimeAverage: Aggregate.TIME_AVERAGE,
    ua.ObjectIds.AggregateFunction_Minimum: Aggregate.MINIMUM,
    ua.ObjectIds.AggregateFunction_Maximum: Aggregate.MAXIMUM,
    ua.ObjectIds.AggregateFunction_Range: Aggregate.RANGE,
    ua.ObjectIds.AggregateFunction_Count: Aggregate.COUNT,
    ua.ObjectIds.AggregateFunction_Start: Aggregate.START,
    ua.ObjectIds.AggregateFunction_End: Aggregate.END,
    ua.ObjectIds.AggregateFunction_Delta: Aggregate.DELTA,
    ua.ObjectIds.AggregateFunction_Interpolative: Aggregate.INTERPOLATIVE,
    ua.ObjectIds.AggregateFunction_DeltaBounds: Aggregate.DELTA_BOUNDS,
}
"""OPC UA aggregate function NodeIds (ns=0) → storage aggregates."""

EVENT_TYPES: dict[str, int] = {
    EventKind.AUDIT_WRITE.value: ua.ObjectIds.AuditWriteUpdateEventType,
    EventKind.AUDIT_CALL.value: ua.ObjectIds.AuditUpdateMethodEventType,
    EventKind.DEVICE_CONNECTED.value: ua.ObjectIds.SystemEventType,
    EventKind.DEVICE_LOST.value: ua.ObjectIds.DeviceFailureEventType,
    EventKind.CONFIG_LOADED.value: ua.ObjectIds.SystemEventType,
    EventKind.SYSTEM.value: ua.ObjectIds.SystemEventType,
    EventKind.ALARM.value: ua.ObjectIds.AlarmConditionType,
}

VARIANT_TYPES: dict[str, ua.VariantType] = {
    DataType.DOUBLE.value: ua.VariantType.Double,
    DataType.BOOLEAN.value: ua.VariantType.Boolean,
    DataType.INT32.value: ua.VariantType.Int32,
    DataType.UINT32.value: ua.VariantType.UInt32,
    DataType.STRING.value: ua.VariantType.String,
    DataType.DATETIME.value: ua.VariantType.DateTime,
}

_UNSET_BEFORE = datetime(1601, 1, 2, tzinfo=UTC)
"""A DateTime at the OPC UA minimum means "not specified"."""
_CP_MAGIC = b"AMH1"
RESPONSE_MARGIN_BYTES = 1024
"""Room in a HistoryRead response, besides the values, for its header and diagnostics."""
NODE_MARGIN_BYTES = 128
"""Room per node read: its StatusCode, continuation point and HistoryData header."""
_LARGEST_VALUE = value_size(DataType.DOUBLE.value, ua.TimestampsToReturn.Both) or 30
"""Bytes of the largest fixed-size value in a HistoryData (a Double with both timestamps)."""


def _given(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return None if moment < _UNSET_BEFORE else moment


# --- continuation points ------------------------------------------------------------------------


def _pack_cp(kind: str, key: str, state: list[Any]) -> bytes:
    """A stateless continuation point: what to resume, for whom."""
    body = json.dumps([kind, key, state], separators=(",", ":")).encode()
    return _CP_MAGIC + struct.pack("<I", len(body)) + body


def _unpack_cp(raw: bytes, kind: str, key: str) -> list[Any]:
    """The state of a continuation point issued for ``kind`` and ``key``.

    Raises:
        ValueError: not one of ours, or for another node / request kind.
    """
    if not raw.startswith(_CP_MAGIC):
        raise ValueError("foreign continuation point")
    (length,) = struct.unpack_from("<I", raw, 4)
    found_kind, found_key, state = json.loads(raw[8 : 8 + length])
    if found_kind != kind or found_key != key:
        raise ValueError("continuation point of another request")
    return list(state)


# --- values -------------------------------------------------------------------------------------


def _variant(value: float | str | None, data_type: str | None) -> ua.Variant:
    if value is None:
        return ua.Variant(None, ua.VariantType.Null)
    vtype = VARIANT_TYPES.get(data_type or "", ua.VariantType.Double)
    if isinstance(value, str):
        if vtype is ua.VariantType.DateTime:
            return ua.Variant(datetime.fromisoformat(value), vtype)
        return ua.Variant(value, ua.VariantType.String)
    if vtype is ua.VariantType.Boolean:
        return ua.Variant(bool(value), vtype)
    if vtype in (ua.VariantType.Int32, ua.VariantType.UInt32):
        return ua.Variant(int(value), vtype)
    return ua.Variant(float(value), ua.VariantType.Double)


def to_data_value(
    value: HistValue, data_type: str | None, timestamps: ua.TimestampsToReturn
) -> ua.DataValue:
    """A stored or computed value as a DataValue (``data_type``: the point's ``DataType``
    value; ``None`` for computed doubles)."""
    moment = from_us(value.t_us)
    dv = ua.DataValue(
        Value=_variant(value.value, data_type),
        StatusCode=ua.StatusCode(value.status),
    )
    if timestamps in (ua.TimestampsToReturn.Source, ua.TimestampsToReturn.Both):
        dv.SourceTimestamp = moment
    if timestamps in (ua.TimestampsToReturn.Server, ua.TimestampsToReturn.Both):
        dv.ServerTimestamp = moment
    return dv


def _json_variant(raw: str | None) -> ua.Variant:
    if raw is None:
        return ua.Variant(None, ua.VariantType.Null)
    value = json.loads(raw)
    if isinstance(value, bool):
        return ua.Variant(value, ua.VariantType.Boolean)
    if isinstance(value, int | float):
        return ua.Variant(float(value), ua.VariantType.Double)
    if isinstance(value, list):
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return ua.Variant([float(v) for v in value], ua.VariantType.Double)
        return ua.Variant(
            [v if isinstance(v, str) else json.dumps(v) for v in value], ua.VariantType.String
        )
    return ua.Variant(str(value), ua.VariantType.String)


class EventFields:
    """An event record's fields by BrowseName, as the select clauses of an EventFilter ask."""

    def __init__(self, record: EventRecord, site_ns: int, server_uri: str) -> None:
        self.record = record
        self.site_ns = site_ns
        self.server_uri = server_uri

    def value(self, name: str) -> ua.Variant:
        r = self.record
        moment = from_us(r.t_us)
        status = r.status if r.status is not None else 0
        fields: dict[str, ua.Variant] = {
            "EventId": ua.Variant(bytes.fromhex(r.eid), ua.VariantType.ByteString),
            "EventType": ua.Variant(
                ua.NodeId(EVENT_TYPES.get(r.kind, ua.ObjectIds.BaseEventType)),
                ua.VariantType.NodeId,
            ),
            "SourceNode": ua.Variant(ua.NodeId(r.source, self.site_ns), ua.VariantType.NodeId),
            "SourceName": ua.Variant(r.source, ua.VariantType.String),
            "Time": ua.Variant(moment, ua.VariantType.DateTime),
            "ReceiveTime": ua.Variant(moment, ua.VariantType.DateTime),
            "Message": ua.Variant(ua.LocalizedText(r.message), ua.VariantType.LocalizedText),
            "Severity": ua.Variant(r.severity, ua.VariantType.UInt16),
            "ActionTimeStamp": ua.Variant(moment, ua.VariantType.DateTime),
            "Status": ua.Variant(status < 0x40000000, ua.VariantType.Boolean),
            "StatusCodeId": ua.Variant(ua.StatusCode(status), ua.VariantType.StatusCode),
            "ServerId": ua.Variant(self.server_uri, ua.VariantType.String),
            "ClientUserId": ua.Variant(r.user_name or "", ua.VariantType.String),
            "ClientAuditEntryId": ua.Variant(r.eid, ua.VariantType.String),
            "AttributeId": ua.Variant(ua.AttributeIds.Value, ua.VariantType.UInt32),
            "IndexRange": ua.Variant("", ua.VariantType.String),
            "OldValue": _json_variant(r.old_value),
            "NewValue": _json_variant(r.new_value),
            "MethodId": ua.Variant(ua.NodeId(r.source, self.site_ns), ua.VariantType.NodeId),
            "InputArguments": _json_variant(r.new_value),
        }
        if r.kind == EventKind.ALARM.value:
            fields.update(_alarm_fields(r, self.site_ns))
        return fields.get(name, ua.Variant(None, ua.VariantType.Null))

    def to_field_list(self, select: list[ua.SimpleAttributeOperand]) -> ua.HistoryEventFieldList:
        out = ua.HistoryEventFieldList()
        for clause in select:
            if clause.BrowsePath:
                name = "/".join(q.Name for q in clause.BrowsePath)
            elif clause.AttributeId == ua.AttributeIds.NodeId:
                name = "EventType"
            else:
                name = ""
            out.EventFields.append(self.value(name))
        return out


def _alarm_fields(r: EventRecord, site_ns: int) -> dict[str, ua.Variant]:
    """The condition fields of a stored alarm transition (``extra`` of an ``alarm`` event)."""
    extra: Any = r.extra
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            extra = {}
    if not isinstance(extra, dict):
        extra = {}
    out = {
        "ConditionName": ua.Variant(str(extra.get("condition_name", "")), ua.VariantType.String),
        "NodeId": ua.Variant(
            ua.NodeId(str(extra.get("condition", r.source)), site_ns), ua.VariantType.NodeId
        ),
        "Retain": ua.Variant(bool(extra.get("retain")), ua.VariantType.Boolean),
        "Comment": ua.Variant(
            ua.LocalizedText(str(extra.get("comment") or "")), ua.VariantType.LocalizedText
        ),
        "Quality": ua.Variant(ua.StatusCode(r.status or 0), ua.VariantType.StatusCode),
    }
    for state, flag in (
        ("EnabledState", "enabled"),
        ("ActiveState", "active"),
        ("AckedState", "acked"),
        ("ConfirmedState", "confirmed"),
    ):
        out[f"{state}/Id"] = ua.Variant(bool(extra.get(flag)), ua.VariantType.Boolean)
    return out


SUPERTYPES: dict[int, tuple[int, ...]] = {
    ua.ObjectIds.AlarmConditionType: (
        ua.ObjectIds.AcknowledgeableConditionType,
        ua.ObjectIds.ConditionType,
    ),
    ua.ObjectIds.AuditWriteUpdateEventType: (
        ua.ObjectIds.AuditUpdateEventType,
        ua.ObjectIds.AuditEventType,
    ),
    ua.ObjectIds.AuditUpdateMethodEventType: (ua.ObjectIds.AuditEventType,),
    ua.ObjectIds.DeviceFailureEventType: (ua.ObjectIds.SystemEventType,),
    ua.ObjectIds.SystemEventType: (),
}
"""The supertypes (below BaseEventType) of the event types the historian reports."""


def _type_chain(kind: str) -> set[ua.NodeId]:
    """The event type of ``kind`` and its supertypes, for ``OfType`` filters."""
    own = EVENT_TYPES.get(kind, ua.ObjectIds.BaseEventType)
    ids = {own, *SUPERTYPES.get(own, ()), ua.ObjectIds.BaseEventType}
    return {ua.NodeId(i) for i in ids}


_SEVERITY_OPERATORS = frozenset(
    {
        ua.FilterOperator.GreaterThanOrEqual,
        ua.FilterOperator.GreaterThan,
        ua.FilterOperator.LessThanOrEqual,
        ua.FilterOperator.LessThan,
        ua.FilterOperator.Equals,
    }
)


@dataclass
class TypeFilter:
    """The event-type restriction of an EventFilter's WhereClause.

    Understood: ``OfType`` elements (the event's type or a supertype is named) and ``InList`` on
    the ``EventType`` field (the event's own type is listed; asyncua's
    ``read_event_history(evtypes=...)`` sends the types with all their subtypes). Other
    operators are not evaluated.
    """

    of_type: set[ua.NodeId] | None = None
    in_list: set[ua.NodeId] | None = None
    severity: tuple[int, int] | None = None
    """``Severity`` compared with a literal (``>=``, ``>``, ``<=``, ``<``, ``==``): the range
    of severities admitted (evaluated by the database)."""

    @classmethod
    def of(cls, event_filter: Any) -> TypeFilter:
        found = cls()
        where = getattr(event_filter, "WhereClause", None)
        for element in getattr(where, "Elements", None) or []:
            operands = list(element.FilterOperands)
            literals = {
                v
                for v in (getattr(getattr(op, "Value", None), "Value", None) for op in operands)
                if isinstance(v, ua.NodeId)
            }
            if element.FilterOperator == ua.FilterOperator.OfType:
                found.of_type = (found.of_type or set()) | literals
            elif element.FilterOperator == ua.FilterOperator.InList and operands:
                path = getattr(operands[0], "BrowsePath", None) or []
                if path and path[-1].Name == "EventType":
                    found.in_list = (found.in_list or set()) | literals
            elif element.FilterOperator in _SEVERITY_OPERATORS and len(operands) == 2:
                found._severity(element.FilterOperator, operands)
        return found

    def _severity(self, operator: ua.FilterOperator, operands: list[Any]) -> None:
        path = getattr(operands[0], "BrowsePath", None) or []
        value = getattr(getattr(operands[1], "Value", None), "Value", None)
        if not path or path[-1].Name != "Severity" or not isinstance(value, int | float):
            return
        low, high = self.severity or (0, 1000)
        bound = int(value)
        if operator == ua.FilterOperator.GreaterThanOrEqual:
            low = max(low, bound)
        elif operator == ua.FilterOperator.GreaterThan:
            low = max(low, bound + 1)
        elif operator == ua.FilterOperator.LessThanOrEqual:
            high = min(high, bound)
        elif operator == ua.FilterOperator.LessThan:
            high = min(high, bound - 1)
        else:
            low, high = max(low, bound), min(high, bound)
        self.severity = (low, high)

    def admits(self, kind: str) -> bool:
        own = ua.NodeId(EVENT_TYPES.get(kind, ua.ObjectIds.BaseEventType))
        if self.in_list is not None and own not in self.in_list:
            return False
        return self.of_type is None or bool(self.of_type & _type_chain(kind))


def _result(code: int) -> ua.HistoryReadResult:
    result = ua.HistoryReadResult()
    result.StatusCode = ua.StatusCode(code)
    return result


class HistorianStorage(HistoryStorageInterface):  # type: ignore[misc]
    """asyncua's storage interface over the historian (for asyncua's own ReadRaw/ReadEvent
    paths and ``Server.historize_node_data_change``); keys are string NodeId identifiers."""

    def __init__(self, historian: Historian) -> None:
        super().__init__(historian.config.max_values_per_read)
        self.historian = historian

    async def init(self) -> None:
        return None

    async def new_historized_node(self, node_id: Any, period: Any, count: int = 0) -> None:
        return None

    async def save_node_value(self, node_id: Any, datavalue: Any) -> None:
        status = datavalue.StatusCode.value if datavalue.StatusCode is not None else 0
        self.historian.record(
            str(node_id.Identifier),
            datavalue.Value.Value if datavalue.Value is not None else None,
            status,
            datavalue.SourceTimestamp,
            datavalue.ServerTimestamp,
        )

    async def read_node_history(
        self, node_id: Any, start: datetime | None, end: datetime | None, nb_values: int
    ) -> tuple[list[Any], datetime | None]:
        key = str(node_id.Identifier)
        page = await self.historian.read_raw(key, _given(start), _given(end), nb_values or None)
        series = self.historian.series(key)
        dtype = series.info.data_type if series else None
        values = [to_data_value(v, dtype, ua.TimestampsToReturn.Both) for v in page.values]
        return values, from_us(page.next_t) if page.next_t is not None else None

    async def new_historized_event(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def save_event(self, event: Any) -> None:
        return None

    async def read_event_history(self, *args: Any, **kwargs: Any) -> tuple[list[Any], None]:
        return [], None

    async def stop(self) -> None:
        return None  # the historian's owner stops it


class HistorianHistoryManager(HistoryManager):  # type: ignore[misc]
    """HistoryRead for historized variables and event notifiers, from the historian."""

    def __init__(self, server: Server, historian: Historian, site_ns: int) -> None:
        super().__init__(server.iserver)
        self.server = server
        self.historian = historian
        self.site_ns = site_ns
        self.storage = HistorianStorage(historian)
        self.variables: dict[ua.NodeId, str] = {}
        """Historized variable NodeIds → series keys."""
        self.event_sources: dict[ua.NodeId, str | None] = {ua.NodeId(ua.ObjectIds.Server): None}
        """Event notifier NodeIds → source key (its events and those below); ``None``: all."""
        self._info: dict[str, SeriesInfo | None] = {}
        self.server_uri = ""
        self.max_message_size: int | None = None
        """The server's message size limit (bytes); raw pages never exceed it."""

    def raw_page_max(self, data_type: str | None, ttr: ua.TimestampsToReturn, nodes: int) -> int:
        """The most raw values of one node a response holds when ``nodes`` are read at once.

        ``max_values_per_read``, or for fixed-size values (numeric points) as many as fit into
        ``max_bytes_per_read`` (and the server's message size), shared by the nodes, where that
        is more: one day at 1 s (86,400 Doubles, 2.6 MB) then takes 3 responses, not 9. Every
        numeric value counts as a Double with both timestamps, the largest, so no page exceeds
        what ``MaxReturnDataValues`` publishes.
        """
        config = self.historian.config
        if value_size(data_type, ttr) is None:
            return config.max_values_per_read
        size = _LARGEST_VALUE
        budget = config.max_bytes_per_read
        if self.max_message_size:
            budget = min(budget, self.max_message_size)
        nodes = max(1, nodes)
        by_size = (budget - RESPONSE_MARGIN_BYTES - NODE_MARGIN_BYTES * nodes) // nodes // size
        return max(config.max_values_per_read, by_size)

    async def add_variables(self, nodes: Mapping[str, Node]) -> None:
        """Serve history for these variables (keys registered with the historian) and mark
        them historized; unregistered keys are skipped with a warning."""
        infos: dict[Node, SeriesInfo] = {}
        intervals: dict[Node, tuple[float, float]] = {}
        for key, node in nodes.items():
            handle = self.historian.series(key)
            if handle is None:
                log.warning("not historized: %s is not registered with the historian", key)
                continue
            policy = handle.policy
            interval = policy.interval_s if policy.mode.value == "interval" else 0.0
            infos[node] = handle.info
            intervals[node] = (interval, policy.max_gap_s or interval)
            self.variables[node.nodeid] = key
        await mark_historized(self.server, infos, intervals)

    async def _series(self, key: str) -> SeriesInfo | None:
        handle = self.historian.series(key)
        if handle is not None:
            return handle.info
        if key not in self._info:
            self._info[key] = await self.historian.series_info(key)
        return self._info[key]

    async def read_history(self, params: ua.HistoryReadParameters) -> list[ua.HistoryReadResult]:
        details = params.HistoryReadDetails
        results = []
        if isinstance(details, ua.ReadProcessedDetails) and len(details.AggregateType) != len(
            params.NodesToRead
        ):
            return [_result(ua.StatusCodes.BadAggregateListMismatch) for _ in params.NodesToRead]
        for index, rv in enumerate(params.NodesToRead):
            if params.ReleaseContinuationPoints:
                results.append(_result(ua.StatusCodes.Good))
                continue
            try:
                results.append(
                    await self._read_one(
                        details, rv, params.TimestampsToReturn, index, len(params.NodesToRead)
                    )
                )
            except HistorianUnavailable as exc:
                log.warning("HistoryRead: %s", exc)
                results.append(_result(ua.StatusCodes.BadHistoryOperationUnsupported))
            except ValueError as exc:
                log.info("HistoryRead: %s", exc)
                results.append(_result(ua.StatusCodes.BadContinuationPointInvalid))
        return results

    async def _read_one(
        self, details: Any, rv: ua.HistoryReadValueId, ttr: Any, index: int, nodes: int
    ) -> ua.HistoryReadResult:
        if isinstance(details, ua.ReadEventDetails):
            if rv.NodeId not in self.event_sources:
                return _result(ua.StatusCodes.BadHistoryOperationUnsupported)
            return await self._read_events(details, rv, self.event_sources[rv.NodeId])
        key = self.variables.get(rv.NodeId)
        if key is None:
            return _result(ua.StatusCodes.BadHistoryOperationUnsupported)
        if ttr == ua.TimestampsToReturn.Neither:
            return _result(ua.StatusCodes.BadTimestampsToReturnInvalid)
        if isinstance(details, ua.ReadRawModifiedDetails):
            if details.IsReadModified:
                return _result(ua.StatusCodes.BadHistoryOperationUnsupported)
            return await self._read_raw(details, rv, key, ttr, nodes)
        if isinstance(details, ua.ReadProcessedDetails):
            return await self._read_processed(details, rv, key, ttr, details.AggregateType[index])
        if isinstance(details, ua.ReadAtTimeDetails):
            return await self._read_at_time(details, key, ttr)
        return _result(ua.StatusCodes.BadHistoryOperationUnsupported)

    async def _read_raw(
        self,
        details: ua.ReadRawModifiedDetails,
        rv: ua.HistoryReadValueId,
        key: str,
        ttr: Any,
        nodes: int,
    ) -> ua.HistoryReadResult:
        start, end = _given(details.StartTime), _given(details.EndTime)
        limit = details.NumValuesPerNode or None
        if start is None and end is None:
            return _result(ua.StatusCodes.BadInvalidTimestampArgument)
        if (start is None or end is None) and not limit:
            return _result(ua.StatusCodes.BadInvalidTimestampArgument)
        resume = None
        if rv.ContinuationPoint:
            (resume,) = _unpack_cp(rv.ContinuationPoint, "raw", key)
        info = await self._series(key)
        dtype = info.data_type if info else None
        page_max = self.raw_page_max(dtype, ttr, nodes)
        page = await self.historian.read_raw_rows(
            key, start, end, limit, bool(details.ReturnBounds), resume, page_max
        )
        result = ua.HistoryReadResult()
        encoded = encode_history_data(page.rows, dtype, ttr)  # the same bytes, one pass
        if encoded is not None:
            result.HistoryData = encoded
        else:
            result.HistoryData = ua.HistoryData()
            result.HistoryData.DataValues = [
                to_data_value(v, dtype, ttr) for v in page.page().values
            ]
        if page.next_t is not None:
            result.ContinuationPoint = _pack_cp("raw", key, [page.next_t])
            result.StatusCode = ua.StatusCode(ua.StatusCodes.Good)
        elif not page.rows:
            result.StatusCode = ua.StatusCode(ua.StatusCodes.GoodNoData)
        return result

    async def _read_processed(
        self,
        details: ua.ReadProcessedDetails,
        rv: ua.HistoryReadValueId,
        key: str,
        ttr: Any,
        aggregate_id: ua.NodeId,
    ) -> ua.HistoryReadResult:
        aggregate = (
            AGGREGATES.get(aggregate_id.Identifier) if aggregate_id.NamespaceIndex == 0 else None
        )
        if aggregate is None:
            return _result(ua.StatusCodes.BadAggregateNotSupported)
        start, end = _given(details.StartTime), _given(details.EndTime)
        if start is None or end is None or start == end:
            return _result(ua.StatusCodes.BadInvalidTimestampArgument)
        reverse = start > end
        lo, hi = (end, start) if reverse else (start, end)
        interval = timedelta(milliseconds=details.ProcessingInterval) or (hi - lo)
        if rv.ContinuationPoint:
            (lo_us,) = _unpack_cp(rv.ContinuationPoint, "processed", key)
            lo = from_us(lo_us)
        max_intervals = self.historian.config.max_values_per_read
        page_end = min(hi, lo + interval * max_intervals)
        values = await self.historian.read_processed(key, lo, page_end, interval, aggregate)
        info = await self._series(key)
        raw_type = aggregate in (Aggregate.START, Aggregate.END, Aggregate.INTERPOLATIVE)
        dtype = info.data_type if info and raw_type else None
        if aggregate is Aggregate.COUNT:
            dtype = DataType.UINT32.value
        result = ua.HistoryReadResult()
        result.HistoryData = ua.HistoryData()
        out = [to_data_value(v, dtype, ttr) for v in values]
        result.HistoryData.DataValues = list(reversed(out)) if reverse else out
        if page_end < hi:
            result.ContinuationPoint = _pack_cp("processed", key, [to_us(page_end)])
        return result

    async def _read_at_time(
        self, details: ua.ReadAtTimeDetails, key: str, ttr: Any
    ) -> ua.HistoryReadResult:
        times = [_given(t) for t in details.ReqTimes]
        if not times or any(t is None for t in times):
            return _result(ua.StatusCodes.BadInvalidTimestampArgument)
        values = await self.historian.read_at_time(key, [t for t in times if t is not None])
        info = await self._series(key)
        result = ua.HistoryReadResult()
        result.HistoryData = ua.HistoryData()
        dtype = info.data_type if info else None
        result.HistoryData.DataValues = [to_data_value(v, dtype, ttr) for v in values]
        return result

    async def _read_events(
        self, details: ua.ReadEventDetails, rv: ua.HistoryReadValueId, source: str | None
    ) -> ua.HistoryReadResult:
        start, end = _given(details.StartTime), _given(details.EndTime)
        if start is None and end is None:
            return _result(ua.StatusCodes.BadInvalidTimestampArgument)
        limit = details.NumValuesPerNode or None
        cp_key = source or ""
        resume = None
        if rv.ContinuationPoint:
            t_us, eid = _unpack_cp(rv.ContinuationPoint, "events", cp_key)
            resume = (int(t_us), int(eid))
        types = TypeFilter.of(details.Filter)
        records, more = await self.historian.read_events(
            source, start, end, limit, resume, types.severity
        )
        records = [r for r in records if types.admits(r.kind)]
        select = list(details.Filter.SelectClauses) if details.Filter else []
        result = ua.HistoryReadResult()
        result.HistoryData = ua.HistoryEvent()
        result.HistoryData.Events = [
            EventFields(r, self.site_ns, self.server_uri).to_field_list(select) for r in records
        ]
        if more is not None:
            result.ContinuationPoint = _pack_cp("events", cp_key, list(more))
        elif not records:
            result.StatusCode = ua.StatusCode(ua.StatusCodes.GoodNoData)
        return result


# --- marking nodes ------------------------------------------------------------------------------


def _property_item(
    parent: ua.NodeId, name: str, variant: ua.Variant, data_type: int
) -> ua.AddNodesItem:
    attrs = ua.VariableAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.Value = variant
    attrs.DataType = ua.NodeId(data_type)
    attrs.ValueRank = -1
    attrs.AccessLevel = ua.AccessLevel.CurrentRead.mask
    attrs.UserAccessLevel = ua.AccessLevel.CurrentRead.mask
    item = ua.AddNodesItem()
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
    item.RequestedNewNodeId = _child_id(parent, name)
    item.BrowseName = ua.QualifiedName(name, 0)
    item.NodeClass = ua.NodeClass.Variable
    item.NodeAttributes = attrs
    item.TypeDefinition = ua.NodeId(ua.ObjectIds.PropertyType)
    return item


def _object_item(
    parent: ua.NodeId, name: str, node_id: ua.NodeId, reference: int, type_id: int
) -> ua.AddNodesItem:
    attrs = ua.ObjectAttributes()
    attrs.DisplayName = ua.LocalizedText(name)
    attrs.EventNotifier = 0
    item = ua.AddNodesItem()
    item.ParentNodeId = parent
    item.ReferenceTypeId = ua.NodeId(reference)
    item.RequestedNewNodeId = node_id
    item.BrowseName = ua.QualifiedName(name, 0)
    item.NodeClass = ua.NodeClass.Object
    item.NodeAttributes = attrs
    item.TypeDefinition = ua.NodeId(type_id)
    return item


def _child_id(parent: ua.NodeId, name: str) -> ua.NodeId:
    if isinstance(parent.Identifier, str):
        return ua.NodeId(f"{parent.Identifier}.{name.replace(' ', '')}", parent.NamespaceIndex)
    return ua.NodeId(NamespaceIndex=parent.NamespaceIndex)


def ha_configuration_items(
    node_id: ua.NodeId, info: SeriesInfo, min_interval_s: float = 0.0, max_interval_s: float = 0.0
) -> list[ua.AddNodesItem]:
    """The ``HA Configuration`` object of a historized variable and its children
    (HistoricalDataConfigurationType, referenced with HasHistoricalConfiguration): Stepped,
    Definition, MinTimeInterval, MaxTimeInterval (ms), and the AggregateConfiguration the
    server computes with (TreatUncertainAsBad, 100 % good / bad, no sloped extrapolation).
    """
    config = _child_id(node_id, "HA Configuration")
    aggregate = _child_id(config, "AggregateConfiguration")
    definition = "Ampacity historian: recorded per the site's recording policy"
    boolean, byte = ua.ObjectIds.Boolean, ua.ObjectIds.Byte
    return [
        _object_item(
            node_id,
            "HA Configuration",
            config,
            ua.ObjectIds.HasHistoricalConfiguration,
            ua.ObjectIds.HistoricalDataConfigurationType,
        ),
        _object_item(
            config,
            "AggregateConfiguration",
            aggregate,
            ua.ObjectIds.HasComponent,
            ua.ObjectIds.AggregateConfigurationType,
        ),
        _property_item(
            aggregate, "TreatUncertainAsBad", ua.Variant(True, ua.VariantType.Boolean), boolean
        ),
        _property_item(aggregate, "PercentDataBad", ua.Variant(100, ua.VariantType.Byte), byte),
        _property_item(aggregate, "PercentDataGood", ua.Variant(100, ua.VariantType.Byte), byte),
        _property_item(
            aggregate, "UseSlopedExtrapolation", ua.Variant(False, ua.VariantType.Boolean), boolean
        ),
        _property_item(
            config, "Stepped", ua.Variant(info.stepped, ua.VariantType.Boolean), boolean
        ),
        _property_item(
            config, "Definition", ua.Variant(definition, ua.VariantType.String), ua.ObjectIds.String
        ),
        _property_item(
            config,
            "MinTimeInterval",
            ua.Variant(min_interval_s * 1000.0, ua.VariantType.Double),
            ua.ObjectIds.Duration,
        ),
        _property_item(
            config,
            "MaxTimeInterval",
            ua.Variant(max_interval_s * 1000.0, ua.VariantType.Double),
            ua.ObjectIds.Duration,
        ),
    ]


async def mark_historized(
    server: Server,
    nodes: Mapping[Node, SeriesInfo],
    intervals: Mapping[Node, tuple[float, float]] | None = None,
) -> None:
    """Make each node a historized variable in the address space.

    Sets ``Historizing``, the ``HistoryRead`` bit of AccessLevel and UserAccessLevel, and gives
    each a ``HA Configuration`` object (``ha_configuration_items``). Variables with the same
    configuration (stepped or not, the same intervals) share one object: it is created below the
    first of them and the others reference it with ``HasHistoricalConfiguration``, as the
    reference type allows; ten nodes per point would double a large site's memory for nothing.

    Args:
        server: the asyncua server owning the nodes.
        nodes: variable → its series' metadata.
        intervals: variable → (MinTimeInterval, MaxTimeInterval) in seconds; default 0 (unknown).
    """
    aspace = server.iserver.aspace
    items: list[ua.AddNodesItem] = []
    shared: dict[tuple[bool, float, float], ua.NodeId] = {}
    references: list[ua.AddReferencesItem] = []
    historizing = ua.DataValue(ua.Variant(True, ua.VariantType.Boolean))
    levels: dict[int, ua.DataValue] = {}
    for node, info in nodes.items():
        nid = node.nodeid
        # written in place where nothing watches the attribute (start-up: 10,000 awaits less)
        if write_unwatched(aspace, nid, ua.AttributeIds.Historizing, historizing) is None:
            await aspace.write_attribute_value(nid, ua.AttributeIds.Historizing, historizing)
        for attr in (ua.AttributeIds.AccessLevel, ua.AttributeIds.UserAccessLevel):
            current = aspace.read_attribute_value(nid, attr).Value.Value or 0
            bits = current | ua.AccessLevel.HistoryRead.mask
            if bits not in levels:
                levels[bits] = ua.DataValue(ua.Variant(bits, ua.VariantType.Byte))
            if write_unwatched(aspace, nid, attr, levels[bits]) is None:
                await aspace.write_attribute_value(nid, attr, levels[bits])
        low, high = (intervals or {}).get(node, (0.0, 0.0))
        group = (bool(info.stepped), low, high)
        if group not in shared:
            items += ha_configuration_items(node.nodeid, info, low, high)
            shared[group] = _child_id(node.nodeid, "HA Configuration")
            continue
        reference = ua.AddReferencesItem()
        reference.SourceNodeId = nid
        reference.ReferenceTypeId = _HAS_HISTORICAL_CONFIGURATION
        reference.IsForward = True
        reference.TargetNodeId = shared[group]
        reference.TargetNodeClass = ua.NodeClass.Object
        references.append(reference)
    results = server.iserver.node_mgt_service.add_nodes(items)
    for item, result in zip(items, results, strict=True):
        code = result.StatusCode
        if not code.is_good() and code.value != ua.StatusCodes.BadNodeIdExists:
            log.warning("cannot add %s: %s", item.RequestedNewNodeId, code.name)
    # one description of each shared configuration for all the variables referencing it
    for reference, status in zip(references, add_references(aspace, references), strict=True):
        if not status.is_good():
            log.warning("cannot reference %s: %s", reference.TargetNodeId, status.name)


_HAS_HISTORICAL_CONFIGURATION = ua.NodeId(ua.ObjectIds.HasHistoricalConfiguration)


async def _set_capabilities(
    server: Server, historian: Historian, manager: HistorianHistoryManager
) -> None:
    # the most values of one node a response holds: a numeric point's page (see raw_page_max)
    most_values = manager.raw_page_max(DataType.DOUBLE.value, ua.TimestampsToReturn.Both, 1)
    caps: dict[int, ua.Variant] = {
        ua.ObjectIds.HistoryServerCapabilities_AccessHistoryDataCapability: ua.Variant(
            True, ua.VariantType.Boolean
        ),
        ua.ObjectIds.HistoryServerCapabilities_AccessHistoryEventsCapability: ua.Variant(
            True, ua.VariantType.Boolean
        ),
        ua.ObjectIds.HistoryServerCapabilities_MaxReturnDataValues: ua.Variant(
            most_values, ua.VariantType.UInt32
        ),
        ua.ObjectIds.HistoryServerCapabilities_MaxReturnEventValues: ua.Variant(
            historian.config.max_values_per_read, ua.VariantType.UInt32
        ),
    }
    for node_id, variant in caps.items():
        try:
            await server.get_node(ua.NodeId(node_id)).write_value(variant)
        except Exception:  # optional nodes: absent in some asyncua nodesets
            log.debug("cannot set history capability %s", node_id)
    folder = server.get_node(ua.NodeId(ua.ObjectIds.HistoryServerCapabilities_AggregateFunctions))
    try:
        present = {n.nodeid for n in await folder.get_children()}
        for aggregate_id in AGGREGATES:
            target = ua.NodeId(aggregate_id)
            if target not in present:
                await folder.add_reference(target, ua.ObjectIds.Organizes, forward=True)
    except Exception:
        log.debug("cannot list aggregate functions")


async def enable_history(
    server: Server,
    historian: Historian,
    nodes: Mapping[str, Node],
    site_ns: int,
    event_sources: Mapping[str, Node] | None = None,
    max_message_size: int | None = None,
) -> HistorianHistoryManager:
    """Serve HistoryRead from ``historian`` and mark ``nodes`` historized.

    Args:
        server: an initialised asyncua server (before or after ``start()``).
        historian: the historian; its lifecycle stays with the caller.
        nodes: series key (``<asset-id>.<Point>``, registered with the historian) → variable.
            Keys not registered with the historian are skipped with a warning.
        site_ns: namespace index of the site's instance nodes (event SourceNodes are
            ``ns=site_ns;s=<source key>``).
        event_sources: key → object node whose event history is served (events of that key and
            the keys below it); the Server object always serves every event.
        max_message_size: the server's largest message (bytes,
            ``security.connections.max_message_size``): raw pages stay below it.

    Returns:
        the installed history manager (``add_variables`` serves variables added later).
    """
    manager = HistorianHistoryManager(server, historian, site_ns)
    manager.server_uri = (
        server.get_application_uri() if hasattr(server, "get_application_uri") else ""
    )
    manager.max_message_size = max_message_size
    server.iserver.history_manager = manager
    await manager.add_variables(nodes)
    server_node = server.get_node(ua.NodeId(ua.ObjectIds.Server))
    await server_node.set_attr_bit(ua.AttributeIds.EventNotifier, ua.EventNotifier.HistoryRead)
    for key, node in (event_sources or {}).items():
        await node.set_attr_bit(ua.AttributeIds.EventNotifier, ua.EventNotifier.HistoryRead)
        manager.event_sources[node.nodeid] = key
    await _set_capabilities(server, historian, manager)
    return manager


# --- audit --------------------------------------------------------------------------------------


def _user_name(user: Any) -> str:
    name = getattr(user, "name", None)
    role = getattr(getattr(user, "role", None), "name", "")
    return str(name) if name else (role.lower() or "anonymous")


def _plain(variant: Any) -> Any:
    value = getattr(variant, "Value", variant)
    if isinstance(value, datetime | bytes):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def install_audit(server: Server, historian: Historian, site_ns: int) -> None:
    """Record an audit event for every client write (Value attribute) and method call.

    Writes: who (session user), what (the node's key), old value, new value, result. Method
    calls: who, the method's key, the input arguments, the result.
    """
    from asyncua.common.callback import CallbackType

    aspace = server.iserver.aspace
    old_values: dict[int, list[Any]] = {}

    def _key(node_id: ua.NodeId) -> str:
        return str(node_id.Identifier) if node_id.NamespaceIndex == site_ns else node_id.to_string()

    async def pre_write(event: Any, _dispatcher: Any) -> None:
        if not event.is_external:
            return
        olds = []
        for item in event.request_params.NodesToWrite:
            try:
                dv = aspace.read_attribute_value(item.NodeId, item.AttributeId)
                olds.append(_plain(dv.Value))
            except Exception:
                olds.append(None)
        if len(old_values) > 1000:  # writes that failed before PostWrite: forget them
            old_values.clear()
        old_values[id(event.request_params)] = olds

    async def post_write(event: Any, _dispatcher: Any) -> None:
        if not event.is_external:
            return
        olds = old_values.pop(id(event.request_params), [])
        for i, item in enumerate(event.request_params.NodesToWrite):
            result = event.response_params[i] if event.response_params else None
            code = result.value if result is not None else 0
            key = _key(item.NodeId)
            historian.record_event(
                EventKind.AUDIT_WRITE,
                key,
                f"write {key}: {'ok' if code < 0x40000000 else ua.StatusCode(code).name}",
                user=_user_name(event.user),
                old_value=olds[i] if i < len(olds) else None,
                new_value=_plain(item.Value.Value),
                status=code,
            )

    server.subscribe_server_callback(CallbackType.PreWrite, pre_write)
    server.subscribe_server_callback(CallbackType.PostWrite, post_write)

    iserver = server.iserver
    create_session = iserver.create_session

    def create_audited_session(*args: Any, **kwargs: Any) -> Any:
        session = create_session(*args, **kwargs)
        call = session.call

        async def audited_call(params: list[Any]) -> list[Any]:
            results = await call(params)
            for request, result in zip(params, results, strict=False):
                key = _key(request.MethodId)
                code = result.StatusCode.value
                historian.record_event(
                    EventKind.AUDIT_CALL,
                    key,
                    f"call {key}: {'ok' if code < 0x40000000 else result.StatusCode.name}",
                    user=_user_name(session.user),
                    new_value=[_plain(a) for a in request.InputArguments],
                    status=code,
                    extra={"object": _key(request.ObjectId)},
                )
            return results

        session.call = audited_call
        return session

    iserver.create_session = create_audited_session


# --- the historian's Health object ----------------------------------------------------------------

NULL_DATETIME = datetime(1601, 1, 1, tzinfo=UTC)
"""The OPC UA DateTime minimum, which means "no time"."""

HEALTH_VARIABLES: tuple[tuple[str, ua.VariantType, Any, str], ...] = (
    ("DatabaseConnected", ua.VariantType.Boolean, False, "The last database operation worked."),
    ("Backend", ua.VariantType.String, "", "sqlite, postgresql or timescaledb."),
    ("Buffered", ua.VariantType.UInt64, 0, "Samples and events not yet in the database."),
    (
        "OldestBuffered",
        ua.VariantType.DateTime,
        NULL_DATETIME,
        "Time of the oldest of them (UTC); 1601-01-01 when nothing is buffered.",
    ),
    ("BufferBytes", ua.VariantType.UInt64, 0, "Size of the disk buffer not yet written."),
    ("Written", ua.VariantType.UInt64, 0, "Samples and events written since start."),
    ("Dropped", ua.VariantType.UInt64, 0, "Lost because the buffer was full."),
    ("LastError", ua.VariantType.String, "", "The last database error; empty when none."),
)


class HistorianHealthNodes:
    """The historian's ``Health`` object: one read-only variable per ``HistorianHealth`` field.

    ``create`` adds it under ``parent`` (NodeIds ``<prefix>.<Name>``); ``update`` writes a health
    snapshot; ``run`` keeps it current.
    """

    def __init__(self, nodes: dict[str, Node]) -> None:
        self.nodes = nodes

    @classmethod
    async def create(
        cls, parent: Node, ns: int, prefix: str = "Historian.Health"
    ) -> HistorianHealthNodes:
        folder = await parent.add_object(ua.NodeId(prefix, ns), ua.QualifiedName("Health", ns))
        nodes = {}
        for name, vtype, initial, description in HEALTH_VARIABLES:
            node = await folder.add_variable(
                ua.NodeId(f"{prefix}.{name}", ns),
                ua.QualifiedName(name, ns),
                ua.Variant(initial, vtype if initial is not None else ua.VariantType.Null),
                varianttype=vtype,
            )
            await node.write_attribute(
                ua.AttributeIds.Description,
                ua.DataValue(
                    ua.Variant(ua.LocalizedText(description), ua.VariantType.LocalizedText)
                ),
            )
            nodes[name] = node
        return cls(nodes)

    async def update(self, health: Any) -> None:
        values = {
            "DatabaseConnected": health.database_connected,
            "Backend": health.backend,
            "Buffered": health.buffered,
            "OldestBuffered": health.oldest_buffered,
            "BufferBytes": health.buffer_bytes,
            "Written": health.written,
            "Dropped": health.dropped,
            "LastError": health.last_error,
        }
        for name, vtype, _, _ in HEALTH_VARIABLES:
            value = values[name]
            if value is None and vtype == ua.VariantType.DateTime:
                value = NULL_DATETIME  # OPC UA's "no time" (the DateTime minimum)
            variant = ua.Variant(value, vtype) if value is not None else ua.Variant(None)
            try:
                await self.nodes[name].write_value(variant)
            except ua.UaError as exc:
                log.warning("historian health %s: cannot show %r: %s", name, value, exc)

    async def run(self, historian: Historian, period_s: float = 1.0) -> None:
        """Update every ``period_s`` until cancelled."""
        import asyncio

        while True:
            try:
                await self.update(historian.health())
            except Exception:
                log.exception("cannot update the historian's health nodes")
            await asyncio.sleep(period_s)
