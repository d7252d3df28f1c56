"""Ampacity: an OPC UA edge server for energy management.

The repository keeps one top-level folder per architectural part (``assets/``, ``drivers/``, ...);
``pyproject.toml`` maps each into this namespace, e.g. ``drivers/`` is ``ampacity.drivers``.
"""

__version__ = "0.1.0"
