"""Registers the RCT Power driver (``driver: rct``)."""

from ampacity.drivers.registry import register

from .driver import RCT

register(RCT)
