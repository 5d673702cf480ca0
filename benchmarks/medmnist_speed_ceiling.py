"""How fast can a ResNet-18 (28 px stem) training step be on this CPU? A ceiling for the ratio.

`benchmarks/medmnist_speed.py` compares radlens's loop (bf16 autocast) with the official MedMNIST
loop (float32). Both spend nearly all their time in convolutions, so the ratio is bounded by how
much faster this CPU multiplies in bf16 than in float32. This script measures, on one core:

1. the FLOPs of one training step per image (forward + backward, `torch.utils.flop_counter`);
2. the peak GEMM throughput in float32 and in bf16 (large square matmuls, best of several);
3. the achieved training throughput of the model in float32 and under bf16 autocast, as GFLOP/s
   and as a fraction of the matching peak;

and prints the ceiling of the training-phase ratio: bf16 peak / float32 achieved.

    .venv/bin/python benchmarks/medmnist_speed_ceiling.py --cpu 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from radlens.models.factory import build_model


def _best(fn, repeats: int) -> float:
    """Fastest of `repeats` timed calls (seconds), after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def gemm_peak(dtype: torch.dtype, n: int = 1536, repeats: int = 5) -> float:
    """GFLOP/s of an n x n x n matmul in `dtype`."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    seconds = _best(lambda: torch.mm(a, b), repeats)
    return 2 * n**3 / seconds / 1e9


def step_flops(model: torch.nn.Module, batch: int) -> float:
    """FLOPs of one forward + backward pass per image."""
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 2, (batch,))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def train_rate(model: torch.nn.Module, batch: int, bf16: bool, repeats: int) -> float:
    """Seconds per image of a training step (forward, backward, Adam), best of `repeats`."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 2, (batch,))

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _best(step, repeats) / batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2)
    flops = step_flops(model, args.batch)
    peak32, peak16 = gemm_peak(torch.float32), gemm_peak(torch.bfloat16)
    s32 = train_rate(model, args.batch, False, args.repeats)
    s16 = train_rate(model, args.batch, True, args.repeats)
    result = {
        "benchmark": "medmnist_speed_ceiling",
        "machine": f"{platform.processor() or platform.machine()}, 1 core of {os.cpu_count()}",
        "torch": torch.__version__,
        "model": f"resnet18 (28 px stem), batch {args.batch}",
        "train_gflop_per_image": round(flops / 1e9, 3),
        "gemm_peak_gflops_fp32": round(peak32, 1),
        "gemm_peak_gflops_bf16": round(peak16, 1),
        "bf16_over_fp32_peak": round(peak16 / peak32, 2),
        "train_ms_per_image_fp32": round(s32 * 1e3, 2),
        "train_ms_per_image_bf16": round(s16 * 1e3, 2),
        "train_gflops_fp32": round(flops / s32 / 1e9, 1),
        "train_gflops_bf16": round(flops / s16 / 1e9, 1),
        "fp32_fraction_of_peak": round(flops / s32 / 1e9 / peak32, 2),
        "bf16_fraction_of_peak": round(flops / s16 / 1e9 / peak16, 2),
        "train_step_ratio_bf16_vs_fp32": round(s32 / s16, 2),
        "ceiling_train_ratio": round(peak16 / (flops / s32 / 1e9), 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
