"""The scheduled audit sealer."""
