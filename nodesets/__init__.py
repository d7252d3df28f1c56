"""nodesets."""
