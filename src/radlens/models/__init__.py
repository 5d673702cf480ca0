"""radlens.models.factory."""
