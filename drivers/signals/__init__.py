"""External signals read from hardware: ripple-control receiver contacts (I/O modules, relay boards)."""
