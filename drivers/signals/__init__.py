"""External signals read from hardware: ripple-control receiver contacts (I/O modules, boards).

The server builds one driver per configured receiver and shares its Modbus link registry::

    from ampacity.drivers.signals import RippleReceiverConfig, RippleReceiverDriver

    config = RippleReceiverConfig.model_validate(entry)      # one ``ripple_control`` entry
    driver = RippleReceiverDriver(config, links=links)       # links: drivers.modbus.LinkRegistry
    # driver.assets -> (AssetInfo,), await driver.run(sink)
    # driver.dimming_contact -> "Contact4" or None (the §14a EnWG dimming point)
    # driver.bank -> ContactBank of a ``simulated`` source: bank.set_contact(2, True)

Modules: ``table`` (contact patterns -> limit, pure), ``config`` (pydantic schema), ``kmtronic``
(``status.xml``), ``bank`` (in-process contacts), ``sources`` (Modbus / KMTronic / bank reads),
``driver``.
"""

from .bank import ContactBank
from .config import (
    KmtronicSource,
    ModbusSource,
    RippleReceiverConfig,
    SimulatedSource,
)
from .driver import RippleReceiverDriver
from .kmtronic import StatusXmlError, parse_status_xml, status_xml
from .sources import SourceError
from .table import DEFAULT_STAGES, ContactTable, Rule, TableError, default_rules

__all__ = [
    "DEFAULT_STAGES",
    "ContactBank",
    "ContactTable",
    "KmtronicSource",
    "ModbusSource",
    "RippleReceiverConfig",
    "RippleReceiverDriver",
    "Rule",
    "SimulatedSource",
    "SourceError",
    "StatusXmlError",
    "TableError",
    "default_rules",
    "parse_status_xml",
    "status_xml",
]
