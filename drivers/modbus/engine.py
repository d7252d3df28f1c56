"""The generic profile engine (the name ``drivers/profile.py`` refers to): see ``driver``."""

from .driver import ModbusDriver

__all__ = ["ModbusDriver"]
