"""Grad-CAM speed for one chest-CT-sized volume through a 3D ResNet-18 on CPU.

Prints JSON: median seconds of `compute_cam` (layer search + map + trilinear upsampling) per input
shape, of a reused `CamExplainer` (layer already known), of one plain forward pass for reference,
and of MONAI's stock `GradCAM` (full backward pass through the network). Target: < 3 s.

    .venv/bin/python benchmarks/explain_speed.py [--threads 1] [--repeats 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from monai.visualize import GradCAM

from radlens.explain import CamExplainer, compute_cam
from radlens.models.factory import build_model
from radlens.phantom import DEFAULT_SHAPE


def median_s(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (allocator, one-off kernels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_shape(shape: tuple[int, int, int], repeats: int) -> dict[str, object]:
    torch.manual_seed(0)
    # ImageNet stem (7x7x7 stride 2 + max-pool), as make_model picks for inputs > 64 px
    model = build_model(
        "resnet18", spatial_dims=3, in_channels=1, num_outputs=12, small_input=False
    ).eval()
    x = torch.randn(1, 1, *shape)
    result = compute_cam(model, x, class_idx=3)
    assert result.maps.shape == (1, *shape)
    with torch.no_grad():
        forward = median_s(lambda: model(x), repeats)
    full = median_s(lambda: compute_cam(model, x, class_idx=3), repeats)
    with CamExplainer(model) as cam:
        reused = median_s(lambda: cam(x, class_idx=3), repeats)
    stock = GradCAM(nn_module=model, target_layers=result.layer, postprocessing=lambda m: m)
    monai_stock = median_s(lambda: stock(x=x, class_idx=3), repeats)
    return {
        "input": [1, 1, *shape],
        "layer": result.layer,
        "compute_cam_s": round(full, 3),
        "explainer_reused_s": round(reused, 3),
        "forward_only_s": round(forward, 3),
        "monai_gradcam_full_backward_s": round(monai_stock, 3),
        "ratio_compute_cam_to_forward": round(full / forward, 2),
        "under_3s": full < 3.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {
        "benchmark": "explain_speed",
        "model": "resnet18 3D (MONAI), 12 outputs",
        "method": "gradcam",
        "device": "cpu",
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "shapes": [
            bench_shape(tuple(DEFAULT_SHAPE), args.repeats),
            bench_shape((64, 128, 128), args.repeats),
        ],
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
