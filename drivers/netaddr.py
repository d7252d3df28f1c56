"""Checks of addresses in device entries: a host is an IP address or a valid host name."""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_host(value: str) -> str:
    """``value`` if it is an IPv4/IPv6 address or an RFC 1123 host name.

    Raises:
        ValueError: e.g. a space, an empty label, a port glued on (``host:502``).
    """
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    name = value.removesuffix(".")
    if ":" in value and not value.startswith("["):
        raise ValueError(f"{value!r} is not a host name; give the port as 'port:'")
    if not name or len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise ValueError(f"{value!r} is not an IP address or a host name")
    return value
