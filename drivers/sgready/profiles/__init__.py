"""drivers/sgready/profiles."""
