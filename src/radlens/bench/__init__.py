"""Benchmarks: the MedMNIST v2 grid (`radlens bench medmnist`) beside the paper's table."""
