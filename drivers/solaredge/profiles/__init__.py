"""drivers/solaredge/profiles."""
