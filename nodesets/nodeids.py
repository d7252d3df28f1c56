"""The numeric NodeIds of the types namespace: a fixed table, never derived from order or hashes.

A NodeId is ``block * 10000 + slot * 10 + member``:

* ``block`` names the owner: a type, or an object declared inside a type (:data:`BLOCKS`,
  :data:`KIND_BLOCKS`); the owner's own NodeId is ``block * 10000``.
* ``slot`` names the point (:data:`POINT_SLOTS`, one number per BrowseName, the same in every
  type), so ``PvInverterType.ActivePower`` is ``100010`` and ``BatteryType.ActivePower`` ``110010``.
* ``member`` names a property of the point's variable (:class:`Member`); ``0`` is the variable.

A NodeId, once published, never changes: new kinds and points get new numbers at the end of the
tables; a number is never reused.
"""

from __future__ import annotations

from enum import IntEnum

from ampacity.assets import AssetKind

BLOCK_SIZE = 10_000
SLOT_SIZE = 10


class Member(IntEnum):
    """A node that belongs to a point's variable."""

    VARIABLE = 0
    ENGINEERING_UNITS = 1
    EU_RANGE = 2
    TRUE_STATE = 3
    FALSE_STATE = 4
    ENUM_VALUES = 5
    VALUE_AS_TEXT = 6


BLOCKS: dict[str, int] = {
    "EnergyAssetType": 1,
    "IdentificationType": 2,
    "HealthType": 3,
    "EnergyAssetType.Identification": 4,
    "EnergyAssetType.Health": 5,
}
"""The owners that are not asset kinds."""

KIND_BLOCKS: dict[AssetKind, int] = {
    AssetKind.PV_INVERTER: 10,
    AssetKind.BATTERY: 11,
    AssetKind.CHARGE_POINT: 12,
    AssetKind.ELECTRICITY_METER: 13,
    AssetKind.HEAT_METER: 14,
    AssetKind.GAS_METER: 15,
    AssetKind.HEAT_PUMP: 16,
    AssetKind.HEATING_ROD: 17,
    AssetKind.FUEL_CELL: 18,
    AssetKind.CHP: 19,
    AssetKind.ELECTROLYSER: 20,
    AssetKind.RIPPLE_CONTROL_RECEIVER: 21,
    AssetKind.TARIFF: 22,
    AssetKind.SITE: 23,
}
"""The block of each kind's ObjectType (``<Kind>Type`` is ``i=<block * 10000>``)."""

POINT_SLOTS: dict[str, int] = {
    # Identification
    "Manufacturer": 1,
    "Model": 2,
    "SerialNumber": 3,
    "FirmwareVersion": 4,
    "DeviceProfile": 5,
    # Health
    "Connected": 6,
    "LastGood": 7,
    "ErrorCount": 8,
    "LastError": 9,
    "PollDuration": 10,
    # every electrical asset
    "ActivePower": 11,
    "ActivePowerL1": 12,
    "ActivePowerL2": 13,
    "ActivePowerL3": 14,
    "CurrentL1": 15,
    "CurrentL2": 16,
    "CurrentL3": 17,
    "VoltageL1": 18,
    "VoltageL2": 19,
    "VoltageL3": 20,
    "Frequency": 21,
    "ReactivePower": 22,
    # PV inverter
    "EnergyProduced": 23,
    "DcPower": 24,
    "NominalPower": 25,
    "OperatingState": 26,
    "ActivePowerLimit": 27,
    # battery
    "StateOfCharge": 28,
    "Capacity": 29,
    "MaxChargePower": 30,
    "MaxDischargePower": 31,
    "EnergyCharged": 32,
    "EnergyDischarged": 33,
    "BatteryPowerSetpoint": 34,
    # charge point
    "SessionEnergy": 35,
    "EnergyTotal": 36,
    "VehicleConnected": 37,
    "Charging": 38,
    "PhasesInUse": 39,
    "ChargeCurrentLimit": 40,
    "ChargePowerLimit": 41,
    "ChargeMode": 42,
    # electricity meter
    "EnergyImported": 43,
    "EnergyExported": 44,
    "Role": 45,
    # heat and gas meters
    "ThermalPower": 46,
    "HeatEnergy": 47,
    "FlowTemperature": 48,
    "ReturnTemperature": 49,
    "VolumeFlow": 50,
    "Volume": 51,
    # heat pump, heating rod, fuel cell, CHP, electrolyser
    "SgReadyState": 52,
    "Temperature": 53,
    "PowerSetpoint": 54,
    "RunState": 55,
    "HydrogenFlow": 56,
    "HydrogenProduced": 57,
    # ripple-control receiver
    "Contact1": 58,
    "Contact2": 59,
    "Contact3": 60,
    "Contact4": 61,
    "ActiveLimit": 62,
    # tariff
    "CurrentPrice": 63,
    "PriceForecast": 64,
    # site
    "GridPower": 65,
    "PvPower": 66,
    "BatteryPower": 67,
    "HouseConsumption": 68,
    "SelfConsumptionRate": 69,
    "AutarkyRate": 70,
    "FeedInLimit": 71,
    "GridImportLimit": 72,
    # added later (append only)
    "PhaseSetting": 73,
    "EnergyImportedT1": 74,
    "EnergyImportedT2": 75,
    "EnergyExportedT1": 76,
    "EnergyExportedT2": 77,
    "EnergyImportedL1": 78,
    "EnergyImportedL2": 79,
    "EnergyImportedL3": 80,
    "EnergyExportedL1": 81,
    "EnergyExportedL2": 82,
    "EnergyExportedL3": 83,
    "ApparentPower": 84,
    "PowerFactor": 85,
    "PowerFactorL1": 86,
    "PowerFactorL2": 87,
    "PowerFactorL3": 88,
    "HydrogenTankLevel": 89,
    "HydrogenPressure": 90,
    "OperatingHours": 91,
    "SessionEnergyLimit": 92,
    "AuthorizationRequired": 93,
    "VehicleSoc": 94,
    "BatteryState": 95,
    "ControlMode": 96,
}
"""One slot per point BrowseName; append new names with the next free number."""


class UnallocatedError(KeyError):
    """A kind or point has no number in the tables yet."""


def owner_id(block: int) -> int:
    """The NodeId of the owner of ``block`` (a type or an object declaration)."""
    return block * BLOCK_SIZE


def kind_block(kind: AssetKind) -> int:
    try:
        return KIND_BLOCKS[kind]
    except KeyError:
        raise UnallocatedError(
            f"{kind!r} has no block: add it to KIND_BLOCKS in nodesets/nodeids.py "
            f"with the next free number"
        ) from None


def member_id(block: int, point_name: str, member: Member = Member.VARIABLE) -> int:
    """The NodeId of a point's variable (or one of its properties) under the owner ``block``."""
    try:
        slot = POINT_SLOTS[point_name]
    except KeyError:
        raise UnallocatedError(
            f"point {point_name!r} has no slot: add it to POINT_SLOTS in nodesets/nodeids.py "
            f"with the next free number"
        ) from None
    return block * BLOCK_SIZE + slot * SLOT_SIZE + int(member)
