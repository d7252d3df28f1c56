"""The site file's ``alarms:`` section: per condition kind severity and enablement, thresholds.

Example::

    alarms:
      comm_lost: {severity: 700}
      dimming: {enabled: false}
      soc_floor_pct: 10
      limit_hysteresis_w: 500
      limit_delay_s: 10
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class KindSettings(BaseModel):
    """One condition kind: its OPC UA Severity (1..1000, 1-200 informational), whether it is
    raised at all and whether an operator confirms it after acknowledging (ConfirmedState)."""

    model_config = ConfigDict(extra="forbid")
    severity: int = Field(500, ge=1, le=1000)
    enabled: bool = True
    confirm: bool = False


def _kind(severity: int, description: str, confirm: bool = False) -> Any:
    return Field(
        default_factory=lambda: KindSettings(severity=severity, confirm=confirm),
        description=description,
    )


class AlarmsConfig(BaseModel):
    """Which conditions the server raises and when (see docs/alarms.md)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="false: no condition instances, no alarm events.")
    comm_lost: KindSettings = _kind(700, "A device stopped answering (its values Uncertain).")
    device_fault: KindSettings = _kind(800, "A device reports its own fault state.")
    failsafe: KindSettings = _kind(900, "The control is in its fail-safe state.", confirm=True)
    feed_in_limit: KindSettings = _kind(600, "Export above the site's feed-in limit.")
    import_limit: KindSettings = _kind(600, "Import above the site's grid import limit.")
    dimming: KindSettings = _kind(100, "§ 14a EnWG dimming is in force (informational).")
    ripple_stage: KindSettings = _kind(100, "A ripple-control stage below 100 % (informational).")
    demand_expired: KindSettings = _kind(
        500, "A marketer's or grid operator's demand expired without renewal."
    )
    soc_floor: KindSettings = _kind(300, "A battery at its state-of-charge floor.")
    soc_ceiling: KindSettings = _kind(200, "A battery at its state-of-charge ceiling.")
    temperature: KindSettings = _kind(600, "A reported temperature above temperature_max_c.")
    historian_buffering: KindSettings = _kind(
        500, "The historian writes to its disk buffer: the database is unreachable."
    )
    historian_buffer_high: KindSettings = _kind(
        700, "The historian's disk buffer is above disk_buffer_max_bytes."
    )

    soc_floor_pct: float = Field(10.0, ge=0, le=100, description="SoC floor, %.")
    soc_ceiling_pct: float = Field(98.0, ge=0, le=100, description="SoC ceiling, %.")
    soc_hysteresis_pct: float = Field(
        2.0, ge=0, le=50, description="SoC must leave the floor/ceiling by this much to clear, %."
    )
    temperature_max_c: float = Field(90.0, description="Temperature alarm threshold, °C.")
    temperature_hysteresis_c: float = Field(2.0, ge=0, description="To clear it, °C below.")
    disk_buffer_max_bytes: int = Field(
        50_000_000, ge=0, description="Disk-buffer size above which the buffer alarm is raised."
    )
    limit_hysteresis_w: float = Field(
        200.0,
        ge=0,
        description="Grid power must be this far inside a feed-in/import limit to clear, W.",
    )
    limit_delay_s: float = Field(
        10.0,
        ge=0,
        description="A limit violation (and its end) must last this long to change the alarm, s.",
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """A kind given in part keeps the kind's own default severity and confirm."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if field is None or field.default_factory is None or not isinstance(value, dict):
                continue
            default = field.default_factory()  # type: ignore[call-arg]
            if isinstance(default, KindSettings):
                merged[name] = {**default.model_dump(), **value}
        return merged

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> AlarmsConfig:
        if self.soc_floor_pct >= self.soc_ceiling_pct:
            raise ValueError("soc_floor_pct must be below soc_ceiling_pct")
        return self

    def kind(self, name: str) -> KindSettings:
        value = getattr(self, name)
        assert isinstance(value, KindSettings), name
        return value
