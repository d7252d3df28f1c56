"""drivers/profiles."""
