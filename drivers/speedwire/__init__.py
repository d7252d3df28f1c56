"""SMA Energy Meter and Sunny Home Manager over Speedwire (UDP multicast, protocol 0x6069)."""
