"""drivers/transports."""
