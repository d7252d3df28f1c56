"""Issue 16, defect 1: the feed-in limit probes for PV hidden by curtailment only while the
inverter produces, and only as far as a real increase shows up."""

from __future__ import annotations

from ampacity.control import ControlCycle
from controlkit import battery, config, step

ZERO_EXPORT = {
    "pv": [{"id": "pv", "nominal_power_w": 10_000}],
    "strategies": {
        "zero": {
            "template": "self-consumption",
            "order": ["battery"],
            "grid_target_w": 50,
            "max_feed_in_w": 0,
        }
    },
    "strategy": "zero",
}
BAT = "bat.BatteryPowerSetpoint"
PV = "pv.ActivePowerLimit"


def run(pv_w, house_w=300.0, seconds=(0, 2, 4, 6, 8, 10, 12), limit=10_000.0):
    """Cycles every 2 s; ``pv_w(limit)`` is what the inverter gives under the limit set last;
    the battery follows its setpoint (W, + discharge), the grid carries the rest."""
    cycle = ControlCycle(config(**ZERO_EXPORT))
    bat_w, results = 0.0, []
    for t in seconds:
        produced = pv_w(limit)
        result = step(
            cycle,
            t,
            grid={"ActivePower": house_w - produced - bat_w},
            pv={"ActivePower": produced, "NominalPower": 10_000.0},
            bat=battery(soc=50.0, power=bat_w),
        )
        limit, bat_w = result.decisions[PV].value, result.decisions[BAT].value
        results.append(result)
    return results


def test_at_night_the_battery_is_not_charged_for_sunshine_that_is_not_there() -> None:
    results = run(lambda limit: 0.0)  # house 300 W, no sun
    for r in results:
        assert r.decisions[BAT].value >= 0.0  # never charging from the grid
    assert results[-1].decisions[BAT].value > 0.0  # it covers the house


def test_a_probe_that_shows_no_increase_stops_crediting() -> None:
    """Cloud: 2 kW of sun, the inverter gives all of it below any limit above 2 kW."""
    sun = 2000.0
    results = run(lambda limit: min(sun, limit))
    charge = [-r.decisions[BAT].value for r in results]
    # after the settle time (4 s) the battery takes what the sun gives beyond the house, no more
    assert all(c <= sun - 300.0 + 150.0 for c in charge[3:])


def test_hidden_sun_is_found_while_it_shows_up() -> None:
    """9 kW of sun behind a 1 kW limit: each probe raises the output, so the battery ends up
    taking its full charge power from the sun."""
    results = run(lambda limit: min(9000.0, limit), seconds=range(0, 40, 2), limit=1000.0)
    limits = [r.decisions[PV].value for r in results]
    assert limits[2] > limits[1] > 1000.0  # probe after probe
    assert -results[-1].decisions[BAT].value >= 4900.0
