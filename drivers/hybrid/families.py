"""Device families of the hybrid driver: what to read, how values are derived, how the battery
setpoint is written and how control is handed back.

Units and signs of the model: power W, energy Wh; battery + = discharge, grid + = import,
PV + = production.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from ampacity.assets import AssetKind, PointValue, Quality, WriteError
from ampacity.drivers.modbus import ModbusExceptionResponse, ModbusLink
from ampacity.drivers.runtime import PointKey, Sample

NOT_AVAILABLE = Sample(None, Quality.BAD_OUT_OF_RANGE)


@dataclass(frozen=True, slots=True)
class Registers:
    """One unit id behind a Modbus link, with the few decoders the families need."""

    link: ModbusLink
    unit_id: int

    async def input(self, address: int, count: int) -> list[int]:
        return await self.link.read_input_registers(self.unit_id, address, count)

    async def holding(self, address: int, count: int) -> list[int]:
        return await self.link.read_holding_registers(self.unit_id, address, count)

    async def write_many(self, address: int, values: list[int]) -> None:
        """FC16; a Modbus exception becomes a ``WriteError`` naming the registers."""
        try:
            await self.link.write_registers(self.unit_id, address, values)
        except ModbusExceptionResponse as exc:
            raise WriteError(f"registers {address}.. = {values} refused: {exc}") from exc

    async def write_one(self, address: int, value: int) -> None:
        """FC6; a Modbus exception becomes a ``WriteError`` naming the register."""
        try:
            await self.link.write_register(self.unit_id, address, value)
        except ModbusExceptionResponse as exc:
            raise WriteError(f"register {address} = {value} refused: {exc}") from exc


def s16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


def u32_low_first(words: list[int], at: int) -> int:
    return words[at] | words[at + 1] << 16


def s32_low_first(words: list[int], at: int) -> int:
    value = u32_low_first(words, at)
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


class Family(Protocol):
    """How one device family is read and driven."""

    name: ClassVar[str]
    assets: ClassVar[tuple[tuple[str, AssetKind, tuple[str, ...]], ...]]
    """``(asset key, kind, points)``; the battery asset's ``BatteryPowerSetpoint`` included."""
    write_only: ClassVar[tuple[str, ...]]
    """Points the device cannot report back (they show the value written)."""

    async def read(self, io: Registers) -> Mapping[PointKey, PointValue | Sample]:
        """One poll's point values (raises ``ModbusIOError`` when the device does not answer)."""
        ...

    async def write_battery(self, io: Registers, watts: float) -> float | None:
        """Send ``BatteryPowerSetpoint`` (W, + = discharge); return the read-back in W
        (``None``: the device's setpoint register cannot be read back).

        Raises:
            WriteError: refused, or the read-back shows the device did not take it.
        """
        ...

    async def release(self, io: Registers) -> None:
        """Hand the battery back to the device's own control."""
        ...


DEVICE_CONTROL, EXTERNAL_CONTROL = 1, 2
"""The model's ControlMode values (assets.kinds.CONTROL_MODES)."""
CONTROL_MODES_SUNGROW = {0: DEVICE_CONTROL, 2: EXTERNAL_CONTROL}
"""Sungrow EMS mode 13049 -> ControlMode: 0 self-consumption, 2 forced mode (the setpoint)."""
CONTROL_MODES_GOODWE = {
    1: DEVICE_CONTROL,
    8: EXTERNAL_CONTROL,
    11: EXTERNAL_CONTROL,
    12: EXTERNAL_CONTROL,
}
"""GoodWe EMS mode 47511 -> ControlMode: 1 auto (self-use); 8 / 11 / 12 the setpoint's modes."""


class SungrowSh:
    """Sungrow SH hybrids (SH*RS single-phase, SH*RT / SH*T three-phase).

    Input registers (protocol addresses, one below the register numbers of Sungrow's table):
    13000 running state (bit 1 charging, bit 2 discharging), 13002 total PV energy (U32, low
    word first, 0.1 kWh), 13009 export power (S32 low word first, W, + = export), 13021 battery
    power (U16 W, always >= 0), 13022 SoC (0.1 %), 13026 battery discharge energy, 13036
    imported, 13040 battery charge, 13045 exported energy (U32 low word first, 0.1 kWh), 5016
    total DC power (U32 low word first, W). Holding registers: 13049 EMS mode (0 self-consumption,
    2 forced), 13050 forced command (0xAA charge, 0xBB discharge, 0xCC stop), 13051 forced power
    (W), all written with FC6.
    """

    name: ClassVar[str] = "sungrow_sh"
    write_only: ClassVar[tuple[str, ...]] = ()
    assets: ClassVar[tuple[tuple[str, AssetKind, tuple[str, ...]], ...]] = (
        (
            "battery",
            AssetKind.BATTERY,
            (
                "ActivePower",
                "StateOfCharge",
                "EnergyCharged",
                "EnergyDischarged",
                "BatteryPowerSetpoint",
                "ControlMode",
            ),
        ),
        ("grid", AssetKind.ELECTRICITY_METER, ("ActivePower", "EnergyImported", "EnergyExported")),
        ("pv", AssetKind.PV_INVERTER, ("ActivePower", "DcPower", "EnergyProduced")),
    )
    EMS_MODE = 13049
    SELF_CONSUMPTION, FORCED = 0, 2
    CHARGE, DISCHARGE, STOP = 0xAA, 0xBB, 0xCC
    CHARGING_BIT, DISCHARGING_BIT = 0x0002, 0x0004

    async def read(self, io: Registers) -> Mapping[PointKey, PointValue | Sample]:
        a = await io.input(13000, 28)  # 13000..13027
        b = await io.input(13036, 11)  # 13036..13046
        dc = await io.input(5016, 2)
        mode, command, forced = await io.holding(self.EMS_MODE, 3)
        state, magnitude = a[0], a[21]
        battery: PointValue | Sample
        if state == 0xFFFF:  # some SH*RS do not fill the running state: direction unknown
            battery = NOT_AVAILABLE if magnitude else 0
        elif state & self.CHARGING_BIT:
            battery = -magnitude
        elif state & self.DISCHARGING_BIT:
            battery = magnitude
        else:
            battery = 0 if magnitude == 0 else NOT_AVAILABLE
        soc = a[22]
        pv_w = u32_low_first(dc, 0)
        return {
            ("battery", "ActivePower"): battery,
            ("battery", "StateOfCharge"): NOT_AVAILABLE if soc > 1000 else soc / 10,
            ("battery", "EnergyDischarged"): u32_low_first(a, 26) * 100,
            ("battery", "EnergyCharged"): u32_low_first(b, 4) * 100,
            ("grid", "ActivePower"): -s32_low_first(a, 9),
            ("grid", "EnergyImported"): u32_low_first(b, 0) * 100,
            ("grid", "EnergyExported"): u32_low_first(b, 9) * 100,
            ("pv", "ActivePower"): pv_w,
            ("pv", "DcPower"): pv_w,
            ("pv", "EnergyProduced"): u32_low_first(a, 2) * 100,
            ("battery", "BatteryPowerSetpoint"): self._held(mode, command, forced),
            ("battery", "ControlMode"): CONTROL_MODES_SUNGROW.get(mode, NOT_AVAILABLE),
        }

    def _held(self, mode: int, command: int, power: int) -> PointValue | Sample:
        """The forced-mode setpoint in force (W, + = discharge); none in self-consumption."""
        if mode != self.FORCED:
            return NOT_AVAILABLE
        return {self.DISCHARGE: power, self.CHARGE: -power}.get(command, 0)

    async def write_battery(self, io: Registers, watts: float) -> float:
        power = round(abs(watts))
        command = self.DISCHARGE if watts > 0 else self.CHARGE if watts < 0 else self.STOP
        await io.write_one(13051, power if command != self.STOP else 0)
        await io.write_one(13050, command)
        await io.write_one(self.EMS_MODE, self.FORCED)
        mode, back_command, back_power = await io.holding(self.EMS_MODE, 3)
        if mode != self.FORCED or back_command != command:
            raise WriteError(
                f"EMS mode {mode}, command 0x{back_command:02X} after writing forced mode 2 with "
                f"0x{command:02X}: setpoint not taken"
            )
        if command == self.STOP:
            return 0.0
        return float(back_power if command == self.DISCHARGE else -back_power)

    async def release(self, io: Registers) -> None:
        await io.write_one(13050, self.STOP)
        await io.write_one(self.EMS_MODE, self.SELF_CONSUMPTION)


SMA_NAN_U32 = 0xFFFF_FFFF
SMA_NAN_S32 = 0x8000_0000
SMA_NAN_U64 = 0xFFFF_FFFF_FFFF_FFFF


def _u(words: list[int]) -> int:
    value = 0
    for word in words:
        value = value << 16 | word
    return value


def _sma_u32(words: list[int]) -> int | Sample:
    value = _u(words)
    return NOT_AVAILABLE if value == SMA_NAN_U32 else value


def _sma_s32(words: list[int]) -> int | Sample:
    value = _u(words)
    if value == SMA_NAN_S32:
        return NOT_AVAILABLE
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


def _sma_u64(words: list[int]) -> int | Sample:
    value = _u(words)
    return NOT_AVAILABLE if value == SMA_NAN_U64 else value


class SmaStpSe:
    """SMA Sunny Tripower Smart Energy (STP x.0-3SE) on the SMA Modbus profile, unit 3.

    Holding registers, high word first (SMA's addresses as protocol addresses): 30773 / 30961
    DC power of trackers A / B (S32 W), 30845 SoC (U32 %), 31393 / 31395 battery charge /
    discharge power (U32 W, each >= 0), 31397 / 31401 battery charged / discharged energy (U64
    Wh), 40187 battery capacity (U32 Wh). The setpoint: 40149 (S32 W, + = discharge) and 40151 =
    802 (active) in one FC16 request; 803 hands control back. SMA's NaN values (U32 all ones,
    S32 0x80000000, U64 all ones) are "not available".
    """

    name: ClassVar[str] = "sma_stp_se"
    write_only: ClassVar[tuple[str, ...]] = ("BatteryPowerSetpoint",)
    assets: ClassVar[tuple[tuple[str, AssetKind, tuple[str, ...]], ...]] = (
        (
            "battery",
            AssetKind.BATTERY,
            (
                "ActivePower",
                "StateOfCharge",
                "EnergyCharged",
                "EnergyDischarged",
                "Capacity",
                "BatteryPowerSetpoint",
            ),
        ),
        ("pv", AssetKind.PV_INVERTER, ("ActivePower", "DcPower")),
    )
    ACTIVE, INACTIVE = 802, 803

    async def read(self, io: Registers) -> Mapping[PointKey, PointValue | Sample]:
        soc = _sma_u32(await io.holding(30845, 2))
        flow = await io.holding(31393, 12)  # 31393..31404
        charge, discharge = _sma_u32(flow[0:2]), _sma_u32(flow[2:4])
        power: PointValue | Sample
        if isinstance(charge, Sample) or isinstance(discharge, Sample):
            power = NOT_AVAILABLE
        else:
            power = discharge - charge
        a = _sma_s32(await io.holding(30773, 2))
        b = _sma_s32(await io.holding(30961, 2))
        parts = [p for p in (a, b) if not isinstance(p, Sample)]
        dc: PointValue | Sample = sum(parts) if parts else NOT_AVAILABLE
        return {
            ("battery", "ActivePower"): power,
            ("battery", "StateOfCharge"): soc,
            ("battery", "EnergyCharged"): _sma_u64(flow[4:8]),
            ("battery", "EnergyDischarged"): _sma_u64(flow[8:12]),
            ("battery", "Capacity"): _sma_u32(await io.holding(40187, 2)),
            ("pv", "ActivePower"): dc,
            ("pv", "DcPower"): dc,
        }

    async def write_battery(self, io: Registers, watts: float) -> float | None:
        raw = round(watts) & 0xFFFF_FFFF
        await io.write_many(40149, [raw >> 16, raw & 0xFFFF, 0, self.ACTIVE])
        return None  # 40149 is write-only on SMA devices

    async def release(self, io: Registers) -> None:
        await io.write_many(40151, [0, self.INACTIVE])


class GoodweEt:
    """GoodWe ET / EH / BT / BH hybrids over Modbus TCP (LAN dongle or LAN port, unit 247).

    Holding registers, high word first: 35105 / 35109 / 35113 / 35117 PV1-PV4 power (U32 W),
    35182 battery 1 power (S32 W, + = discharge), 35206 / 35209 total battery charge /
    discharge (U32, 0.1 kWh), 37007 battery 1 SoC (U16 %). The setpoint is GoodWe's EMS mode:
    47511 = 12 (discharge battery at Xset), 11 (charge battery at Xset) or 8 (battery standby),
    47512 = Xset (U16 W); 1 (auto, self-use) hands control back.
    """

    name: ClassVar[str] = "goodwe_et"
    write_only: ClassVar[tuple[str, ...]] = ()
    assets: ClassVar[tuple[tuple[str, AssetKind, tuple[str, ...]], ...]] = (
        (
            "battery",
            AssetKind.BATTERY,
            (
                "ActivePower",
                "StateOfCharge",
                "EnergyCharged",
                "EnergyDischarged",
                "BatteryPowerSetpoint",
                "ControlMode",
            ),
        ),
        ("pv", AssetKind.PV_INVERTER, ("ActivePower", "DcPower")),
    )
    EMS_MODE = 47511
    AUTO, STANDBY, CHARGE, DISCHARGE = 1, 8, 11, 12

    async def read(self, io: Registers) -> Mapping[PointKey, PointValue | Sample]:
        pv = await io.holding(35105, 14)  # 35105..35118
        battery = await io.holding(35182, 2)
        energy = await io.holding(35206, 6)  # 35206..35211
        soc = (await io.holding(37007, 1))[0]
        mode, set_w = await io.holding(self.EMS_MODE, 2)
        pv_w = sum(_u(pv[i : i + 2]) for i in (0, 4, 8, 12) if _u(pv[i : i + 2]) != SMA_NAN_U32)
        power = _u(battery)
        return {
            ("battery", "ActivePower"): power - 0x1_0000_0000 if power & 0x8000_0000 else power,
            ("battery", "StateOfCharge"): NOT_AVAILABLE if soc > 100 else soc,
            ("battery", "EnergyCharged"): _u(energy[0:2]) * 100,
            ("battery", "EnergyDischarged"): _u(energy[3:5]) * 100,
            ("pv", "ActivePower"): pv_w,
            ("pv", "DcPower"): pv_w,
            ("battery", "BatteryPowerSetpoint"): (
                {self.DISCHARGE: set_w, self.CHARGE: -set_w, self.STANDBY: 0}.get(
                    mode, NOT_AVAILABLE
                )
            ),
            ("battery", "ControlMode"): CONTROL_MODES_GOODWE.get(mode, NOT_AVAILABLE),
        }

    async def write_battery(self, io: Registers, watts: float) -> float | None:
        power = round(abs(watts))
        mode = self.DISCHARGE if watts > 0 else self.CHARGE if watts < 0 else self.STANDBY
        await io.write_one(47512, power if mode != self.STANDBY else 0)
        await io.write_one(self.EMS_MODE, mode)
        back_mode, back_power = await io.holding(self.EMS_MODE, 2)
        if back_mode != mode:
            raise WriteError(f"EMS mode {back_mode} after writing {mode}: setpoint not taken")
        if mode == self.STANDBY:
            return 0.0
        return float(back_power if mode == self.DISCHARGE else -back_power)

    async def release(self, io: Registers) -> None:
        await io.write_one(47512, 0)
        await io.write_one(self.EMS_MODE, self.AUTO)


class VictronGxThreePhase:
    """Victron GX with a three-phase VE.Bus system (three Multis / Quattros), ESS mode 3.

    System values on unit 100 (holding): 808-813 PV inverters on AC-out / AC-in L1-L3 (U16 W),
    820-822 grid L1-L3 (S16 W, + = import), 842 battery power (S16 W, + = charging), 843 SoC
    (U16 %), 850 DC PV power (U16 W). The setpoint goes to the device's own unit (the VE.Bus
    unit): 37 / 40 / 41 AC-input power setpoints L1 / L2 / L3 (S16 W, + = taken from the grid),
    written as one FC16 block 37..41 with 38 (disable charge) and 39 (disable feed-in) = 0. The
    VE.Bus state (31, U16) becomes ``BatteryState``, the ESS mode (2902 on unit 100, U16) becomes
    ``ControlMode``; a setpoint is refused before it is written unless the ESS mode is 3.
    """

    name: ClassVar[str] = "victron_gx_3p"
    write_only: ClassVar[tuple[str, ...]] = ()
    assets: ClassVar[tuple[tuple[str, AssetKind, tuple[str, ...]], ...]] = (
        (
            "battery",
            AssetKind.BATTERY,
            (
                "ActivePower",
                "StateOfCharge",
                "BatteryPowerSetpoint",
                "BatteryState",
                "ControlMode",
            ),
        ),
        (
            "grid",
            AssetKind.ELECTRICITY_METER,
            ("ActivePower", "ActivePowerL1", "ActivePowerL2", "ActivePowerL3"),
        ),
        ("pv", AssetKind.PV_INVERTER, ("ActivePower", "DcPower")),
    )
    SYSTEM_UNIT = 100
    ESS_MODE = 2902
    ESS_EXTERNAL_CONTROL = 3
    VEBUS_STATES: ClassVar[dict[int, int]] = {
        0: 1, 1: 2, 2: 7, 3: 3, 4: 3, 5: 3, 6: 3, 7: 3, 8: 5, 9: 4, 10: 4, 11: 8, 252: 6
    }  # fmt: skip
    """VE.Bus /State -> the model's BatteryState (as in the victron_gx profile)."""
    CONTROL_MODES: ClassVar[dict[int, int]] = {
        1: DEVICE_CONTROL,
        2: DEVICE_CONTROL,
        3: EXTERNAL_CONTROL,
    }
    """ESS mode (Hub4Mode) -> ControlMode: 1, 2 the GX's own ESS, 3 external control."""

    @staticmethod
    def _enum(table: Mapping[int, int], raw: int) -> PointValue | Sample:
        return table.get(raw, NOT_AVAILABLE)

    async def read(self, io: Registers) -> Mapping[PointKey, PointValue | Sample]:
        system = Registers(io.link, self.SYSTEM_UNIT)
        pv_ac = await system.holding(808, 6)
        grid = [s16(w) for w in await system.holding(820, 3)]
        battery = await system.holding(842, 2)
        pv_dc = (await system.holding(850, 1))[0]
        ac_in = await io.holding(37, 5)
        vebus_state = (await io.holding(31, 1))[0]
        ess_mode = (await system.holding(self.ESS_MODE, 1))[0]
        pv = sum(w for w in pv_ac if w != 0xFFFF) + (pv_dc if pv_dc != 0xFFFF else 0)
        return {
            ("battery", "ActivePower"): -s16(battery[0]),  # GX: + = charging
            ("battery", "StateOfCharge"): battery[1],
            ("grid", "ActivePower"): sum(grid),
            ("grid", "ActivePowerL1"): grid[0],
            ("grid", "ActivePowerL2"): grid[1],
            ("grid", "ActivePowerL3"): grid[2],
            ("pv", "ActivePower"): pv,
            ("pv", "DcPower"): pv_dc if pv_dc != 0xFFFF else NOT_AVAILABLE,
            ("battery", "BatteryPowerSetpoint"): -(s16(ac_in[0]) + s16(ac_in[3]) + s16(ac_in[4])),
            ("battery", "BatteryState"): self._enum(self.VEBUS_STATES, vebus_state),
            ("battery", "ControlMode"): self._enum(self.CONTROL_MODES, ess_mode),
        }

    async def write_battery(self, io: Registers, watts: float) -> float | None:
        mode = (await Registers(io.link, self.SYSTEM_UNIT).holding(self.ESS_MODE, 1))[0]
        if mode != self.ESS_EXTERNAL_CONTROL:
            raise WriteError(
                f"ESS mode {mode} (register 2902): the GX's own ESS control overwrites the "
                "setpoint; set ESS mode 3 'External control' on the GX"
            )
        per_phase = -round(watts / 3)  # AC-in: + = from the grid, the battery's - sign
        word = per_phase & 0xFFFF
        await io.write_many(37, [word, 0, 0, word, word])
        back = await io.holding(37, 5)
        held = [s16(back[0]), s16(back[3]), s16(back[4])]
        if held != [per_phase] * 3:
            raise WriteError(
                f"AC-in setpoints L1-L3 are {held} W after writing {per_phase} W each: setpoint "
                "not taken (ESS mode 3 'External control' not set, or the GX overwrites them)"
            )
        return float(-sum(held))

    async def release(self, io: Registers) -> None:
        await io.write_many(37, [0, 0, 0, 0, 0])


FAMILIES: dict[
    str, type[SungrowSh] | type[SmaStpSe] | type[GoodweEt] | type[VictronGxThreePhase]
] = {
    SungrowSh.name: SungrowSh,
    SmaStpSe.name: SmaStpSe,
    GoodweEt.name: GoodweEt,
    VictronGxThreePhase.name: VictronGxThreePhase,
}
