"""The shipped SML profile (``sml.yaml``)."""
