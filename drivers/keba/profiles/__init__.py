"""drivers/keba/profiles."""
