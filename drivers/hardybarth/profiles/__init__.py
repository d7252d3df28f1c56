"""drivers/hardybarth/profiles."""
