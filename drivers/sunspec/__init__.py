"""SunSpec devices: discovery of the model chain, mapping onto assets, the driver.

Model definitions (point offsets, types, scale factors) come from pysunspec2's JSON models;
pysunspec2's own Modbus client is synchronous, so reads go through a ``ModbusLink``.
"""
