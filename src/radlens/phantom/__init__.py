"""radlens.phantom."""
