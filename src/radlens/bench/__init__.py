"""Benchmarks: the MedMNIST v2 grid (`radlens bench medmnist`) beside the paper's table."""

from radlens.bench.cli_support import bench_medmnist

__all__ = [
    "bench_medmnist",
]
