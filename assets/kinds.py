"""The asset kinds of the information model and their points (architecture §3).

Sign conventions (written into every power point's description):

* grid power and a grid meter's ``ActivePower``: positive = import from the grid;
* battery power: positive = discharge;
* PV, fuel cell and CHP power: positive = production;
* a consumer's power (charge point, heat pump, heating rod, electrolyser): positive = consumption.

BrowseNames are part of the public interface (SCADA tag lists are built on them):
extend, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from . import units as u
from .points import Access, DataType, PointSpec, ValueKind

MAX_POWER_W = 1.0e9
"""The widest EURange for a power: one gigawatt either way; profiles and configs narrow it."""


class AssetKind(Enum):
    """One ObjectType each; the value is the type's BrowseName without ``Type``."""

    PV_INVERTER = "PvInverter"
    BATTERY = "Battery"
    CHARGE_POINT = "ChargePoint"
    ELECTRICITY_METER = "ElectricityMeter"
    HEAT_METER = "HeatMeter"
    GAS_METER = "GasMeter"
    HEAT_PUMP = "HeatPump"
    HEATING_ROD = "HeatingRod"
    FUEL_CELL = "FuelCell"
    CHP = "Chp"
    ELECTROLYSER = "Electrolyser"
    RIPPLE_CONTROL_RECEIVER = "RippleControlReceiver"
    TARIFF = "Tariff"
    SITE = "Site"

    @property
    def type_name(self) -> str:
        """The ObjectType's BrowseName, e.g. ``PvInverterType``."""
        return f"{self.value}Type"


@dataclass(frozen=True, slots=True)
class AssetSpec:
    """An asset kind's vocabulary."""

    kind: AssetKind
    description: str
    points: tuple[PointSpec, ...]

    def point(self, name: str) -> PointSpec:
        for spec in self.points:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.kind.value} has no point {name!r}")

    @property
    def point_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.points)


# --- small constructors keep the table below readable -------------------------------------------


def analog(name: str, unit: u.Unit, description: str, low: float, high: float) -> PointSpec:
    return PointSpec(name, ValueKind.ANALOG, DataType.DOUBLE, description, unit, (low, high))


def counter(name: str, unit: u.Unit, description: str) -> PointSpec:
    return PointSpec(name, ValueKind.COUNTER, DataType.DOUBLE, description, unit, (0.0, 1.0e15))


def setpoint(name: str, unit: u.Unit, description: str, low: float, high: float) -> PointSpec:
    return PointSpec(
        name,
        ValueKind.SETPOINT,
        DataType.DOUBLE,
        description,
        unit,
        (low, high),
        Access.READ_WRITE,
    )


def discrete(name: str, description: str, true_label: str, false_label: str) -> PointSpec:
    return PointSpec(
        name,
        ValueKind.DISCRETE,
        DataType.BOOLEAN,
        description,
        true_label=true_label,
        false_label=false_label,
    )


def enum(
    name: str, description: str, values: dict[int, str], access: Access = Access.READ
) -> PointSpec:
    return PointSpec(
        name,
        ValueKind.ENUM,
        DataType.INT32,
        description,
        value_range=(float(min(values)), float(max(values))),
        access=access,
        enum_values=values,
    )


def info(name: str, description: str, data_type: DataType = DataType.STRING) -> PointSpec:
    return PointSpec(name, ValueKind.INFO, data_type, description)


def active_power(sign: str) -> PointSpec:
    return analog(
        "ActivePower", u.WATT, f"Total active power in W; {sign}.", -MAX_POWER_W, MAX_POWER_W
    )


def electrical(sign: str) -> tuple[PointSpec, ...]:
    """The points every electrical asset may have (architecture §3, first row)."""
    phases = ("L1", "L2", "L3")
    return (
        active_power(sign),
        *(
            analog(
                f"ActivePower{p}",
                u.WATT,
                f"Active power of phase {p} in W; {sign}.",
                -MAX_POWER_W,
                MAX_POWER_W,
            )
            for p in phases
        ),
        *(
            analog(f"Current{p}", u.AMPERE, f"RMS current of phase {p} in A.", -1.0e5, 1.0e5)
            for p in phases
        ),
        *(
            analog(f"Voltage{p}", u.VOLT, f"RMS voltage of phase {p} to neutral in V.", 0.0, 1.0e5)
            for p in phases
        ),
        analog("Frequency", u.HERTZ, "Grid frequency in Hz.", 0.0, 100.0),
        analog(
            "ReactivePower",
            u.VAR,
            "Total reactive power in var; positive = inductive (lagging).",
            -MAX_POWER_W,
            MAX_POWER_W,
        ),
    )


PRODUCTION = "positive = production"
CONSUMPTION = "positive = consumption"
DISCHARGE = "positive = discharge, negative = charge"
IMPORT = "positive = import from the grid, negative = export (feed-in)"

METER_ROLES = {0: "grid", 1: "production", 2: "consumption", 3: "sub"}
CHARGE_MODES = {
    0: "Off",
    1: "Fast",
    2: "FastOnce",
    3: "Surplus",
    4: "SurplusPlus",
    5: "CostOptimised",
}
PHASE_SETTINGS = {1: "OnePhase", 3: "ThreePhases"}
"""Phases a charge point lets the vehicle use (1p/3p switching)."""
SG_READY_STATES = {1: "Blocked", 2: "Normal", 3: "Recommended", 4: "Forced"}
RUN_STATES = {0: "Off", 1: "Starting", 2: "Running", 3: "Stopping", 4: "Fault", 5: "Standby"}
INVERTER_STATES = {
    0: "Unknown",
    1: "Off",
    2: "Sleeping",
    3: "Starting",
    4: "Running",
    5: "Throttled",
    6: "ShuttingDown",
    7: "Fault",
    8: "Standby",
}
BATTERY_STATES = {
    0: "Unknown",
    1: "Off",
    2: "Standby",
    3: "Charging",
    4: "Inverting",
    5: "Passthrough",
    6: "ExternalControl",
    7: "Fault",
    8: "Running",
}
"""Operating state of a storage system's inverter/charger: 2 = low-power or search mode, 3 = any
charge stage (bulk, absorption, float, storage, equalize), 4 = making AC from the battery (also
assisting a limited AC input), 5 = AC input passed through with the battery idle, 6 = following an
external setpoint, 8 = running in a mode none of the others names. Fault is 7 as in
``INVERTER_STATES``."""
CONTROL_MODES = {0: "Unknown", 1: "DeviceControl", 2: "ExternalControl"}
"""Whose control a battery's power follows: 1 = the device's own (self-consumption) control, which
overrides ``BatteryPowerSetpoint``; 2 = an external setpoint (the EMS can drive it)."""

COGENERATION_POINTS: tuple[PointSpec, ...] = (
    *electrical(PRODUCTION),
    counter("EnergyProduced", u.WATT_HOUR, "Electrical energy produced, Wh."),
    analog("ThermalPower", u.WATT, "Thermal output in W.", 0.0, MAX_POWER_W),
    enum("RunState", "Operating state.", RUN_STATES),
    counter("OperatingHours", u.HOUR, "Running hours since commissioning, h."),
    setpoint(
        "PowerSetpoint",
        u.WATT,
        f"Target electrical power in W; {PRODUCTION}.",
        0.0,
        MAX_POWER_W,
    ),
)
"""Fuel cells and CHP units: electricity and heat from one fuel, dispatched by power."""

SPECS: dict[AssetKind, AssetSpec] = {
    spec.kind: spec
    for spec in (
        AssetSpec(
            AssetKind.PV_INVERTER,
            "A photovoltaic inverter (one device, all of its MPP trackers).",
            (
                *electrical(PRODUCTION),
                counter(
                    "EnergyProduced", u.WATT_HOUR, "AC energy produced since commissioning, Wh."
                ),
                analog(
                    "DcPower",
                    u.WATT,
                    f"DC input power in W; {PRODUCTION}.",
                    -MAX_POWER_W,
                    MAX_POWER_W,
                ),
                analog("NominalPower", u.WATT, "Rated AC power in W.", 0.0, MAX_POWER_W),
                enum("OperatingState", "Operating state of the inverter.", INVERTER_STATES),
                setpoint(
                    "ActivePowerLimit",
                    u.WATT,
                    "Upper limit of AC output in W (feed-in management); "
                    "the nominal power means no limit.",
                    0.0,
                    MAX_POWER_W,
                ),
            ),
        ),
        AssetSpec(
            AssetKind.BATTERY,
            "A battery storage system or hybrid inverter's battery side.",
            (
                *electrical(DISCHARGE),
                analog("StateOfCharge", u.PERCENT, "State of charge in %.", 0.0, 100.0),
                analog("Capacity", u.WATT_HOUR, "Usable capacity in Wh.", 0.0, 1.0e12),
                analog(
                    "MaxChargePower",
                    u.WATT,
                    "Largest charge power now allowed, W (≥ 0).",
                    0.0,
                    MAX_POWER_W,
                ),
                analog(
                    "MaxDischargePower",
                    u.WATT,
                    "Largest discharge power now allowed, W (≥ 0).",
                    0.0,
                    MAX_POWER_W,
                ),
                counter(
                    "EnergyCharged",
                    u.WATT_HOUR,
                    "Energy charged into the battery since commissioning, Wh.",
                ),
                counter(
                    "EnergyDischarged",
                    u.WATT_HOUR,
                    "Energy discharged from the battery since commissioning, Wh.",
                ),
                setpoint(
                    "BatteryPowerSetpoint",
                    u.WATT,
                    f"Target battery power in W; {DISCHARGE}.",
                    -MAX_POWER_W,
                    MAX_POWER_W,
                ),
                enum(
                    "BatteryState",
                    "Operating state of the storage system's inverter/charger as the device "
                    "reports it (Victron: the VE.Bus state).",
                    BATTERY_STATES,
                ),
                enum(
                    "ControlMode",
                    "Whose control the battery power follows: the device's own "
                    "(BatteryPowerSetpoint is not followed) or an external setpoint "
                    "(Victron: ESS mode 3, external control).",
                    CONTROL_MODES,
                ),
            ),
        ),
        AssetSpec(
            AssetKind.CHARGE_POINT,
            "One connector of an AC or DC charging station.",
            (
                *electrical(CONSUMPTION),
                counter(
                    "SessionEnergy",
                    u.WATT_HOUR,
                    "Energy delivered in the current or last session, Wh.",
                ),
                counter("EnergyTotal", u.WATT_HOUR, "Energy delivered since commissioning, Wh."),
                discrete(
                    "VehicleConnected", "A vehicle is plugged in.", "Connected", "Not connected"
                ),
                discrete(
                    "Charging", "Energy is flowing to the vehicle.", "Charging", "Not charging"
                ),
                analog(
                    "PhasesInUse",
                    u.ONE,
                    "Number of phases the vehicle draws on (1 or 3).",
                    0.0,
                    3.0,
                ),
                setpoint(
                    "ChargeCurrentLimit",
                    u.AMPERE,
                    "Largest charging current per phase in A (AC); 0 = pause charging.",
                    0.0,
                    80.0,
                ),
                setpoint(
                    "ChargePowerLimit",
                    u.WATT,
                    f"Largest charging power in W (DC chargers); {CONSUMPTION}.",
                    0.0,
                    MAX_POWER_W,
                ),
                enum(
                    "ChargeMode",
                    "How the control charges this vehicle.",
                    CHARGE_MODES,
                    Access.READ_WRITE,
                ),
                enum(
                    "PhaseSetting",
                    "Phases the station lets the vehicle charge on (1 or 3); stations that "
                    "can switch between one and three phases.",
                    PHASE_SETTINGS,
                    Access.READ_WRITE,
                ),
                setpoint(
                    "SessionEnergyLimit",
                    u.WATT_HOUR,
                    "Energy after which the station ends the current session, Wh (energy "
                    "delivered to the vehicle, counted like SessionEnergy); 0 = no limit.",
                    0.0,
                    1.0e7,
                ),
                discrete(
                    "AuthorizationRequired",
                    "The station waits for an authorisation (RFID card or a start command) "
                    "before it charges.",
                    "Authorisation required",
                    "No authorisation required",
                ),
                analog(
                    "VehicleSoc",
                    u.PERCENT,
                    "The vehicle's state of charge in % as the station reports it (DC "
                    "chargers, ISO 15118 stations); no value where the station does not know it.",
                    0.0,
                    100.0,
                ),
            ),
        ),
        AssetSpec(
            AssetKind.ELECTRICITY_METER,
            "An electricity meter: grid connection, production, consumption or sub-meter.",
            (
                *electrical(f"{IMPORT} for a grid meter; in the metered direction otherwise"),
                counter(
                    "EnergyImported",
                    u.WATT_HOUR,
                    "Energy imported (consumed, drawn from the grid), Wh.",
                ),
                counter(
                    "EnergyExported",
                    u.WATT_HOUR,
                    "Energy exported (delivered, fed into the grid), Wh.",
                ),
                *(
                    counter(
                        f"Energy{d}T{t}",
                        u.WATT_HOUR,
                        f"Energy {d.lower()} in tariff register {t} (OBIS {c}.8.{t}), Wh.",
                    )
                    for d, c in (("Imported", 1), ("Exported", 2))
                    for t in (1, 2)
                ),
                *(
                    counter(f"Energy{d}{p}", u.WATT_HOUR, f"Energy {d.lower()} on phase {p}, Wh.")
                    for d in ("Imported", "Exported")
                    for p in ("L1", "L2", "L3")
                ),
                analog(
                    "ApparentPower",
                    u.VOLT_AMPERE,
                    "Total apparent power in VA (always >= 0).",
                    0.0,
                    MAX_POWER_W,
                ),
                analog(
                    "PowerFactor",
                    u.ONE,
                    "Total power factor (cos phi), -1..1; the sign as the meter sends it.",
                    -1.0,
                    1.0,
                ),
                *(
                    analog(
                        f"PowerFactor{p}", u.ONE, f"Power factor (cos phi) of phase {p}.", -1.0, 1.0
                    )
                    for p in ("L1", "L2", "L3")
                ),
                enum("Role", "What the meter measures.", METER_ROLES),
            ),
        ),
        AssetSpec(
            AssetKind.HEAT_METER,
            "A heat (or cooling) meter.",
            (
                analog(
                    "ThermalPower",
                    u.WATT,
                    "Thermal power in W; positive = heat delivered.",
                    -MAX_POWER_W,
                    MAX_POWER_W,
                ),
                counter("HeatEnergy", u.WATT_HOUR, "Heat delivered since commissioning, Wh."),
                analog(
                    "FlowTemperature", u.CELSIUS, "Flow (supply) temperature in °C.", -50.0, 200.0
                ),
                analog("ReturnTemperature", u.CELSIUS, "Return temperature in °C.", -50.0, 200.0),
                analog("VolumeFlow", u.CUBIC_METRE_PER_HOUR, "Volume flow in m³/h.", 0.0, 1.0e6),
                counter("Volume", u.CUBIC_METRE, "Volume since commissioning, m³."),
            ),
        ),
        AssetSpec(
            AssetKind.GAS_METER,
            "A gas meter (also compressed air).",
            (
                counter("Volume", u.CUBIC_METRE, "Volume since commissioning, m³."),
                analog("VolumeFlow", u.CUBIC_METRE_PER_HOUR, "Volume flow in m³/h.", 0.0, 1.0e6),
            ),
        ),
        AssetSpec(
            AssetKind.HEAT_PUMP,
            "A heat pump controlled through SG-Ready contacts or a vendor interface.",
            (
                *electrical(CONSUMPTION),
                enum(
                    "SgReadyState",
                    "SG-Ready operating state requested.",
                    SG_READY_STATES,
                    Access.READ_WRITE,
                ),
            ),
        ),
        AssetSpec(
            AssetKind.HEATING_ROD,
            "An electric heating rod with continuous power control.",
            (
                *electrical(CONSUMPTION),
                analog("Temperature", u.CELSIUS, "Water temperature in °C.", -50.0, 200.0),
                enum("RunState", "Operating state (Standby, Running, Fault, ...).", RUN_STATES),
                setpoint(
                    "PowerSetpoint",
                    u.WATT,
                    f"Target heating power in W; {CONSUMPTION}.",
                    0.0,
                    MAX_POWER_W,
                ),
            ),
        ),
        AssetSpec(
            AssetKind.FUEL_CELL,
            "A fuel cell heating or power unit.",
            COGENERATION_POINTS,
        ),
        AssetSpec(
            AssetKind.CHP,
            "A combined heat and power unit.",
            COGENERATION_POINTS,
        ),
        AssetSpec(
            AssetKind.ELECTROLYSER,
            "An electrolyser producing hydrogen.",
            (
                *electrical(CONSUMPTION),
                analog(
                    "HydrogenFlow",
                    u.KILOGRAM_PER_HOUR,
                    "Hydrogen production rate in kg/h.",
                    0.0,
                    1.0e6,
                ),
                counter(
                    "HydrogenProduced", u.KILOGRAM, "Hydrogen produced since commissioning, kg."
                ),
                enum(
                    "RunState", "Operating state (Off, Starting, Running, Fault, ...).", RUN_STATES
                ),
                analog(
                    "HydrogenTankLevel",
                    u.PERCENT,
                    "Filling of the hydrogen store in % of its capacity.",
                    0.0,
                    100.0,
                ),
                analog("HydrogenPressure", u.BAR, "Hydrogen outlet pressure in bar.", 0.0, 1000.0),
                counter("OperatingHours", u.HOUR, "Running hours (stack) since commissioning, h."),
                setpoint(
                    "PowerSetpoint",
                    u.WATT,
                    f"Target electrical power in W; {CONSUMPTION}.",
                    0.0,
                    MAX_POWER_W,
                ),
            ),
        ),
        AssetSpec(
            AssetKind.RIPPLE_CONTROL_RECEIVER,
            "The grid operator's ripple-control receiver or control box (up to four contacts).",
            (
                *(
                    discrete(
                        f"Contact{n}", f"Contact {n} of the receiver is closed.", "Closed", "Open"
                    )
                    for n in range(1, 5)
                ),
                analog(
                    "ActiveLimit",
                    u.PERCENT,
                    "Feed-in limit the contacts signal, % of installed PV power.",
                    0.0,
                    100.0,
                ),
            ),
        ),
        AssetSpec(
            AssetKind.TARIFF,
            "An electricity tariff (fixed or dynamic).",
            (
                analog(
                    "CurrentPrice",
                    u.CURRENCY_PER_KWH,
                    "End-customer price of the current slot per kWh.",
                    -100.0,
                    100.0,
                ),
                info(
                    "PriceForecast",
                    "Known future slots as JSON: a list of {start, end, price} "
                    "with ISO 8601 UTC times.",
                ),
            ),
        ),
        AssetSpec(
            AssetKind.SITE,
            "The site: its grid connection point, aggregates and external limits.",
            (
                analog(
                    "GridPower",
                    u.WATT,
                    f"Power at the grid connection point in W; {IMPORT}.",
                    -MAX_POWER_W,
                    MAX_POWER_W,
                ),
                analog(
                    "PvPower",
                    u.WATT,
                    f"Sum of PV power in W; {PRODUCTION}.",
                    -MAX_POWER_W,
                    MAX_POWER_W,
                ),
                analog(
                    "BatteryPower",
                    u.WATT,
                    f"Sum of battery power in W; {DISCHARGE}.",
                    -MAX_POWER_W,
                    MAX_POWER_W,
                ),
                analog(
                    "HouseConsumption",
                    u.WATT,
                    "Site consumption in W: grid + PV + battery power; positive = consumption.",
                    -MAX_POWER_W,
                    MAX_POWER_W,
                ),
                analog(
                    "SelfConsumptionRate",
                    u.PERCENT,
                    "Share of PV power used on site, %.",
                    0.0,
                    100.0,
                ),
                analog(
                    "AutarkyRate",
                    u.PERCENT,
                    "Share of consumption covered without the grid, %.",
                    0.0,
                    100.0,
                ),
                setpoint(
                    "FeedInLimit",
                    u.WATT,
                    "Largest allowed export at the grid connection point in W (≥ 0).",
                    0.0,
                    MAX_POWER_W,
                ),
                setpoint(
                    "GridImportLimit",
                    u.WATT,
                    "Largest allowed import at the grid connection point in W (≥ 0).",
                    0.0,
                    MAX_POWER_W,
                ),
            ),
        ),
    )
}

DEVICE_KINDS: tuple[AssetKind, ...] = tuple(k for k in AssetKind if k is not AssetKind.SITE)
"""The 13 kinds a device (or external service) provides; ``Site`` is built by the server."""

IDENTIFICATION_POINTS: tuple[PointSpec, ...] = (
    info("Manufacturer", "Manufacturer of the device."),
    info("Model", "Model name of the device."),
    info("SerialNumber", "Serial number of the device."),
    info("FirmwareVersion", "Firmware version of the device."),
    info("DeviceProfile", "The Ampacity device profile that drives the device."),
)
"""Children of every asset's ``Identification`` folder (BrowseNames as in OPC UA DI)."""

HEALTH_POINTS: tuple[PointSpec, ...] = (
    discrete("Connected", "The driver talks to the device now.", "Connected", "Disconnected"),
    info("LastGood", "Time of the last good read (UTC).", DataType.DATETIME),
    info("ErrorCount", "Failed requests since start.", DataType.UINT32),
    info("LastError", "The last error, with the address or request it happened at."),
    analog("PollDuration", u.MILLISECOND, "Duration of the last complete poll in ms.", 0.0, 1.0e7),
)
"""Children of every asset's ``Health`` object."""


def spec_for(kind: AssetKind) -> AssetSpec:
    return SPECS[kind]
