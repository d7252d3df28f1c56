"""Registers the SG-Ready relay-board driver (``driver: sgready_kmtronic_udp`` profiles)."""

from __future__ import annotations

from ampacity.drivers.registry import register

from .driver import SGREADY

SGREADY_KMTRONIC_UDP = register(SGREADY)
