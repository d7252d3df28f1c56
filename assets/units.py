"""Engineering units of the information model.

Every unit carries its UNECE Recommendation 20 common code; OPC UA encodes that code into the
``UnitId`` of an ``EUInformation`` (each character shifted into one byte, see OPC UA Part 8,
"EUInformation"), with the namespace URI ``http://www.opcfoundation.org/UA/units/un/cefact``.
"""

from __future__ import annotations

from dataclasses import dataclass

UNECE_NAMESPACE_URI = "http://www.opcfoundation.org/UA/units/un/cefact"


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of measure.

    Attributes:
        symbol: what a person reads next to the value (``W``, ``kWh``, ``°C``).
        unece_code: UNECE Rec. 20 common code (``WTT`` for watt).
        description: the unit's full name.
    """

    symbol: str
    unece_code: str
    description: str

    @property
    def unit_id(self) -> int:
        """The OPC UA ``EUInformation.UnitId``: the UNECE code's characters packed big-endian."""
        unit_id = 0
        for char in self.unece_code:
            unit_id = (unit_id << 8) | ord(char)
        return unit_id


WATT = Unit("W", "WTT", "watt")
WATT_HOUR = Unit("Wh", "WHR", "watt hour")
VAR = Unit("var", "D44", "var (volt ampere reactive)")
VOLT_AMPERE = Unit("VA", "D46", "volt ampere")
PERCENT = Unit("%", "P1", "percent")
AMPERE = Unit("A", "AMP", "ampere")
VOLT = Unit("V", "VLT", "volt")
HERTZ = Unit("Hz", "HTZ", "hertz")
CELSIUS = Unit("°C", "CEL", "degree Celsius")
CUBIC_METRE = Unit("m³", "MTQ", "cubic metre")
CUBIC_METRE_PER_HOUR = Unit("m³/h", "MQH", "cubic metre per hour")
KILOGRAM = Unit("kg", "KGM", "kilogram")
KILOGRAM_PER_HOUR = Unit("kg/h", "E93", "kilogram per hour")
ONE = Unit("1", "C62", "one (a count)")
MILLISECOND = Unit("ms", "C26", "millisecond")
SECOND = Unit("s", "SEC", "second")
HOUR = Unit("h", "HUR", "hour")
BAR = Unit("bar", "BAR", "bar")
# Prices: no UNECE code names a currency per energy; the currency is a site setting.
CURRENCY_PER_KWH = Unit("EUR/kWh", "", "currency unit per kilowatt hour")
