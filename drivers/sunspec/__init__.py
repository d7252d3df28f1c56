"""SunSpec devices: discovery of the model chain, mapping onto assets, the driver.

Model definitions (point offsets, types, scale factors) come from pysunspec2's JSON models;
pysunspec2's own Modbus client is synchronous, so reads go through a ``ModbusLink``.

Modules: ``models`` (definitions), ``chain`` (discovery), ``decode`` (values, sentinels),
``mapping`` (models -> asset points), ``control`` (setpoints -> registers), ``writes`` (sending
them, read-back), ``reader`` (block reads), ``state`` (quality and health bookkeeping), ``links``
(the engine's shared links), ``driver`` (``SunSpecDriver``).
"""

from .chain import Chain, DiscoveryError, ModelInstance, NoSunSpecError, discover_chain
from .driver import SunSpecDriver

__all__ = [
    "Chain",
    "DiscoveryError",
    "ModelInstance",
    "NoSunSpecError",
    "SunSpecDriver",
    "discover_chain",
]
