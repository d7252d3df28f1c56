"""Modbus TCP/RTU: transports, the request queue per connection or bus, the generic profile engine."""
