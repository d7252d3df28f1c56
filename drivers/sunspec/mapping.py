"""Mapping SunSpec models onto Ampacity assets and their points.

Which models feed which asset (a "role" names a model's part in an asset):

=================  ==========================  ==============================================
asset kind         models (role)               points
=================  ==========================  ==============================================
PvInverter         101-103, 111-113 (inverter) ActivePower=W, CurrentLn=Aph*, VoltageLn=PhVph*,
                                               Frequency=Hz, ReactivePower=VAr, EnergyProduced=WH,
                                               DcPower=DCW, OperatingState=St
                   120 (nameplate)             NominalPower=WRtg
                   121 (settings)              WMax, the base of WMaxLimPct (else WRtg)
                   123 (controls)              ActivePowerLimit = WMaxLimPct × WMax / 100
                   160 (mppt)                  DcPower = Σ module DCW when the inverter has no DCW
Battery            124 (storage), 802          StateOfCharge=ChaState (802: SoC),
                   (battery), 120              Capacity=WHRtg (802, else 120),
                                               MaxChargePower=WChaMax,
                                               MaxDischargePower=WDisChaRteMax (802) / MaxDisChaRte
                                               (120), BatteryPowerSetpoint from OutWRte/InWRte
ElectricityMeter   201-204, 211-214 (meter)    ActivePower=W × sign, ActivePowerLn=Wph* × sign,
                                               CurrentLn=Aph*, VoltageLn=PhVph*, Frequency=Hz,
                                               ReactivePower=VAR, EnergyImported=TotWhImp,
                                               EnergyExported=TotWhExp, Role (configured)
=================  ==========================  ==============================================

Signs: inverter ``W`` is positive when producing (the model's convention already). A meter's
``W`` has no sign convention in the model definitions; Fronius meters report + = import (OpenEMS'
Fronius meter maps it unchanged onto its import-positive grid power), SolarEdge meters + = export
(evcc and OpenEMS negate it). ``meter_sign`` turns it into the model's + = import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ampacity.assets import AssetKind, Quality

from .chain import Chain, ModelInstance
from .decode import MISSING, ModelBlock, Value
from .models import model_def

INVERTER_MODELS = {101: 1, 102: 2, 103: 3, 111: 1, 112: 2, 113: 3}
"""Inverter model id -> phases."""
METER_MODELS = {201: 1, 202: 2, 203: 3, 204: 3, 211: 1, 212: 2, 213: 3, 214: 3}
"""Meter model id -> phases."""
PV_EXTRAS = {120: "nameplate", 121: "settings", 123: "controls", 160: "mppt"}
STORAGE_MODELS = {124: "storage", 802: "battery"}
COMMON = 1

PHASES = ("L1", "L2", "L3")
_SUNSPEC_PHASES = ("A", "B", "C")

SUNSPEC_STATES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8}
"""SunSpec inverter ``St`` (1 OFF, 2 SLEEPING, 3 STARTING, 4 MPPT, 5 THROTTLED, 6 SHUTTING_DOWN,
7 FAULT, 8 STANDBY) -> the model's ``OperatingState`` (same numbers; anything else is 0 Unknown)."""

DEFAULT_KEYS = {
    AssetKind.PV_INVERTER: "inverter",
    AssetKind.BATTERY: "battery",
    AssetKind.ELECTRICITY_METER: "meter",
}


def _electrical(phases: int, per_phase_power: bool) -> tuple[str, ...]:
    names = ["ActivePower"]
    if per_phase_power:
        names += [f"ActivePower{p}" for p in PHASES[:phases]]
    names += [f"Current{p}" for p in PHASES[:phases]]
    names += [f"Voltage{p}" for p in PHASES[:phases]]
    return (*names, "Frequency", "ReactivePower")


DEFAULT_POINTS: dict[AssetKind, tuple[str, ...]] = {
    AssetKind.PV_INVERTER: (
        *_electrical(3, False),
        "EnergyProduced", "DcPower", "NominalPower", "OperatingState", "ActivePowerLimit",
    ),
    AssetKind.BATTERY: (
        "StateOfCharge", "Capacity", "MaxChargePower", "MaxDischargePower", "BatteryPowerSetpoint",
    ),
    AssetKind.ELECTRICITY_METER: (
        *_electrical(3, True), "EnergyImported", "EnergyExported", "Role",
    ),
}  # fmt: skip
"""Points assumed before discovery (a three-phase inverter with nameplate, controls and MPPT; a
three-phase meter)."""


@dataclass(slots=True)
class AssetPlan:
    """What discovery found for one asset: its models on one unit id.

    Attributes:
        kind: the asset kind.
        unit_id: the unit id the models live on.
        sources: role -> model instance (``inverter``, ``nameplate``, ``settings``, ``controls``,
            ``mppt``, ``storage``, ``battery``, ``meter``).
        common: the model 1 the asset's identification comes from (the last one before it).
        key: the profile's asset key, assigned by ``assign_keys``.
    """

    kind: AssetKind
    unit_id: int
    sources: dict[str, ModelInstance] = field(default_factory=dict)
    common: ModelInstance | None = None
    key: str = ""

    @property
    def phases(self) -> int:
        main = self.sources.get("inverter") or self.sources.get("meter")
        if main is None:
            return 0
        return INVERTER_MODELS.get(main.model_id) or METER_MODELS.get(main.model_id, 3)

    @property
    def points(self) -> tuple[str, ...]:
        """The model points the asset's models provide."""
        if self.kind is AssetKind.PV_INVERTER:
            return _pv_points(self)
        if self.kind is AssetKind.BATTERY:
            return _battery_points(self)
        return (*_electrical(self.phases, True), "EnergyImported", "EnergyExported", "Role")


def _has_point(instance: ModelInstance | None, name: str) -> bool:
    return instance is not None and name in model_def(instance.model_id).layout(instance.length)


def _pv_points(plan: AssetPlan) -> tuple[str, ...]:
    src = plan.sources
    names = [
        *_electrical(plan.phases, False),
        "EnergyProduced",
    ]
    if _has_point(src.get("inverter"), "DCW") or "mppt" in src:
        names.append("DcPower")
    rated = "nameplate" in src or "settings" in src
    if rated:
        names.append("NominalPower")
    names.append("OperatingState")
    if rated and "controls" in src:
        names.append("ActivePowerLimit")
    return tuple(names)


def _battery_points(plan: AssetPlan) -> tuple[str, ...]:
    src = plan.sources
    names = []
    if "battery" in src or _has_point(src.get("storage"), "ChaState"):
        names.append("StateOfCharge")
    if "battery" in src or _has_point(src.get("nameplate"), "WHRtg"):
        names.append("Capacity")
    if "storage" in src:
        names.append("MaxChargePower")
    if "battery" in src or _has_point(src.get("nameplate"), "MaxDisChaRte"):
        names.append("MaxDischargePower")
    if "storage" in src:
        names.append("BatteryPowerSetpoint")
    return tuple(names)


def plan_assets(chain: Chain) -> list[AssetPlan]:
    """Group a unit's models into assets, in chain order."""
    plans: list[AssetPlan] = []
    common: ModelInstance | None = None
    pv: AssetPlan | None = None
    battery: AssetPlan | None = None
    nameplate: ModelInstance | None = None
    for instance in chain.models:
        mid = instance.model_id
        if mid == COMMON:
            common = instance
        elif mid in INVERTER_MODELS and pv is None:
            pv = AssetPlan(AssetKind.PV_INVERTER, chain.unit_id, {"inverter": instance}, common)
            plans.append(pv)
        elif mid in PV_EXTRAS:
            if mid == 120:
                nameplate = instance
            if pv is not None:
                pv.sources.setdefault(PV_EXTRAS[mid], instance)
        elif mid in STORAGE_MODELS:
            if battery is None:
                battery = AssetPlan(AssetKind.BATTERY, chain.unit_id, {}, common)
                plans.append(battery)
            battery.sources.setdefault(STORAGE_MODELS[mid], instance)
        elif mid in METER_MODELS:
            plans.append(
                AssetPlan(AssetKind.ELECTRICITY_METER, chain.unit_id, {"meter": instance}, common)
            )
    if pv is not None:
        # Models listed before the inverter (unusual) still belong to it.
        for instance in chain.models:
            role = PV_EXTRAS.get(instance.model_id)
            if role:
                pv.sources.setdefault(role, instance)
    if battery is not None and nameplate is not None:
        battery.sources.setdefault("nameplate", nameplate)
    return plans


def assign_keys(
    plans: list[AssetPlan], declared: list[tuple[str, AssetKind, int]]
) -> list[AssetPlan]:
    """Give every plan an asset key: the first unused declared asset of its kind and unit id,
    else the first unused declared one of its kind, else ``inverter``/``battery``/``meter``
    (``meter2``, ... for more)."""
    used: set[str] = set()
    for plan in plans:
        candidates = [k for k, kind, unit in declared if kind is plan.kind and unit == plan.unit_id]
        candidates += [k for k, kind, _ in declared if kind is plan.kind]
        key = next((k for k in candidates if k not in used), None)
        if key is None:
            base = DEFAULT_KEYS[plan.kind]
            key, n = base, 1
            while key in used or any(key == k for k, _, _ in declared):
                n += 1
                key = f"{base}{n}"
        plan.key = key
        used.add(key)
    return plans


# --- values ---------------------------------------------------------------------------------


def _sum(values: list[Value]) -> Value:
    good = [v.value for v in values if v.ok and isinstance(v.value, int | float)]
    if not good:
        return MISSING
    return Value(float(sum(good)), Quality.GOOD)


def _signed(value: Value, sign: int) -> Value:
    if sign == 1 or not value.ok or not isinstance(value.value, int | float):
        return value
    return Value(-value.value, value.quality)


def _float(value: Value) -> float | None:
    return float(value.value) if value.ok and isinstance(value.value, int | float) else None


def wmax(blocks: Mapping[str, ModelBlock]) -> float | None:
    """The base of ``WMaxLimPct`` in W: model 121 ``WMax``, else model 120 ``WRtg``."""
    for role, name in (("settings", "WMax"), ("nameplate", "WRtg")):
        block = blocks.get(role)
        if block is not None:
            value = _float(block.get(name))
            if value is not None and value > 0:
                return value
    return None


def pv_values(blocks: Mapping[str, ModelBlock], phases: int) -> dict[str, Value]:
    """The inverter's points in model units; production positive."""
    out: dict[str, Value] = {}
    inv = blocks.get("inverter")
    if inv is not None:
        out["ActivePower"] = inv.get("W")
        for p, s in zip(PHASES[:phases], _SUNSPEC_PHASES, strict=False):
            out[f"Current{p}"] = inv.get(f"Aph{s}")
            out[f"Voltage{p}"] = inv.get(f"PhVph{s}")
        out["Frequency"] = inv.get("Hz")
        out["ReactivePower"] = inv.get("VAr")
        out["EnergyProduced"] = inv.get("WH")
        state = inv.get("St")
        out["OperatingState"] = (
            Value(SUNSPEC_STATES.get(int(state.value), 0), Quality.GOOD)
            if state.ok and isinstance(state.value, int | float)
            else state
        )
        out["DcPower"] = inv.get("DCW")
    mppt = blocks.get("mppt")
    if mppt is not None and not out.get("DcPower", MISSING).ok:
        count = model_def(160).repeat_count(len(mppt.words) - 2)
        out["DcPower"] = _sum([mppt.get(f"module[{i + 1}].DCW") for i in range(count)])
    nameplate = blocks.get("nameplate")
    settings = blocks.get("settings")
    if nameplate is not None:
        out["NominalPower"] = nameplate.get("WRtg")
    elif settings is not None:
        out["NominalPower"] = settings.get("WMax")
    controls = blocks.get("controls")
    base = wmax(blocks)
    if controls is not None and base is not None:
        out["ActivePowerLimit"] = active_power_limit(controls, base)
    return out


def active_power_limit(controls: ModelBlock, base_w: float) -> Value:
    """The limit the device applies now, W: ``WMaxLimPct × WMax / 100`` while ``WMaxLim_Ena``
    is 1, else ``WMax`` (no limit)."""
    enabled = controls.get("WMaxLim_Ena")
    if not enabled.ok:
        return MISSING
    if enabled.value != 1:
        return Value(base_w, Quality.GOOD)
    pct = _float(controls.get("WMaxLimPct"))
    if pct is None:
        return MISSING
    return Value(round(pct * base_w / 100.0, 6), Quality.GOOD)


def battery_values(blocks: Mapping[str, ModelBlock]) -> dict[str, Value]:
    """The battery's points in model units; setpoint positive = discharge."""
    out: dict[str, Value] = {}
    storage = blocks.get("storage")
    battery = blocks.get("battery")
    nameplate = blocks.get("nameplate")
    if battery is not None:
        out["StateOfCharge"] = battery.get("SoC")
        out["Capacity"] = battery.get("WHRtg")
        out["MaxDischargePower"] = battery.get("WDisChaRteMax")
    elif nameplate is not None:
        out["Capacity"] = nameplate.get("WHRtg")
        out["MaxDischargePower"] = nameplate.get("MaxDisChaRte")
    if storage is not None:
        if "StateOfCharge" not in out:
            out["StateOfCharge"] = storage.get("ChaState")
        out["MaxChargePower"] = storage.get("WChaMax")
        out["BatteryPowerSetpoint"] = battery_setpoint(storage, charge_base_w(blocks))
    return out


def charge_base_w(blocks: Mapping[str, ModelBlock]) -> tuple[float | None, float | None]:
    """(charge, discharge) power in W that ``InWRte`` / ``OutWRte`` percentages refer to:
    ``WChaMax`` for charging; for discharging the battery's or nameplate's maximum discharge
    rate, else ``WChaMax`` as well (what Fronius does)."""
    storage = blocks.get("storage")
    charge = _float(storage.get("WChaMax")) if storage is not None else None
    discharge = None
    if (battery := blocks.get("battery")) is not None:
        discharge = _float(battery.get("WDisChaRteMax"))
    if discharge is None and (nameplate := blocks.get("nameplate")) is not None:
        discharge = _float(nameplate.get("MaxDisChaRte"))
    return charge, discharge if discharge is not None else charge


def battery_setpoint(storage: ModelBlock, bases: tuple[float | None, float | None]) -> Value:
    """The setpoint the device holds now, W (+ = discharge), or ``None`` when it runs on its own
    (``StorCtl_Mod`` without both limit bits)."""
    mode = storage.get("StorCtl_Mod")
    if not mode.ok or not isinstance(mode.value, int):
        return MISSING
    if mode.value & 0b11 != 0b11:
        return Value(None, Quality.GOOD)
    out_pct = _float(storage.get("OutWRte"))
    charge_w, discharge_w = bases
    if out_pct is None or charge_w is None or discharge_w is None:
        return MISSING
    # Both limits active with OutWRte = -InWRte pins the power to OutWRte % of the discharge base.
    return Value(round(out_pct * discharge_w / 100.0, 6), Quality.GOOD)


def meter_values(block: ModelBlock, phases: int, sign: int, role: int) -> dict[str, Value]:
    """The meter's points; ``sign`` = +1 when the device's ``W`` is + = import, -1 otherwise."""
    out: dict[str, Value] = {"ActivePower": _signed(block.get("W"), sign)}
    for p, s in zip(PHASES[:phases], _SUNSPEC_PHASES, strict=False):
        out[f"ActivePower{p}"] = _signed(block.get(f"Wph{s}"), sign)
        out[f"Current{p}"] = block.get(f"Aph{s}")
        out[f"Voltage{p}"] = block.get(f"PhVph{s}")
    out["Frequency"] = block.get("Hz")
    out["ReactivePower"] = block.get("VAR")
    out["EnergyImported"] = block.get("TotWhImp")
    out["EnergyExported"] = block.get("TotWhExp")
    out["Role"] = Value(role, Quality.GOOD)
    return out


def identification(block: ModelBlock) -> dict[str, str]:
    """Manufacturer=Mn, Model=Md, SerialNumber=SN, FirmwareVersion=Vr of a model 1."""
    out: dict[str, str] = {}
    for point, name in (
        ("Manufacturer", "Mn"),
        ("Model", "Md"),
        ("SerialNumber", "SN"),
        ("FirmwareVersion", "Vr"),
    ):
        value = block.get(name)
        if value.ok and isinstance(value.value, str) and value.value:
            out[point] = value.value
    return out
