"""RCT Power inverters (Power Storage AC/DC) over RCT's own TCP protocol (port 8899).

``protocol`` is the framing (start byte, byte stuffing, CRC-16/CCITT-FALSE), ``objects`` the
object ids the driver uses, ``driver`` the ``DeviceLink`` and the profile schema, ``plugin``
registers the driver as ``driver: rct``.
"""
