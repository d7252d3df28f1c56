"""Typed Protocols per asset kind: what control and the simulator may rely on.

Attribute names are the snake_case forms of the model's BrowseNames with the unit as suffix, so a
reader never has to guess a unit or a sign (``active_power_w``: W, sign as in ``kinds``). ``None``
means the device does not provide the value or it is not usable now.
"""

from __future__ import annotations

from typing import Protocol


class Electrical(Protocol):
    active_power_w: float | None


class PvInverter(Electrical, Protocol):
    """``active_power_w``: positive = production."""

    nominal_power_w: float | None
    energy_produced_wh: float | None
    active_power_limit_w: float | None


class Battery(Electrical, Protocol):
    """``active_power_w`` and ``battery_power_setpoint_w``: positive = discharge."""

    state_of_charge_pct: float | None
    capacity_wh: float | None
    max_charge_power_w: float | None
    max_discharge_power_w: float | None
    battery_power_setpoint_w: float | None


class ChargePoint(Electrical, Protocol):
    """``active_power_w``: positive = consumption."""

    vehicle_connected: bool | None
    charging: bool | None
    phases_in_use: int | None
    session_energy_wh: float | None
    charge_current_limit_a: float | None
    charge_mode: int | None


class ElectricityMeter(Electrical, Protocol):
    """``active_power_w`` of a grid meter: positive = import."""

    energy_imported_wh: float | None
    energy_exported_wh: float | None
    role: int | None


class HeatMeter(Protocol):
    thermal_power_w: float | None
    heat_energy_wh: float | None
    flow_temperature_c: float | None
    return_temperature_c: float | None


class GasMeter(Protocol):
    volume_m3: float | None
    volume_flow_m3_per_h: float | None


class HeatPump(Electrical, Protocol):
    sg_ready_state: int | None


class HeatingRod(Electrical, Protocol):
    temperature_c: float | None
    power_setpoint_w: float | None


class FuelCell(Electrical, Protocol):
    thermal_power_w: float | None
    run_state: int | None
    power_setpoint_w: float | None


class Chp(Electrical, Protocol):
    thermal_power_w: float | None
    run_state: int | None
    power_setpoint_w: float | None


class Electrolyser(Electrical, Protocol):
    hydrogen_flow_kg_per_h: float | None
    power_setpoint_w: float | None


class RippleControlReceiver(Protocol):
    contacts: tuple[bool, bool, bool, bool]
    active_limit_pct: float | None


class Tariff(Protocol):
    current_price_per_kwh: float | None


class Site(Protocol):
    """``grid_power_w``: positive = import; ``battery_power_w``: positive = discharge."""

    grid_power_w: float | None
    pv_power_w: float | None
    battery_power_w: float | None
    house_consumption_w: float | None
    feed_in_limit_w: float | None
    grid_import_limit_w: float | None
