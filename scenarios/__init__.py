"""Scenario days: the real control against the simulated site (``sim/``), faster than real time.

A harness for tests and benchmarks, not part of the server: ``runner`` loads a scenario file from
``deploy/scenarios/``, runs the day on a fake clock and integrates the KPIs.
"""
