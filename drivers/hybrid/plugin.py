"""Registers the hybrid driver (``driver: hybrid``)."""

from ampacity.drivers.registry import register

from .driver import HYBRID

register(HYBRID)
