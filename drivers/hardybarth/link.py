"""The eCB1 controller's HTTP API (``/api/v1``) as a ``DeviceLink``.

Source: Hardy Barth / echarge "eCB1 API" (apidoc.ecb1.de). ``GET /chargecontrols/{id}`` answers
``{"chargecontrol": {"connected": bool, "stateid": int, "state": str, "mode": str,
"manualmodeamp": float, ...}}``: ``connected`` = a vehicle is plugged in, ``stateid`` 5 = charging
(IEC 61851 state C), 17 = charging disabled. ``GET /meters/{id}`` answers ``{"meter": {"data":
{OBIS code: value}}}`` with average-demand and energy codes only: ``1-0:1.4.0`` power in W,
``1-0:1.8.0`` energy in kWh, ``1-0:31.4.0``/``51.4.0``/``71.4.0`` currents in A,
``1-0:32.4.0``/``52.4.0``/``72.4.0`` voltages in V. Writes are form posts; the controller obeys
them only in ``manual`` mode.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from ampacity.assets import PointValue
from ampacity.drivers.runtime import DeviceError, PointKey, Sample

log = logging.getLogger("ampacity.drivers.hardybarth")

STATE_CHARGING = 5
STATE_DISABLED = 17

METER_POINTS: dict[str, tuple[str, float]] = {
    "ActivePower": ("1-0:1.4.0", 1.0),  # W, + = consumption
    "EnergyTotal": ("1-0:1.8.0", 1000.0),  # kWh -> Wh
    "CurrentL1": ("1-0:31.4.0", 1.0),
    "CurrentL2": ("1-0:51.4.0", 1.0),
    "CurrentL3": ("1-0:71.4.0", 1.0),
    "VoltageL1": ("1-0:32.4.0", 1.0),
    "VoltageL2": ("1-0:52.4.0", 1.0),
    "VoltageL3": ("1-0:72.4.0", 1.0),
}
"""Model point -> (OBIS code in the meter's ``data``, scale to the model unit)."""
STATUS_POINTS = ("VehicleConnected", "Charging", "ChargeCurrentLimit")


@dataclass(frozen=True, slots=True)
class EcbOptions:
    """Which charge control and meter of the controller, and the asset key."""

    asset_key: str
    chargecontrol: int = 1
    meter: int = 1


def status_points(body: Any, where: str) -> dict[str, PointValue]:
    """``GET /chargecontrols/{id}`` as points.

    Raises:
        DeviceError: not the eCB1 shape (e.g. a Salia controller, or garbage).
    """
    cc = body.get("chargecontrol") if isinstance(body, dict) else None
    if not isinstance(cc, dict):
        raise DeviceError(f"{where}: no 'chargecontrol' object (an eCB1 controller?)")
    connected, stateid, amps = cc.get("connected"), cc.get("stateid"), cc.get("manualmodeamp")
    if not isinstance(connected, bool):
        raise DeviceError(f"{where}: chargecontrol.connected is {connected!r}, not true/false")
    if isinstance(stateid, bool) or not isinstance(stateid, int):
        raise DeviceError(f"{where}: chargecontrol.stateid is {stateid!r}, not a number")
    out: dict[str, PointValue] = {
        "VehicleConnected": connected,
        "Charging": connected and stateid == STATE_CHARGING,
    }
    if isinstance(amps, int | float) and not isinstance(amps, bool):
        out["ChargeCurrentLimit"] = 0.0 if stateid == STATE_DISABLED else float(amps)
    return out


def meter_points(body: Any, where: str) -> dict[str, PointValue]:
    """``GET /meters/{id}`` as points (codes the meter does not send are left out).

    Raises:
        DeviceError: not the eCB1 shape, or a value that is not a number.
    """
    meter = body.get("meter") if isinstance(body, dict) else None
    data = meter.get("data") if isinstance(meter, dict) else None
    if not isinstance(data, dict):
        raise DeviceError(f"{where}: no 'meter.data' object")
    out: dict[str, PointValue] = {}
    for point, (code, scale) in METER_POINTS.items():
        if code not in data:
            continue
        value = data[code]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DeviceError(f"{where}: meter.data[{code!r}] is {value!r}, not a number")
        out[point] = round(float(value) * scale, 6)
    return out


class EcbLink:
    """One eCB1 controller (a ``DeviceLink``).

    Args:
        url: the controller's base URL (``http://192.0.2.20``); ``/api/v1`` is added.
        options: charge control and meter ids.
    """

    def __init__(self, url: str, options: EcbOptions) -> None:
        self.base = url.rstrip("/") + "/api/v1"
        self.options = options
        self._session: aiohttp.ClientSession | None = None
        self._manual = False
        self._disabled: bool | None = None

    @property
    def endpoint(self) -> str:
        return self.base

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        return self._session

    async def _get(self, path: str) -> Any:
        url = f"{self.base}{path}"
        try:
            async with self._http().get(url) as response:
                if response.status != 200:
                    raise DeviceError(f"{url} answered HTTP {response.status}")
                text = await response.text()
        except aiohttp.ClientConnectionError as exc:
            raise OSError(f"cannot reach {url}: {exc}") from exc
        try:
            return json.loads(text)
        except ValueError as exc:
            raise DeviceError(f"{url}: the answer is not JSON: {text[:40]!r}") from exc

    async def _post(self, path: str, form: Mapping[str, str] | None = None) -> None:
        url = f"{self.base}{path}"
        try:
            async with self._http().post(url, data=dict(form or {})) as response:
                if response.status >= 400:
                    raise DeviceError(f"{url} refused: HTTP {response.status}")
        except aiohttp.ClientConnectionError as exc:
            raise OSError(f"cannot reach {url}: {exc}") from exc

    async def read(self) -> Mapping[PointKey, PointValue | Sample]:
        """The charge control's state and the meter's values.

        Raises:
            DeviceError, OSError: no usable answer (the runtime counts and logs).
        """
        key = self.options.asset_key
        cc_path = f"/chargecontrols/{self.options.chargecontrol}"
        meter_path = f"/meters/{self.options.meter}"
        try:
            status = status_points(await self._get(cc_path), f"{self.base}{cc_path}")
            meter = meter_points(await self._get(meter_path), f"{self.base}{meter_path}")
        except (DeviceError, OSError):
            self._manual = False
            raise
        self._disabled = status.get("ChargeCurrentLimit") == 0.0
        return {(key, name): value for name, value in {**status, **meter}.items()}

    async def write(self, point: PointKey, value: float | int | bool) -> PointValue:
        """``ChargeCurrentLimit`` in whole A; 0 stops charging, a current starts it again.

        Raises:
            DeviceError, OSError: the controller refused or did not answer.
        """
        if point[1] != "ChargeCurrentLimit":
            raise DeviceError(f"{self.base}: {point[1]} is not writable on an eCB1")
        cc = f"/chargecontrols/{self.options.chargecontrol}"
        if not self._manual:  # external control needs mode 'manual' (not 'eco')
            await self._post(f"{cc}/mode", {"mode": "manual"})
            self._manual = True
        amps = round(float(value))
        if amps <= 0:
            await self._post(f"{cc}/stop")
            self._disabled = True
            return 0.0
        await self._post(f"{cc}/mode/manual/ampere", {"manualmodeamp": str(amps)})
        if self._disabled is not False:
            await self._post(f"{cc}/start")
            self._disabled = False
        return float(amps)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
