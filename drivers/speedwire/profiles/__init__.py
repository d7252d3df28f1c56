"""The shipped Speedwire profile (``sma_energy_meter.yaml``)."""
