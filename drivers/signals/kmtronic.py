"""KMTronic LAN web boards: reading ``status.xml``.

Facts (public sources):

* The LAN web boards ("LAN Ethernet IP 8 channels WEB Relay board" family) answer
  ``GET http://<board>/status.xml`` with a flat XML document: a ``<response>`` root whose children
  are one element per channel holding ``0`` or ``1``, e.g.
  ``<response><relay0>1</relay0><relay1>0</relay1>...<relay8>0</relay8></response>``
  (a user's board in home-assistant/core issue #47443; the same shape in the pykmtronic client
  and in MountWizzard4's KMTronic tests). The web interface is protected by HTTP basic auth
  (factory default admin/admin per the Jeedom KMTronic plugin documentation).
* Users report that the board's web server hangs when polled more often than every 300 ms
  (openHAB community, "KMTronic via HTTP binding"): the default poll interval here is 0.3 s.

Boards with digital inputs publish them in the same ``status.xml``; their element names were not
found in a public document, so the configuration names the element of each contact
(``elements``) as the board shows it - nothing here guesses them.

This module parses; ``drivers.signals.sources`` fetches.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

MAX_STATUS_BYTES = 64 * 1024
"""A ``status.xml`` is a few hundred bytes; anything much larger is not one."""

TRUE_TEXTS = frozenset({"1", "on", "true"})
FALSE_TEXTS = frozenset({"0", "off", "false"})


class StatusXmlError(ValueError):
    """A ``status.xml`` that cannot be read; the message says which element and why."""


def parse_status_xml(
    text: str, elements: Sequence[str], *, where: str = "status.xml"
) -> list[bool]:
    """The levels of the named elements of a KMTronic ``status.xml``.

    Args:
        text: the document.
        elements: child element names of ``<response>``, one per contact.
        where: prefix of error messages (the URL).

    Returns:
        ``True`` where the element holds 1 (input active / relay on), in the order of
        ``elements``.

    Raises:
        StatusXmlError: not XML, no ``<response>`` root, an element missing or not 0/1.
    """
    if len(text) > MAX_STATUS_BYTES:
        raise StatusXmlError(f"{where}: {len(text)} bytes, not a status page")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise StatusXmlError(f"{where}: not valid XML ({exc})") from exc
    if root.tag != "response":
        raise StatusXmlError(f"{where}: root element <{root.tag}>, expected <response>")
    values = {child.tag: (child.text or "").strip().lower() for child in root}
    levels: list[bool] = []
    for name in elements:
        if name not in values:
            known = ", ".join(sorted(values)) or "none"
            raise StatusXmlError(f"{where}: no element <{name}> (the board has: {known})")
        value = values[name]
        if value in TRUE_TEXTS:
            levels.append(True)
        elif value in FALSE_TEXTS:
            levels.append(False)
        else:
            raise StatusXmlError(f"{where}: <{name}> holds {value[:20]!r}, expected 0 or 1")
    return levels


def status_xml(values: dict[str, bool]) -> str:
    """A ``status.xml`` document in the boards' format (simulators, tests)."""
    body = "".join(f"<{name}>{int(value)}</{name}>\n" for name, value in values.items())
    return f"<response>\n{body}</response>\n"
