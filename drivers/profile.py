"""The device-profile schema: a declarative register map of one device family.

A profile is a YAML file under ``drivers/profiles/``. It names the products it covers and the
compatibility-list rows it serves, cites the vendor document its facts come from, sets transport
defaults, and maps device registers onto the points of one or more assets (a charging station with
two connectors has two ``ChargePoint`` assets). One generic engine (``drivers.modbus``) serves
every profile; the simulator (``sim``) serves the same registers from a physical model.

Conventions:
    * ``address`` is the 0-based Modbus protocol address (what goes into the PDU).
    * A value in the model = ``raw * scale + offset``, then multiplied by ``sign`` (``-1`` turns a
      device's "positive = charging" into the model's "positive = discharge").
    * Writes invert that chain: ``raw = (value * sign - offset) / scale``.
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from ampacity.assets import SPECS, AssetKind
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .codec import WireType
from .yamlpos import SAFE_LOADER

PROFILE_DIR = Path(__file__).parent / "profiles"


class Function(Enum):
    """Modbus data table a point lives in."""

    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"

    @property
    def is_bit(self) -> bool:
        return self in (Function.COIL, Function.DISCRETE_INPUT)


class SentinelQuality(Enum):
    """What a "not available" raw value means for the point's quality."""

    OUT_OF_RANGE = "out_of_range"
    SENSOR_FAILURE = "sensor_failure"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SerialDefaults(_Strict):
    """RS485 line settings the device ships with."""

    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class Transport(_Strict):
    """How to reach the device and how it lays out its registers."""

    port: int = Field(502, ge=1, le=65535, description="Modbus TCP port.")
    unit_id: int = Field(1, ge=0, le=255)
    word_order: Literal["big", "little"] = "big"
    byte_swap: bool = False
    default_function: Function = Function.HOLDING
    max_registers_per_read: int = Field(
        125, ge=1, le=125, description="Largest read block (Modbus limit 125)."
    )
    max_gap: int = Field(
        8,
        ge=0,
        le=125,
        description="Unused registers a coalesced read may span between two points.",
    )
    serial: SerialDefaults = SerialDefaults()
    inter_frame_gap_ms: float = Field(
        5.0, ge=0, description="Pause between two requests on a shared RS485 bus."
    )
    timeout_s: float = Field(1.0, gt=0, le=30)
    connect_delay_s: float = Field(
        0.0,
        ge=0,
        le=30,
        description=(
            "Modbus TCP: wait this long after every (re)connect before the first request "
            "(devices that fail requests right after a connect: Huawei SDongle, SmartLogger)."
        ),
    )
    request_gap_ms: float = Field(
        0.0,
        ge=0,
        le=5000,
        description=(
            "Modbus TCP: least pause between two requests on the connection (slow gateways: "
            "Huawei SDongle, Sungrow WiNet-S); RS485 uses inter_frame_gap_ms."
        ),
    )
    nan_sentinels: bool = Field(
        True,
        description=(
            "Treat the per-type 'not available' patterns (0xFFFF, 0x8000, 0xFFFFFFFF, "
            "0x80000000, ..., NaN) as sentinels."
        ),
    )


class WriteStep(_Strict):
    """A fixed register value written together with (before) a setpoint, e.g. an enable flag."""

    address: int = Field(ge=0, le=65535)
    type: WireType = WireType.U16
    value: float
    once: bool = Field(
        False,
        description=(
            "Write this step only before the first setpoint write after each (re)connect, not "
            "with every write or refresh: for mode registers the device persists to flash "
            "(e.g. SMA 40210 = 1079), where cyclic writes would wear the memory."
        ),
    )


class WriteSpec(_Strict):
    """How a setpoint reaches the device."""

    address: int = Field(ge=0, le=65535)
    type: WireType = WireType.U16
    function: Literal["holding", "coil"] = "holding"
    scale: float = 1.0
    percent_of: str | None = Field(
        None,
        description=(
            "Send the value as a percentage of this point of the same asset "
            "(e.g. NominalPower for a limit in % of Pmax)."
        ),
    )
    min: float | None = Field(None, description="Device lower limit, model units.")
    max: float | None = Field(None, description="Device upper limit, model units.")
    zero_means_off: bool = Field(
        False,
        description="0 is allowed below min (e.g. a charger paused); values in (0, min) become 0.",
    )
    off_value: float | None = Field(
        None,
        description=(
            "With zero_means_off: the value (model units) sent for 0, for devices where writing "
            "0 does something else than pausing (Alpitronic: 0 W ends the session, a small "
            "power below any vehicle's minimum pauses it)."
        ),
    )
    before: tuple[WriteStep, ...] = Field(
        (), description="Registers written first, in the same request where contiguous."
    )
    enable_coil: int | None = Field(
        None,
        ge=0,
        le=65535,
        description=(
            "With zero_means_off: a coil that enables the device (Phoenix EV-CC: coil 400). 0 "
            "switches it off and leaves the setpoint register alone; any other value is written "
            "and then switches it on."
        ),
    )
    off_steps: tuple[WriteStep, ...] = Field(
        (),
        description=(
            "With zero_means_off: registers written instead of the setpoint when the value is 0, "
            "for devices that pause through a separate register (KEBA 5014 = 0); the setpoint "
            "register is left as it is, and 'before' steps (the enable) go out with the next "
            "non-zero value."
        ),
    )
    read_back: bool = Field(True, description="Read the register back after writing.")
    refresh_s: float | None = Field(
        None,
        gt=0,
        description=(
            "Re-send the last setpoint at this period, shorter than the device's own fallback "
            "timer (Alfen validity time, SMA timeout, Heidelberg watchdog)."
        ),
    )
    use_single_register_write: bool = Field(
        False, description="Use FC6 instead of FC16 (devices that reject FC16 for one word)."
    )


class PointMap(_Strict):
    """A model point read from registers (or a constant)."""

    address: int | None = Field(None, ge=0, le=65535)
    add_addresses: tuple[int, ...] = Field(
        (),
        description=(
            "Further registers of the same type and scaling whose values are added to the one "
            "at 'address' (e.g. DC power of several MPP trackers). A part that reads as a "
            "sentinel counts as 0; the sum is a sentinel only when every part is one."
        ),
    )
    function: Function | None = None
    type: WireType = WireType.U16
    length: int | None = Field(None, ge=1, le=64, description="Registers of a string.")
    word_order: Literal["big", "little"] | None = None
    scale: float = 1.0
    offset: float = 0.0
    sign: Literal[1, -1] = 1
    bit: int | None = Field(None, ge=0, le=63, description="Take one bit of the raw value.")
    true_values: tuple[int | str, ...] | None = Field(
        None, description="For a boolean point: raw values that mean True."
    )
    false_value: int | str | None = Field(
        None,
        description=(
            "For a boolean point with 'true_values': the raw value the device shows when the "
            "boolean is False (e.g. Heidelberg state 2 = A1 'no vehicle'); used by simulators. "
            "Decoding needs none: every raw value not in 'true_values' is False."
        ),
    )
    enum: dict[int | str, int | str] | None = Field(
        None,
        description=(
            "For an enumerated point: raw value -> model enum value; for an identification "
            "point: raw value -> text (e.g. Sungrow's device-type code -> the model name)."
        ),
    )
    sentinels: dict[int, SentinelQuality] = Field(
        default_factory=dict, description="Extra raw values meaning 'not available'."
    )
    unit_id: int | None = Field(None, ge=0, le=255)
    poll_s: float | None = Field(
        None, gt=0, description="Poll interval; identification defaults to once at connect."
    )
    const: str | float | int | bool | None = Field(
        None, description="A fixed value (identification, nominal power of a model)."
    )
    write: WriteSpec | None = None

    @model_validator(mode="after")
    def _address_or_const(self) -> PointMap:
        if self.address is None and self.const is None and self.write is None:
            raise ValueError("a point needs 'address', 'const' or 'write'")
        if self.type is WireType.STRING and self.address is not None and not self.length:
            raise ValueError("a string point needs 'length' (registers)")
        if self.add_addresses and (self.address is None or self.type is WireType.STRING):
            raise ValueError("'add_addresses' needs a numeric point with an 'address'")
        if self.add_addresses and (
            self.true_values is not None or self.enum is not None or self.bit is not None
        ):
            raise ValueError("'add_addresses' adds numbers: not with 'true_values', 'enum', 'bit'")
        if (
            self.add_addresses
            and len({self.address, *self.add_addresses}) != len(self.add_addresses) + 1
        ):
            raise ValueError("'add_addresses' must differ from 'address' and from each other")
        if self.false_value is not None:
            if self.true_values is None:
                raise ValueError("'false_value' needs 'true_values'")
            if self.false_value in self.true_values:
                raise ValueError(f"'false_value' {self.false_value!r} is one of 'true_values'")
        return self

    @property
    def addresses(self) -> tuple[int, ...]:
        """``address`` and the ``add_addresses`` parts, in that order (empty without address)."""
        if self.address is None:
            return ()
        return (self.address, *self.add_addresses)

    @property
    def word_count(self) -> int:
        if self.type is WireType.STRING:
            return self.length or 1
        return self.type.word_count


class AssetMap(_Strict):
    """One asset of the device and its point mapping."""

    key: str = Field(pattern=r"^[A-Za-z0-9_]+$", description="Suffix of the asset id.")
    kind: AssetKind
    unit_id: int | None = Field(None, ge=0, le=255)
    points: dict[str, PointMap]
    identification: dict[
        Literal["Manufacturer", "Model", "SerialNumber", "FirmwareVersion"], PointMap
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _points_exist(self) -> AssetMap:
        spec = SPECS[self.kind]
        known = set(spec.point_names)
        for name, point in self.points.items():
            if name not in known:
                raise ValueError(
                    f"{self.kind.value} has no point {name!r}; known: {', '.join(sorted(known))}"
                )
            if point.write is not None and not spec.point(name).writable:
                raise ValueError(f"{self.kind.value}.{name} is not writable in the model")
            if point.enum and any(isinstance(v, str) for v in point.enum.values()):
                raise ValueError(
                    f"{name}: 'enum' maps to model enum numbers; texts only for identification"
                )
        return self


class SunSpecOptions(_Strict):
    """Options of a ``driver: sunspec`` profile; the register map itself comes from discovery.

    A SunSpec profile's assets declare what the device is expected to have (the asset list the
    server uses if discovery does not finish in time) and on which unit id; their ``points`` may
    stay ``{}`` (discovery tells which points the device has).
    """

    base_addresses: tuple[int, ...] = Field(
        (40000, 0, 50000), min_length=1, description="Where to look for the 'SunS' marker."
    )
    models: dict[int, tuple[int, ...]] = Field(
        default_factory=dict,
        description="Expected model ids per unit id (documentation; the simulator's default).",
    )
    meter_sign: Literal[1, -1] = Field(
        1,
        description=(
            "+1: the meters' W is positive for import (Fronius); -1: positive for export "
            "(SolarEdge). The model's ActivePower is always + = import."
        ),
    )
    revert_s: int = Field(
        60,
        ge=0,
        le=65534,
        description=(
            "Revert timeout written with setpoints (WMaxLimPct_RvrtTms, InOutWRte_RvrtTms), s; "
            "the driver re-sends a setpoint after half of it. 0 = no timeout."
        ),
    )
    single_register_writes: bool = Field(
        False,
        description=(
            "Write setpoints one register at a time with FC6 instead of FC16 (KOSTAL Plenticore "
            "answers FC16 on model 123 with 'illegal data address')."
        ),
    )


class ProfileHeader(_Strict):
    """What every device profile says, whatever its driver: the products it covers, the rows
    of the compatibility list it serves, the document its facts come from, and its driver.

    A code driver's profile subclasses this with its own ``assets`` (see ``drivers.registry``).
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    driver: str = Field("modbus", description="The driver that serves it (see `ampacity devices`).")
    manufacturer: str
    products: tuple[str, ...] = Field(min_length=1)
    compatibility: tuple[str, ...] = Field(
        default=(), description="Ids of the compatibility-list rows this profile serves."
    )
    source: str = Field(min_length=10, description="The public vendor document(s) cited.")
    poll_s: float = Field(1.0, gt=0, description="Default poll interval of measurements.")
    notes: str = ""

    def asset_kinds(self) -> tuple[tuple[str, AssetKind], ...]:
        """``(asset key, kind)`` of every asset the device serves."""
        assets = getattr(self, "assets", ())
        return tuple((a.key, a.kind) for a in assets)


class Profile(ProfileHeader):
    """A Modbus register-map profile (``driver: modbus``) or a SunSpec one (``driver: sunspec``)."""

    driver: Literal["modbus", "sunspec"] = "modbus"
    transport: Transport = Transport()
    assets: tuple[AssetMap, ...] = Field(min_length=1)
    sunspec: SunSpecOptions | None = Field(
        None, description="SunSpec discovery options (driver: sunspec only)."
    )

    @model_validator(mode="after")
    def _unique_keys(self) -> Profile:
        keys = [a.key for a in self.assets]
        if len(keys) != len(set(keys)):
            raise ValueError("asset keys must be unique")
        return self


class ProfileError(ValueError):
    """A profile file that does not validate; the message names the file and field."""


def load_profile(path: Path) -> Profile:
    """Read and validate one profile file.

    Raises:
        ProfileError: with ``<file>: <field path>: <message>`` for the first problems found.
    """
    from pydantic import ValidationError

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)
        return Profile.model_validate(data)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path.name}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        lines = [
            f"{path.name}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ProfileError("\n".join(lines)) from exc


@cache
def all_profiles() -> dict[str, Profile]:
    """Every shipped profile by id."""
    profiles: dict[str, Profile] = {}
    for path in sorted(PROFILE_DIR.glob("*.yaml")):
        profile = load_profile(path)
        if profile.id != path.stem:
            raise ProfileError(f"{path.name}: id {profile.id!r} must equal the file name")
        profiles[profile.id] = profile
    return profiles
