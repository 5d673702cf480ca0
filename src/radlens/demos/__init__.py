"""radlens.demos."""
