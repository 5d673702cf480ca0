"""Cost growth of radlens training: wall time of one epoch vs number of images and vs image size.

Dataset size: subsets of PneumoniaMNIST-28 (tiled when more images are asked for than the file
has) from 546 (BreastMNIST's training set) to 165,466 (TissueMNIST's) images. Image size: the same
images resized 28 -> 56 -> 112 -> 224 (nearest, the paper's protocol; ImageNet stem above 64 px as
`radlens train` chooses). Each point times one epoch of radlens's training step (see
gpu_throughput.py) after warm-up steps. Prints JSON and writes benchmarks/results/scaling.{json,md}.

    PYTHONPATH=src python3 benchmarks/scaling.py --npz PATH                 # GPU, full range
    PYTHONPATH=src python3 benchmarks/scaling.py --npz PATH --device cpu \\
        --counts 64,128,256 --sizes 28,56 --size-images 64 --batch-size 32 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
from gpu_throughput import bf16_native, radlens_images_per_s

from radlens.bench.data import resize_nearest

RESULTS = Path(__file__).resolve().parent / "results"


def tiled(images: np.ndarray, labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    reps = math.ceil(n / len(images))
    return np.concatenate([images] * reps)[:n], np.concatenate([labels] * reps)[:n]


def epoch_seconds(images: np.ndarray, labels: np.ndarray, device: torch.device, args,
                  small_input: bool) -> float:  # fmt: skip
    """Seconds for one epoch over `images` (timed steps = ceil(N / batch))."""
    steps = math.ceil(len(images) / args.batch_size)
    ips = radlens_images_per_s(
        images, labels, device, batch_size=args.batch_size, steps=steps, warmup=args.warmup,
        compile_model=False, precision=args.precision, small_input=small_input,
    )  # fmt: skip
    return steps * args.batch_size / ips


def growth_table(rows: list[dict], key: str) -> list[dict]:
    """Each row relative to the first: how much more work, how much more time."""
    base = rows[0]
    for r in rows:
        r["work_ratio"] = round(r[key] / base[key], 2)
        r["time_ratio"] = round(r["epoch_s"] / base["epoch_s"], 2)
    return rows


def to_markdown(report: dict) -> str:
    lines = [
        "# Cost growth (radlens, ResNet-18, one training epoch)",
        "",
        f"Machine: {report['device']}, torch {report['torch']}, {report['date']}. Command: "
        f"`{report['command']}`",
        "",
        "## Wall time vs number of training images (28 px)",
        "",
        "| images | epoch s | img/s | images ratio | time ratio |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in report["by_images"]:
        lines.append(f"| {r['images']} | {r['epoch_s']:.3f} | {r['images_per_s']:.1f} |"
                     f" {r['work_ratio']} | {r['time_ratio']} |")  # fmt: skip
    lines += [
        "",
        f"## Wall time vs image size ({report['size_images']} images)",
        "",
        "| size | stem | epoch s | img/s | pixels ratio | time ratio |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in report["by_size"]:
        lines.append(f"| {r['size']} | {r['stem']} | {r['epoch_s']:.3f} | {r['images_per_s']:.1f}"
                     f" | {r['work_ratio']} | {r['time_ratio']} |")  # fmt: skip
    lines += ["", report["verdict"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz", required=True, help="PneumoniaMNIST-28 npz")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--counts", default="546,4708,16384,65536,165466")
    parser.add_argument("--sizes", default="28,56,112,224")
    parser.add_argument("--size-images", type=int, default=4708, help="images per size point")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out-dir", default=str(RESULTS), help="'' to skip writing files")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    want = (
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    device = torch.device(want)
    if args.precision == "auto":  # as `radlens train` decides
        args.precision = "bf16-mixed" if bf16_native(device.type == "cuda") else "32-true"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = np.load(args.npz)
    images, labels = data["train_images"], data["train_labels"].reshape(-1, 1)

    by_images = []
    for n in [int(c) for c in args.counts.split(",")]:
        x, y = tiled(images, labels, n)
        sec = epoch_seconds(x, y, device, args, small_input=True)
        by_images.append({"images": n, "epoch_s": round(sec, 4), "images_per_s": n / sec})
    by_size = []
    x, y = tiled(images, labels, args.size_images)
    for size in [int(s) for s in args.sizes.split(",")]:
        xs = x if size == 28 else resize_nearest(x, size, 2)
        small = size <= 64
        sec = epoch_seconds(xs, y, device, args, small_input=small)
        by_size.append({"size": size, "pixels": size * size, "stem": "3x3/1" if small else
                        "7x7/2+pool", "epoch_s": round(sec, 4),
                        "images_per_s": args.size_images / sec})  # fmt: skip
    growth_table(by_images, "images")
    growth_table(by_size, "pixels")
    per_image = [r["time_ratio"] / r["work_ratio"] for r in by_images]
    per_pixel = [r["time_ratio"] / r["work_ratio"] for r in by_size]
    verdict = (
        f"Time per image stays within {min(per_image):.2f}-{max(per_image):.2f}x of the smallest"
        f" set's (linear in images); time ratio / pixel ratio is at most {max(per_pixel):.2f}"
        " (time grows at most linearly with pixels)."
    )
    report = {
        "benchmark": "scaling",
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else
        (platform.processor() or platform.machine()),
        "torch": torch.__version__,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "PYTHONPATH=src python3 benchmarks/scaling.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k not in ("out_dir",) and v is not None),
        "size_images": args.size_images,
        "by_images": by_images,
        "by_size": by_size,
        "time_per_image_ratio_range": [round(min(per_image), 3), round(max(per_image), 3)],
        "time_per_pixel_ratio_max": round(max(per_pixel), 3),
        "verdict": verdict,
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    if args.out_dir:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "scaling.json").write_text(json.dumps(report, indent=2) + "\n")
        (out / "scaling.md").write_text(to_markdown(report))


if __name__ == "__main__":
    main()
