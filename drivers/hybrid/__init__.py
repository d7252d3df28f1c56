"""Modbus hybrid inverters whose values or setpoints need a little logic (``driver: hybrid``).

A declarative profile maps one register to one point. Some hybrids report the battery power as
a magnitude with the direction in a status word, or take a battery setpoint as a mode code plus
a power magnitude; ``families`` says, per device family, how to read and how to write, and
``driver`` runs that through the shared Modbus links and the device runtime.
"""
