"""radlens.core."""
