"""Contact combinations of a ripple-control receiver -> feed-in limit in % (pure, no I/O).

A grid operator's ripple-control receiver (Rundsteuerempfänger) or FNN control box switches up to
four potential-free relay contacts K1..K4; the plant reads them on digital inputs and limits its
feed-in to a share of the installed PV power.

Patterns: a string with one character per contact in the order Contact1..ContactN: ``1`` = the
contact is closed, ``0`` = open, ``x`` = don't care. ``"1000"`` = only contact 1 closed,
``"x1xx"`` = contact 2 closed whatever the others do.

Precedence: the patterns are tried **in the order written** (a YAML mapping keeps its order) and
the first one that matches wins; when none matches, ``default`` applies (100 % unless configured).
Put the more restrictive patterns first.

Default table - the usual four-stage feed-in management (EEG §9) with one relay per stage,
K1 = 100 %, K2 = 60 %, K3 = 30 %, K4 = 0 %, no contact closed = no limit (100 %); see the
Solar-Log 1200 manual, appendix "Variation with 4 relays" (the EnBW wiring: K1 on -> 100 %,
K2 -> 60 %, K3 -> 30 %, K4 -> 0 %) and the Sungrow SH-T user manual, "Ripple Control" (no switch
closed -> 100 %, S1 closed -> 100 %). Written as first-match patterns
``{"xxx1": 0, "xx1x": 30, "x1xx": 60, "1xxx": 100}``: with several contacts closed the lowest of
their stages applies (the safe reading of an ambiguous signal). Wiring differs between grid
operators (some boxes use K1 = 0 % ... K4 = 100 %, FNN boxes name their relays S1/S2/W3), hence
the configurable table.

§14a EnWG: one contact may instead be the control box's "dim controllable consumers" contact
(``dimming_contact``, 1..4). It is no feed-in stage: the table ignores it (patterns must have
``x`` at its position) and its state is reported separately (``ContactTable.dimming``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MAX_CONTACTS = 4
"""A receiver has at most four contacts (K1..K4)."""

DEFAULT_STAGES: tuple[float, ...] = (100.0, 60.0, 30.0, 0.0)
"""Feed-in limit (% of installed PV power) of the stage each contact K1..K4 signals."""

NO_MATCH_LIMIT = 100.0
"""Limit when no pattern matches (no contact closed: no restriction), %."""

_ALLOWED = frozenset("01x")


class TableError(ValueError):
    """An invalid table; the message names the entry: ``table["10a0"]: ...``."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One pattern of the table.

    Attributes:
        pattern: one of ``0``, ``1``, ``x`` per contact, Contact1 first.
        limit: feed-in limit in % of installed PV power (0..100) when the pattern matches.
    """

    pattern: str
    limit: float

    def matches(self, closed: Sequence[bool]) -> bool:
        return all(
            p == "x" or (p == "1") == bool(c) for p, c in zip(self.pattern, closed, strict=True)
        )


@dataclass(frozen=True, slots=True)
class ContactTable:
    """Maps the states of the receiver's contacts to the feed-in limit in %.

    Build it with ``ContactTable.build`` (validates); ``limit(closed)`` evaluates it.

    Attributes:
        contacts: number of contacts used, 1..4.
        rules: the patterns in precedence order (first match wins).
        default: the limit when no pattern matches, %.
        dimming_contact: the §14a EnWG dimming contact (1-based) or ``None``.
    """

    contacts: int
    rules: tuple[Rule, ...]
    default: float = NO_MATCH_LIMIT
    dimming_contact: int | None = None

    @classmethod
    def build(
        cls,
        contacts: int,
        table: Mapping[str, float] | None = None,
        *,
        default: float = NO_MATCH_LIMIT,
        dimming_contact: int | None = None,
        where: str = "table",
    ) -> ContactTable:
        """Validate a configured table (``None`` = the default four-stage table).

        Args:
            contacts: contacts in use, 1..4.
            table: pattern -> limit in %, in precedence order.
            default: limit when no pattern matches, %.
            dimming_contact: 1-based index of the §14a dimming contact, or ``None``.
            where: prefix of error messages (the config path of the table).

        Raises:
            TableError: with the located problem, e.g. ``table["10a0"]: pattern may contain
                only 0, 1 and x``.
        """
        if not 1 <= contacts <= MAX_CONTACTS:
            raise TableError(f"contacts: {contacts} outside 1..{MAX_CONTACTS}")
        if dimming_contact is not None and not 1 <= dimming_contact <= contacts:
            raise TableError(
                f"dimming_contact: {dimming_contact} is not one of the contacts 1..{contacts}"
            )
        _check_percent(default, "default")
        if table is None:
            rules = default_rules(contacts, dimming_contact)
        else:
            rules = tuple(
                _rule(pattern, limit, contacts, dimming_contact, where)
                for pattern, limit in table.items()
            )
        return cls(contacts, rules, float(default), dimming_contact)

    def limit(self, closed: Sequence[bool]) -> float:
        """The feed-in limit in % of installed PV power for these contact states.

        Args:
            closed: ``True`` = closed, one per contact, Contact1 first (after NC inversion).

        Raises:
            ValueError: not one state per contact.
        """
        if len(closed) != self.contacts:
            raise ValueError(f"{len(closed)} contact states for a table of {self.contacts}")
        for rule in self.rules:
            if rule.matches(closed):
                return rule.limit
        return self.default

    def dimming(self, closed: Sequence[bool]) -> bool | None:
        """State of the §14a dimming contact (``True`` = dim), ``None`` without one."""
        if self.dimming_contact is None:
            return None
        return bool(closed[self.dimming_contact - 1])

    def as_config(self) -> dict[str, float]:
        """The table in its config form (pattern -> %), in precedence order."""
        return {rule.pattern: rule.limit for rule in self.rules}


def default_rules(contacts: int, dimming_contact: int | None = None) -> tuple[Rule, ...]:
    """The usual stages K1 = 100, K2 = 60, K3 = 30, K4 = 0 % for the contacts in use, lowest
    first, so that several closed contacts give the lowest of their stages; the §14a dimming
    contact signals no stage."""
    rules: list[Rule] = []
    for index in reversed(range(contacts)):
        if dimming_contact == index + 1:
            continue
        pattern = "".join("1" if i == index else "x" for i in range(contacts))
        rules.append(Rule(pattern, DEFAULT_STAGES[index]))
    return tuple(rules)


def _rule(
    pattern: object, limit: object, contacts: int, dimming_contact: int | None, where: str
) -> Rule:
    at = f"{where}[{pattern!r}]" if not isinstance(pattern, str) else f'{where}["{pattern}"]'
    if not isinstance(pattern, str):
        raise TableError(
            f"{at}: a pattern is a string of 0, 1 and x; write it in quotes (YAML reads 0100 "
            "as a number)"
        )
    text = pattern.strip().lower()
    if not text or set(text) - _ALLOWED:
        raise TableError(f"{at}: pattern may contain only 0, 1 and x")
    if len(text) != contacts:
        raise TableError(
            f"{at}: pattern has {len(text)} characters, the receiver uses {contacts} contacts "
            f"(one character per contact, Contact1 first)"
        )
    if dimming_contact is not None and text[dimming_contact - 1] != "x":
        raise TableError(
            f"{at}: contact {dimming_contact} is the §14a dimming contact, not a feed-in stage; "
            "put x at its position"
        )
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        raise TableError(f"{at}: the limit must be a number (% of installed PV power)")
    _check_percent(float(limit), at)
    return Rule(text, float(limit))


def _check_percent(value: float, at: str) -> None:
    if not 0.0 <= value <= 100.0:
        raise TableError(f"{at}: {value:g} % outside 0..100 % of installed PV power")
