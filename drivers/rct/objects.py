"""The RCT objects the driver reads and writes: name, object id, value type, unit.

Names and ids as the devices use them (RCT's object names; the ids are the ones the RCT app
sends). Units and signs are the device's: powers W, energies Wh, ``battery.soc`` and the SoC
limits as fractions 0..1. A profile names objects by these names; an unknown name is a profile
error.
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocol import ValueType


@dataclass(frozen=True, slots=True)
class RctObject:
    name: str
    oid: int
    type: ValueType
    meaning: str


OBJECTS: dict[str, RctObject] = {
    o.name: o
    for o in (
        # battery
        RctObject("battery.soc", 0x959930BF, ValueType.FLOAT, "state of charge, 0..1"),
        RctObject("g_sync.p_acc_lp", 0x400F015B, ValueType.FLOAT, "battery power W, + = discharge"),
        RctObject("battery.stored_energy", 0x5570401B, ValueType.FLOAT, "Wh into the battery"),
        RctObject("battery.used_energy", 0xA9033880, ValueType.FLOAT, "Wh out of the battery"),
        RctObject("battery.bat_status", 0x70A2AF4F, ValueType.INT32, "battery status, 0 = ready"),
        RctObject("battery.voltage", 0x65EED11B, ValueType.FLOAT, "battery voltage V"),
        RctObject("battery.ah_capacity", 0xB57B59BD, ValueType.FLOAT, "battery capacity Ah"),
        # power management (the setpoint)
        RctObject("power_mng.soc_strategy", 0xF168B748, ValueType.UINT8, "2 external, 4 internal"),
        RctObject(
            "power_mng.battery_power_extern", 0xBD008E29, ValueType.FLOAT, "W, + = discharge"
        ),
        RctObject("power_mng.use_grid_power_enable", 0x36A9E9A6, ValueType.BOOL, "grid charging"),
        RctObject("power_mng.soc_min", 0xCE266F0F, ValueType.FLOAT, "lowest SoC, 0..1"),
        RctObject("power_mng.soc_max", 0x97997C93, ValueType.FLOAT, "highest SoC, 0..1"),
        # grid (the inverter's own sensor)
        RctObject("g_sync.p_ac_grid_sum_lp", 0x91617C58, ValueType.FLOAT, "grid W, + = import"),
        RctObject("energy.e_grid_load_total", 0x62FBE7DC, ValueType.FLOAT, "Wh from the grid"),
        RctObject("energy.e_grid_feed_total", 0x44D4C533, ValueType.FLOAT, "Wh into the grid"),
        # PV generators A and B, the inverter's AC side, the house
        RctObject("dc_conv.dc_conv_struct[0].p_dc", 0xB5317B78, ValueType.FLOAT, "PV A W"),
        RctObject("dc_conv.dc_conv_struct[1].p_dc", 0xAA9AA253, ValueType.FLOAT, "PV B W"),
        RctObject("energy.e_dc_total[0]", 0xFC724A9E, ValueType.FLOAT, "PV A Wh"),
        RctObject("energy.e_dc_total[1]", 0x68EEFD3D, ValueType.FLOAT, "PV B Wh"),
        RctObject("g_sync.p_ac_sum_lp", 0xDB2D69AE, ValueType.FLOAT, "inverter AC W"),
        RctObject("g_sync.p_ac_load_sum_lp", 0x1AC87AA0, ValueType.FLOAT, "house load W"),
        RctObject("energy.e_ac_total", 0xB1EF67CE, ValueType.FLOAT, "inverter AC Wh"),
        # identification
        RctObject("android_description", 0xEBC62737, ValueType.STRING, "device name"),
    )
}

BY_OID: dict[int, RctObject] = {o.oid: o for o in OBJECTS.values()}

SOC_STRATEGY_EXTERNAL = 2
"""``power_mng.soc_strategy``: the battery follows ``power_mng.battery_power_extern``."""
SOC_STRATEGY_INTERNAL = 4
"""``power_mng.soc_strategy``: the inverter's own self-consumption control (factory default)."""
