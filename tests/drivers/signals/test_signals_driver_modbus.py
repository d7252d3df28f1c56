"""The driver against a simulated Modbus I/O module over loopback, and the in-process bank."""

from __future__ import annotations

import re

import pytest
from ampacity.assets import AssetKind, Quality, WriteError
from ampacity.drivers.modbus import LinkRegistry
from ampacity.drivers.signals import RippleReceiverConfig, RippleReceiverDriver
from ampacity.sim.faults import Fault
from ampacity.sim.signals import ModbusContactSim
from signals_rig import RecordingSink, running


def modbus_entry(sim: ModbusContactSim, **source: object) -> dict[str, object]:
    return {
        "id": "rcr",
        "source": {
            "type": "modbus",
            "host": sim.host,
            "port": sim.port,
            "function": sim.function,
            "addresses": list(sim.addresses),
            **({"bits": list(sim.bits)} if sim.bits is not None else {}),
            **source,
        },
        "contacts": len(sim.closed),
        "timeout_s": 0.2,
    }


def contacts_are(sink: RecordingSink, *closed: bool) -> bool:
    return all(
        sink.value(f"Contact{n}") is c and sink.quality(f"Contact{n}") is Quality.GOOD
        for n, c in enumerate(closed, start=1)
    )


async def test_contacts_and_limit_follow_the_module(
    sink: RecordingSink, links: LinkRegistry
) -> None:
    async with ModbusContactSim() as sim, running(modbus_entry(sim), sink, links) as driver:
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        assert contacts_are(sink, False, False, False, False)
        info = driver.assets[0]
        assert info.kind is AssetKind.RIPPLE_CONTROL_RECEIVER
        assert info.points == ("Contact1", "Contact2", "Contact3", "Contact4", "ActiveLimit")
        assert sink.value("Identification.Model") == "Modbus I/O module"

        sim.set_contact(2, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 60.0)
        assert contacts_are(sink, False, True, False, False)
        sim.set_contact(4, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 0.0)
        sim.set_contact(4, False)
        sim.set_contact(2, False)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        assert sink.value("Health.Connected") is True
        assert sink.quality("ActiveLimit") is Quality.GOOD


async def test_values_are_published_on_change_only(
    sink: RecordingSink, links: LinkRegistry
) -> None:
    async with ModbusContactSim() as sim, running(modbus_entry(sim), sink, links):
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        sim.set_contact(3, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 30.0)
        # a few more polls without change (0.1 s each), observed through the health heartbeat
        count = len(sink.of("Health.PollDuration"))
        await sink.wait_for(lambda: len(sink.of("Health.PollDuration")) > count, timeout_s=2.0)
    assert [r.value for r in sink.of("ActiveLimit")] == [100.0, 30.0]
    assert [r.value for r in sink.of("Contact3")] == [False, True]
    assert [r.value for r in sink.of("Contact1")] == [False]


@pytest.mark.parametrize("function", ["coil", "holding_bit", "input_bit"])
async def test_coils_and_register_bits(
    function: str, sink: RecordingSink, links: LinkRegistry
) -> None:
    addresses = [10, 11, 12] if function == "coil" else [100, 100, 101]
    bits = None if function == "coil" else [3, 15, 0]
    sim = ModbusContactSim(3, function=function, addresses=addresses, bits=bits)  # type: ignore[arg-type]
    async with sim, running(modbus_entry(sim), sink, links):
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        sim.set_contact(2, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 60.0)
        assert contacts_are(sink, False, True, False)
        sim.set_contact(3, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 30.0)
        assert contacts_are(sink, False, True, True)


async def test_normally_closed_contact_is_inverted(
    sink: RecordingSink, links: LinkRegistry
) -> None:
    sim = ModbusContactSim(2, normally_closed=[2])
    async with sim, running(modbus_entry(sim, invert=[False, True]), sink, links):
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        assert contacts_are(sink, False, False)  # the wire of contact 2 is active, it is open
        sim.set_contact(2, True)  # energised relay opens the NC contact: the input drops
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 60.0)
        assert contacts_are(sink, False, True)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.SILENT, "no valid answer within 0.2 s"),
        (Fault.EXCEPTION, "Modbus exception 4 (device failure)"),
        (Fault.DISCONNECT, "connection lost"),
    ],
)
async def test_source_failure_keeps_last_values_uncertain_and_recovers(
    fault: Fault, error: str, sink: RecordingSink, links: LinkRegistry
) -> None:
    async with ModbusContactSim() as sim, running(modbus_entry(sim), sink, links):
        sim.set_contact(3, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 30.0)
        good_time = sink.latest["ActiveLimit"].source_time

        sim.faults.set(fault)
        await sink.wait_for(lambda: sink.quality("ActiveLimit") is Quality.UNCERTAIN_LAST_USABLE)
        limit = sink.latest["ActiveLimit"]
        assert limit.value == 30.0  # a failure never lifts the limit
        assert limit.source_time == good_time  # the old read time
        assert sink.quality("Contact3") is Quality.UNCERTAIN_LAST_USABLE
        assert sink.value("Contact3") is True
        assert sink.value("Health.Connected") is False
        assert error in str(sink.value("Health.LastError"))
        assert f"{sim.host}:{sim.port} unit 1 read discrete inputs (FC2)" in str(
            sink.value("Health.LastError")
        )
        errors = sink.value("Health.ErrorCount")
        assert isinstance(errors, int) and errors >= 1

        sim.set_contact(3, False)
        sim.faults.set(Fault.NONE)
        await sink.wait_for(
            lambda: (
                sink.value("ActiveLimit") == 100.0 and sink.quality("ActiveLimit") is Quality.GOOD
            )
        )
        assert sink.value("Health.Connected") is True
    # the Uncertain values were published once for the outage, not on every failed poll
    uncertain = [r for r in sink.of("ActiveLimit") if r.quality is Quality.UNCERTAIN_LAST_USABLE]
    assert len(uncertain) == 1


async def test_source_that_never_answered_is_bad(sink: RecordingSink, links: LinkRegistry) -> None:
    sim = ModbusContactSim()
    sim.faults.set(Fault.EXCEPTION, exception_code=2)
    async with sim, running(modbus_entry(sim), sink, links):
        await sink.wait_for(lambda: sink.latest.get("ActiveLimit") is not None)
        assert sink.quality("ActiveLimit") is Quality.BAD_COMMUNICATION_ERROR
        assert sink.quality("Contact1") is Quality.BAD_COMMUNICATION_ERROR
        assert "illegal data address" in str(sink.value("Health.LastError"))
        sim.faults.clear()
        await sink.wait_for(lambda: sink.quality("ActiveLimit") is Quality.GOOD)


async def test_unreachable_module_is_reported(sink: RecordingSink, links: LinkRegistry) -> None:
    sim = ModbusContactSim()
    await sim.start()
    await sim.stop()  # a port nobody listens on
    async with running(modbus_entry(sim), sink, links):
        await sink.wait_for(lambda: sink.latest.get("Health.LastError") is not None)
        assert "cannot connect" in str(sink.value("Health.LastError"))
        assert sink.quality("ActiveLimit") is Quality.BAD_COMMUNICATION_ERROR


async def test_the_link_is_shared_and_released(links: LinkRegistry) -> None:
    sink = RecordingSink()
    async with ModbusContactSim() as sim:
        async with running(modbus_entry(sim), sink, links):
            await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
            link = links.tcp(str(sim.host), int(sim.port))
            assert links.users(link) == 2  # the driver's and ours
            await links.release(link)
        assert links.users(link) == 0


async def test_nothing_is_writable() -> None:
    config = RippleReceiverConfig.model_validate({"id": "rcr", "source": {"type": "simulated"}})
    driver = RippleReceiverDriver(config)
    with pytest.raises(
        WriteError, match=re.escape("rcr.ActiveLimit: a ripple-control receiver has no")
    ):
        await driver.write("rcr", "ActiveLimit", 50.0)


# --- the in-process bank (demo) ------------------------------------------------------------------


async def test_bank_flips_reach_the_sink(sink: RecordingSink) -> None:
    entry = {"id": "rcr", "source": {"type": "simulated", "closed": [False, True]}, "contacts": 2}
    async with running(entry, sink) as driver:
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 60.0)
        bank = driver.bank
        assert bank is not None
        bank.set_contact(2, False)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        assert driver.active_limit == 100.0
        assert driver.closed == (False, False)
        bank.set_fault("relay board unplugged")
        await sink.wait_for(lambda: sink.quality("ActiveLimit") is Quality.UNCERTAIN_LAST_USABLE)
        assert sink.value("Health.LastError") == "simulated contact bank: relay board unplugged"
        bank.set_fault(None)
        await sink.wait_for(lambda: sink.quality("ActiveLimit") is Quality.GOOD)


async def test_dimming_contact_is_published_as_its_contact(sink: RecordingSink) -> None:
    entry = {"id": "rcr", "source": {"type": "simulated"}, "dimming_contact": 4}
    async with running(entry, sink) as driver:
        assert driver.dimming_contact == "Contact4"
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        assert driver.bank is not None
        driver.bank.set_contact(4, True)
        await sink.wait_for(lambda: sink.value("Contact4") is True)
        assert sink.value("ActiveLimit") == 100.0  # dimming consumers does not limit feed-in
        assert [r.value for r in sink.of("ActiveLimit")] == [100.0]
        driver.bank.set_contact(3, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 30.0)
    config = RippleReceiverConfig.model_validate({"id": "x", "source": {"type": "simulated"}})
    assert RippleReceiverDriver(config).dimming_contact is None
