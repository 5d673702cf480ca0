"""radlens.data.radiographs.decode."""
