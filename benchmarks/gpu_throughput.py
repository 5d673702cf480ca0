"""ResNet-18 at 28 px: radlens's training loop vs the official MedMNIST loop, in one run; and a
full 100-epoch PneumoniaMNIST-28 run with evaluation. Prints one JSON object.

radlens steps (what `radlens.training.loop.train` does per batch): the training images live on the
device as one uint8 tensor; each batch is an index slice of a device-side permutation, scaled to
[-1, 1] and augmented (random flip + shift) on the device, channels-last, bf16 autocast through
Lightning Fabric ("bf16-mixed" where the hardware has bf16), fused Adam, optional torch.compile.

Reference steps (the official `experiments/MedMNIST2D/train_and_eval_pytorch.py` way): a Dataset
that returns one PIL image at a time, ToTensor + Normalize(0.5, 0.5) per image, a DataLoader
(batch 128, shuffle, no workers), float32, batches copied to the device each step. Without Pillow
the per-image conversion is done with numpy the same way (reported as "reference_image_path").

The full run calls `radlens.training.loop.train` (100 epochs, validation every epoch, checkpoints,
final val/test predictions and metrics.json) and reports its wall time and test AUC/ACC. A batch
larger than 128 scales the learning rate (--lr-scaling sqrt: 1e-3 * sqrt(batch / 128)).

GPU (H100):  PYTHONPATH=src python3 benchmarks/gpu_throughput.py --npz PATH
CPU (small): PYTHONPATH=src python3 benchmarks/gpu_throughput.py --npz PATH --device cpu \
                 --steps 3 --warmup 1 --batch-size 64 --ref-batches 3 --full-epochs 1 \
                 --full-images 256 \
                 --full-eval-images 128 --threads 2
Needs only torch, numpy, lightning-fabric, monai, pydantic, pyyaml, pandas, pyarrow, scikit-learn,
scipy, rich (radlens imported from src/).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from radlens.models.factory import build_model
from radlens.models.tasks import Task
from radlens.training.config import make_config
from radlens.training.device import augment_batch, memory_format, normalise
from radlens.training.loop import bf16_native, train  # bf16_native: what precision="auto" picks

try:  # the official loop goes through PIL; Pillow may be absent on a bare GPU machine
    from PIL import Image
except ImportError:  # pragma: no cover - depends on the machine
    Image = None


class PerImageDataset(Dataset):
    """One image at a time, as medmnist.dataset.MedMNIST2D.__getitem__ + transforms do."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, np.ndarray]:
        img = Image.fromarray(self.images[i]) if Image is not None else self.images[i]
        arr = np.array(img, dtype=np.uint8, copy=True)
        x = torch.from_numpy(arr).float().div(255.0)[None]  # ToTensor
        x = (x - 0.5) / 0.5  # Normalize(mean=[.5], std=[.5])
        return x, self.labels[i].astype(np.int64)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_images_per_s(
    images: np.ndarray, labels: np.ndarray, device: torch.device, batches: int, warmup: int
) -> float:
    """Training img/s of the official loop (float32, batch 128, DataLoader over PIL images)."""
    torch.manual_seed(0)
    model = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss()
    loader = DataLoader(PerImageDataset(images, labels), batch_size=128, shuffle=True)
    model.train()
    seen, t0 = 0, None
    step = 0
    while step < warmup + batches:
        for inputs, targets in loader:
            if step == warmup:
                _sync(device)
                t0, seen = time.perf_counter(), 0
            inputs, targets = inputs.to(device), targets.to(device)
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets.squeeze(1).long())
            loss.backward()
            optimizer.step()
            seen += len(inputs)
            step += 1
            if step >= warmup + batches:
                break
    _sync(device)
    return seen / (time.perf_counter() - t0)


def radlens_images_per_s(
    images: np.ndarray,
    labels: np.ndarray,
    device: torch.device,
    *,
    batch_size: int,
    steps: int,
    warmup: int,
    compile_model: bool,
    precision: str,
    small_input: bool = True,
) -> float:
    """Training img/s of radlens's per-batch work (see module doc), after warm-up steps."""
    from lightning_fabric import Fabric

    torch.manual_seed(0)
    fabric = Fabric(accelerator=device.type, devices=1, precision=precision)
    task = Task("binary", ("normal", "pneumonia"))
    x_train = torch.from_numpy(images[:, None].copy()).to(device)  # uint8, resident
    y_train = torch.from_numpy(labels.reshape(-1, 1).astype(np.float32)).to(device)
    model = build_model(
        "resnet18", spatial_dims=2, in_channels=1, num_outputs=2, small_input=small_input
    )
    model = model.to(memory_format=torch.channels_last)
    fused = device.type in ("cuda", "cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
    net = torch.compile(model) if compile_model else model
    net, optimizer = fabric.setup(net, optimizer)
    gen = torch.Generator(device=device).manual_seed(1)
    n = len(x_train)
    perm = torch.randperm(n, device=device)
    net.train()
    t0, seen, pos = None, 0, 0
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            t0, seen = time.perf_counter(), 0
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, device=device), 0
        idx = perm[pos : pos + batch_size]
        pos += batch_size
        x = augment_batch(normalise(x_train[idx]), "flip+shift", 2, gen)
        x = x.contiguous(memory_format=memory_format(x))
        loss = task.loss(net(x), y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        fabric.backward(loss)
        optimizer.step()
        seen += len(idx)
    _sync(device)
    return seen / (time.perf_counter() - t0)


def full_run(npz: Path, device: str, args: argparse.Namespace) -> dict:
    """`radlens.training.loop.train` end to end (100 epochs by default), wall time, test metrics."""
    lr = 1e-3 * {"none": 1.0, "linear": args.full_batch_size / 128,
                 "sqrt": math.sqrt(args.full_batch_size / 128)}[args.lr_scaling]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        config = make_config(
            {
                "dataset": "pneumoniamnist",
                "data_file": str(npz),
                "verify": True,  # official only when the MD5 matches; else marked unofficial
                "model": "resnet18",
                "epochs": args.full_epochs,
                "batch_size": args.full_batch_size,
                "lr": lr,
                "augment": args.full_augment,
                "class_weights": args.class_weights,
                "max_train_images": args.full_images,
                "max_eval_images": args.full_eval_images,
                "checkpoint_every": args.checkpoint_every,
                "device": device,
                "compile": args.compile,
                "out": str(Path(tmp) / "run"),
            }
        )
        t0 = time.perf_counter()
        result = train(config, progress=False)
        wall = time.perf_counter() - t0
    test = result.metrics["splits"]["test"]
    return {
        "epochs": args.full_epochs,
        "batch_size": args.full_batch_size,
        "lr": lr,
        "augment": args.full_augment,
        "class_weights": args.class_weights,
        "checkpoint_every": args.checkpoint_every,
        "wall_time_s": round(wall, 2),
        "loop_wall_time_s": round(result.wall_time_s, 2),
        "train_images_per_s": round(result.train_images_per_s, 1),
        "best_epoch": result.best_epoch,
        "test_auc": round(test["auc"], 4),
        "test_acc": round(test["acc"], 4),
        "official_data": bool(result.metrics["official_data"]),
        "measured_on": test.get("measured_on", ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--npz", required=True, help="PneumoniaMNIST-28 npz (official layout)")
    parser.add_argument("--device", default="auto", help="auto, cuda or cpu")
    parser.add_argument("--batch-size", type=int, default=512, help="radlens timed batch")
    parser.add_argument("--steps", type=int, default=200, help="radlens timed steps")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps (each loop)")
    parser.add_argument("--ref-batches", type=int, default=60, help="reference timed batches")
    parser.add_argument("--compile", action="store_true", help="torch.compile (radlens)")
    parser.add_argument("--precision", default="auto", help="auto, bf16-mixed or 32-true")
    parser.add_argument("--full-epochs", type=int, default=100, help="0 skips the full run")
    parser.add_argument("--full-batch-size", type=int, default=512)
    parser.add_argument("--lr-scaling", choices=("none", "linear", "sqrt"), default="sqrt")
    parser.add_argument("--full-augment", default="none", help="none, flip, shift, flip+shift")
    parser.add_argument("--class-weights", default="balanced", help="none or balanced")
    parser.add_argument("--full-images", type=int, default=None, help="training subset")
    parser.add_argument("--full-eval-images", type=int, default=None, help="val/test subset")
    parser.add_argument("--checkpoint-every", type=int, default=10, help="full run: last.pt")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    want = (
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    device = torch.device(want)
    precision = args.precision
    if precision == "auto":  # as `radlens train` decides (bf16 where the hardware has it)
        precision = "bf16-mixed" if bf16_native(device.type == "cuda") else "32-true"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    data = np.load(args.npz)
    images, labels = data["train_images"], data["train_labels"].reshape(-1, 1)
    ref = reference_images_per_s(images, labels, device, args.ref_batches, min(args.warmup, 5))
    ours = radlens_images_per_s(
        images, labels, device, batch_size=args.batch_size, steps=args.steps,
        warmup=args.warmup, compile_model=args.compile, precision=precision,
    )  # fmt: skip
    report = {
        "benchmark": "resnet18 28px training throughput",
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "data_file": Path(args.npz).name,
        "radlens_images_per_s": round(ours, 1),
        "radlens_batch_size": args.batch_size,
        "radlens_precision": precision,
        "radlens_compile": args.compile,
        "radlens_channels_last": True,
        "reference_images_per_s": round(ref, 1),
        "reference_batch_size": 128,
        "reference_precision": "32-true",
        "reference_image_path": "PIL" if Image is not None else "numpy (Pillow not installed)",
        "ratio": round(ours / ref, 2),
        "timed_steps": args.steps,
        "reference_timed_batches": args.ref_batches,
    }
    if args.full_epochs > 0:
        report["full_run"] = full_run(Path(args.npz), want, args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
