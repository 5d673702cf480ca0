"""radlens.data.volumes.io."""
