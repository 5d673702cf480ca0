"""radlens.data.medmnist.load."""
