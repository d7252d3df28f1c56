"""The driver against a simulated KMTronic LAN board (HTTP, status.xml) over loopback."""

from __future__ import annotations

import pytest
from ampacity.assets import Quality
from ampacity.drivers.signals import StatusXmlError, parse_status_xml
from ampacity.sim.faults import Fault
from ampacity.sim.signals import KmtronicSim
from signals_rig import RecordingSink, running

# A relay board's status.xml as a user posted it (home-assistant/core issue #47443).
RELAY_BOARD_STATUS = """<response>
<relay0>1</relay0>
<relay1>0</relay1>
<relay2>1</relay2>
<relay3>1</relay3>
<relay4>0</relay4>
<relay5>0</relay5>
<relay6>0</relay6>
<relay7>0</relay7>
<relay8>0</relay8>
</response>"""


def kmtronic_entry(sim: KmtronicSim, **source: object) -> dict[str, object]:
    auth = {"user": sim.user, "password": sim.password} if sim.user is not None else {}
    return {
        "id": "rcr",
        "source": {
            "type": "kmtronic",
            "url": sim.url,
            "elements": list(sim.elements),
            **auth,
            **source,
        },
        "contacts": len(sim.elements),
        "poll_s": 0.05,  # the simulator does not hang like the real board
        "timeout_s": 0.2,
    }


def test_parse_the_boards_status_xml() -> None:
    assert parse_status_xml(RELAY_BOARD_STATUS, ["relay2", "relay1", "relay3"]) == [
        True,
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<response><inp", "http://b/status.xml: not valid XML"),
        ("<html><body/></html>", "root element <html>, expected <response>"),
        ("<response><relay1>0</relay1></response>", "no element <input1> (the board has: relay1)"),
        ("<response><input1>2</input1></response>", "<input1> holds '2', expected 0 or 1"),
    ],
)
def test_bad_status_xml_is_located(text: str, message: str) -> None:
    with pytest.raises(StatusXmlError) as info:
        parse_status_xml(text, ["input1"], where="http://b/status.xml")
    assert message in str(info.value)


async def test_contacts_follow_the_board_with_basic_auth(sink: RecordingSink) -> None:
    async with (
        KmtronicSim(user="admin", password="secret") as sim,
        running(kmtronic_entry(sim), sink) as driver,
    ):
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        assert sink.value("Identification.Manufacturer") == "KMTronic"
        sim.set_contact(3, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 30.0)
        assert sink.value("Contact3") is True
        assert sink.quality("Contact3") is Quality.GOOD
        assert driver.closed == (False, False, True, False)


async def test_wrong_password_is_reported(sink: RecordingSink) -> None:
    async with KmtronicSim(user="admin", password="secret") as sim:
        entry = kmtronic_entry(sim, password="wrong")
        async with running(entry, sink):
            await sink.wait_for(lambda: sink.latest.get("Health.LastError") is not None)
            error = str(sink.value("Health.LastError"))
            assert f"GET {sim.url}/status.xml: HTTP 401" in error
            assert sink.quality("ActiveLimit") is Quality.BAD_COMMUNICATION_ERROR


async def test_normally_closed_input(sink: RecordingSink) -> None:
    sim = KmtronicSim(2, elements=["in_a", "in_b"], normally_closed=[1])
    async with sim, running(kmtronic_entry(sim, invert=[True, False]), sink):
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 100.0)
        assert sink.value("Contact1") is False
        sim.set_contact(1, True)
        await sink.wait_for(lambda: sink.value("Contact1") is True)
        assert sink.value("ActiveLimit") == 100.0  # K1 = 100 %


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.SILENT, "no answer within 0.2 s"),
        (Fault.EXCEPTION, "HTTP 500"),
        (Fault.GARBAGE, "not valid XML"),
        (Fault.DISCONNECT, "ServerDisconnectedError"),
    ],
)
async def test_board_failure_keeps_last_values_uncertain_and_recovers(
    fault: Fault, error: str, sink: RecordingSink
) -> None:
    async with KmtronicSim() as sim, running(kmtronic_entry(sim), sink):
        sim.set_contact(2, True)
        await sink.wait_for(lambda: sink.value("ActiveLimit") == 60.0)
        sim.set_fault(fault)
        await sink.wait_for(lambda: sink.quality("ActiveLimit") is Quality.UNCERTAIN_LAST_USABLE)
        assert sink.value("ActiveLimit") == 60.0
        assert sink.quality("Contact2") is Quality.UNCERTAIN_LAST_USABLE
        assert sink.value("Health.Connected") is False
        assert error in str(sink.value("Health.LastError"))
        assert f"GET {sim.url}/status.xml" in str(sink.value("Health.LastError"))
        sim.set_fault(Fault.NONE)
        await sink.wait_for(lambda: sink.quality("ActiveLimit") is Quality.GOOD)
        assert sink.value("Health.Connected") is True
