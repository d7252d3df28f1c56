"""SolarEdge inverters: SunSpec values and SolarEdge's own power-control registers."""
