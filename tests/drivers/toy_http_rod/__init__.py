"""A toy code driver: a JSON-over-HTTP heating rod, added with only its own package.

It proves that a new protocol needs nothing in ``server/``: this package holds the driver
(``driver.py``: a ``DeviceLink`` and a ``DriverType``), its simulator (``simulator.py``: a
local HTTP server) and its profile (``profiles/toy_http_rod.yaml``); the test registers the
``DriverType`` and serves the device in a site.

The device's API (made up for the test): ``GET /status`` answers
``{"power_w": float, "temperature_c": float, "serial": str, "limit_w": float}``;
``POST /limit`` with ``{"limit_w": float}`` sets the power limit, which the device drops back to
0 W when it is not renewed within its fallback time.
"""
