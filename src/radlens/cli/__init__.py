"""radlens.cli.main."""
