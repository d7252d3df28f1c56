"""Pulse meters: S0 pulses counted by a digital input's counter (a Modbus I/O module register)."""
