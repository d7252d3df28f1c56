"""A simulated RCT Power inverter speaking RCT's TCP protocol on loopback.

It answers READ frames with RESPONSE frames and takes WRITE frames silently (as the devices
do: the protocol has no acknowledgement). Behind it is a battery (``BatterySim``) that follows
``power_mng.battery_power_extern`` (W, + = discharge) while ``power_mng.soc_strategy`` is 2
(external), else evens out the grid (the inverter's own self-consumption control), moving at
most ``ramp_w_per_s`` per second and stopping at its SoC limits; PV and house load are fixed
numbers a test or the demo sets.

Faults for tests: ``corrupt_next(name)`` sends the next answer for an object with a wrong CRC,
``silent`` stops answering, ``garbage`` is sent before every answer, ``bat_status`` != 0
reports a battery that is not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable

from ampacity.drivers.rct.objects import BY_OID, OBJECTS, SOC_STRATEGY_EXTERNAL
from ampacity.drivers.rct.protocol import (
    Command,
    Frame,
    FrameError,
    FrameReader,
    decode_value,
    encode,
    encode_value,
)

from .battery import BatterySim


class RctSimulator:
    """One RCT inverter with a battery, a grid sensor and PV generators A and B.

    Args:
        capacity_wh: usable battery energy, Wh.
        max_power_w: the battery's charge and discharge limit, W.
        ramp_w_per_s: how fast the battery power follows its target, W/s.
        soc: initial state of charge, %.
        pv_w / load_w: PV generator A power and house load, W (changeable).
        clock: monotonic seconds (a fake clock in tests).
    """

    def __init__(
        self,
        *,
        capacity_wh: float = 9_600.0,
        max_power_w: float = 6_000.0,
        ramp_w_per_s: float = 2_000.0,
        soc: float = 50.0,
        pv_w: float = 0.0,
        load_w: float = 500.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.battery = BatterySim(
            capacity_wh=capacity_wh,
            max_charge_w=max_power_w,
            max_discharge_w=max_power_w,
            soc=soc,
            min_soc=7.0,
            max_soc=97.0,
            setpoint_timeout_s=math.inf,
            control_lag_s=0.0,
        )
        self.ramp_w_per_s = ramp_w_per_s
        self.pv_w = pv_w
        self.load_w = load_w
        self.clock = clock
        self.settings: dict[str, float | int | bool | str] = {
            "power_mng.soc_strategy": 4,
            "power_mng.battery_power_extern": 0.0,
            "power_mng.use_grid_power_enable": False,
            "power_mng.soc_min": 0.07,
            "power_mng.soc_max": 0.97,
            "battery.bat_status": 0,
            "battery.ah_capacity": 50.0,
            "battery.voltage": 192.0,
            "android_description": "PS 6.0 BA3L",
        }
        self.silent = False
        self.garbage = b""
        self.writes: list[tuple[str, float | int | bool | str]] = []
        self._corrupt: set[str] = set()
        self.corrupt_always: set[str] = set()
        """Objects whose every answer goes out with a wrong CRC."""
        self._grid_wh = [0.0, 0.0]  # import, export
        self._pv_wh = 0.0
        self._ac_wh = 0.0
        self._last = clock()
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    # --- control ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, host, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            if self._handlers:  # let each connection end on its EOF, not by a cancel
                await asyncio.wait(set(self._handlers), timeout=1.0)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def corrupt_next(self, name: str) -> None:
        """The next answer for object ``name`` goes out with a wrong CRC."""
        self._corrupt.add(name)

    @property
    def external(self) -> bool:
        return self.settings["power_mng.soc_strategy"] == SOC_STRATEGY_EXTERNAL

    # --- physics ---------------------------------------------------------------------------------

    def step(self) -> None:
        """Advance to the clock's now."""
        now = self.clock()
        dt = max(0.0, now - self._last)
        self._last = now
        if dt == 0:
            return
        bat = self.battery
        if self.external:
            target = float(self.settings["power_mng.battery_power_extern"])
            if target < 0 and not self.settings["power_mng.use_grid_power_enable"]:
                target = max(target, -max(0.0, self.pv_w - self.load_w))  # PV surplus only
        else:
            target = self.load_w - self.pv_w  # self-consumption: grid to zero
        reach = self.ramp_w_per_s * dt
        bat.set_setpoint(min(bat.power_w + reach, max(bat.power_w - reach, target)))
        power = bat.step(dt)
        hours = dt / 3600.0
        grid = self.load_w - self.pv_w - power
        self._grid_wh[0 if grid > 0 else 1] += abs(grid) * hours
        self._pv_wh += self.pv_w * hours
        self._ac_wh += abs(self.pv_w + power) * hours

    def value(self, name: str) -> float | int | bool | str:
        """The object's current value in the device's units."""
        bat = self.battery
        grid = self.load_w - self.pv_w - bat.power_w
        live: dict[str, float | int | bool | str] = {
            "battery.soc": bat.soc / 100.0,
            "g_sync.p_acc_lp": bat.power_w,
            "battery.stored_energy": bat.energy_charged_wh,
            "battery.used_energy": bat.energy_discharged_wh,
            "g_sync.p_ac_grid_sum_lp": grid,
            "energy.e_grid_load_total": self._grid_wh[0],
            "energy.e_grid_feed_total": self._grid_wh[1],
            "dc_conv.dc_conv_struct[0].p_dc": self.pv_w,
            "dc_conv.dc_conv_struct[1].p_dc": 0.0,
            "energy.e_dc_total[0]": self._pv_wh,
            "energy.e_dc_total[1]": 0.0,
            "g_sync.p_ac_sum_lp": self.pv_w + bat.power_w,
            "g_sync.p_ac_load_sum_lp": self.load_w,
            "energy.e_ac_total": self._ac_wh,
        }
        return live[name] if name in live else self.settings[name]

    # --- protocol --------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        frames = FrameReader()
        try:
            while chunk := await reader.read(4096):
                answers = b"".join(
                    self._answer(item) for item in frames.feed(chunk) if isinstance(item, Frame)
                )
                if answers and not self.silent:
                    writer.write(self.garbage + answers)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(writer)
            if task is not None:
                self._handlers.discard(task)
            writer.close()

    def _answer(self, frame: Frame) -> bytes:
        obj = BY_OID.get(frame.oid)
        if obj is None:
            return b""  # an unknown object: no answer
        if frame.command in (Command.WRITE, Command.LONG_WRITE):
            try:
                value = decode_value(obj.type, frame.data)
            except FrameError:
                return b""
            self.step()
            self.settings[obj.name] = value
            self.writes.append((obj.name, value))
            return b""
        if frame.command != Command.READ:
            return b""
        self.step()
        data = encode_value(obj.type, self.value(obj.name))
        if obj.type.name == "STRING":
            data = data.ljust(64, b"\x00")
        out = encode(Command.RESPONSE, obj.oid, data)
        if obj.name in self._corrupt or obj.name in self.corrupt_always:
            self._corrupt.discard(obj.name)
            out = out[:-1] + bytes([out[-1] ^ 0x01 if out[-1] not in (0x2A, 0x2C) else 0x00])
        return out


__all__ = ["OBJECTS", "RctSimulator"]
