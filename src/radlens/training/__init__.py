"""radlens.training.loop."""
