"""radlens's training loop vs the official MedMNIST experiment loop, same model and data, one run.

The reference is written the way MedMNIST's `experiments/MedMNIST2D/train_and_eval_pytorch.py`
works: a torch Dataset returning one PIL image at a time (as `medmnist.dataset.MedMNIST2D`
does), a ToTensor-equivalent (np.asarray / 255, written by hand: no torchvision here) and
Normalize(mean=.5, std=.5) per image, a DataLoader (batch 128, shuffle), Adam 1e-3, MultiStepLR,
float32, the loss read with ``.item()`` every step, after every epoch an evaluation pass (scores
and loss) over train, val and test, and at the end the saved "best" model (in the official script
`best_model` is the training model itself, so: the final weights) evaluated again on train, val
and test. Only its TensorBoard logging is left out (not installed here). radlens runs
`radlens.training.loop.train` with its defaults (device-resident uint8 tensors, index-permutation
batches, bf16 autocast where the CPU has bf16, channels-last, fused Adam, inference_mode, val
evaluated each epoch). Both train ResNet-18 (28 px stem) for the same epochs on the same seeded
subset of PneumoniaMNIST; img/s = training images processed / wall time of the whole run. Both
wall-time and CPU-time ratios are printed (CPU time is the fairer figure on a loaded machine),
with each loop's phases, so the ratio without the reference's final evaluation can be read too.

    .venv/bin/python benchmarks/medmnist_speed.py --images 512 --eval-images 128 --epochs 2 --cpu 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from radlens.demos.medmnist import find_demo_data
from radlens.models.factory import build_model
from radlens.models.tasks import Task
from radlens.training.config import make_config
from radlens.training.device import subset_indices
from radlens.training.loop import train


class PilDataset(Dataset):
    """One image at a time through PIL, as medmnist.dataset.MedMNIST2D.__getitem__ does."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, np.ndarray]:
        img = Image.fromarray(self.images[i])
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None]  # ToTensor
        x = (x - 0.5) / 0.5  # Normalize(mean=[.5], std=[.5])
        return x, self.labels[i].astype(int)


def _evaluate(model, loader, criterion, task: Task) -> tuple[float, float]:
    """The official script's `test()`: scores and mean loss of one split; (loss, AUC)."""
    model.eval()
    losses, y_true, y_score = [], [], []
    with torch.no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            targets = torch.squeeze(targets, 1).long()
            losses.append(criterion(outputs, targets).item())
            y_score.append(torch.softmax(outputs, dim=1))
            y_true.append(targets)
    auc = task.auc(torch.cat(y_true).numpy()[:, None], torch.cat(y_score).numpy())
    return sum(losses) / len(losses), auc


def reference_run(
    data: dict[str, tuple[np.ndarray, np.ndarray]], epochs: int, seed: int, out: Path
) -> dict[str, float]:
    """The official script's loop; wall and CPU seconds per phase, and the test AUC."""
    torch.manual_seed(seed)
    task = Task("binary", ("normal", "pneumonia"))
    sets = {s: PilDataset(*data[s]) for s in data}
    train_loader = DataLoader(sets["train"], batch_size=128, shuffle=True)
    eval_loaders = {s: DataLoader(sets[s], batch_size=128, shuffle=False) for s in sets}
    model = build_model("resnet18", spatial_dims=2, in_channels=1, num_outputs=2)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    milestones = [max(1, round(0.5 * epochs)), max(1, round(0.75 * epochs))]
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    clock = {"train": [0.0, 0.0], "epoch_eval": [0.0, 0.0], "final_eval": [0.0, 0.0]}

    def tick(phase: str, wall: float, cpu: float) -> None:
        clock[phase][0] += time.perf_counter() - wall
        clock[phase][1] += time.process_time() - cpu

    best_auc, best_model = 0.0, model
    for _ in range(epochs):
        wall, cpu = time.perf_counter(), time.process_time()
        model.train()
        total_loss = []
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, torch.squeeze(targets, 1).long())
            total_loss.append(loss.item())
            loss.backward()
            optimizer.step()
        tick("train", wall, cpu)
        wall, cpu = time.perf_counter(), time.process_time()
        # the official script evaluates all three splits after every epoch
        scores = {s: _evaluate(model, eval_loaders[s], criterion, task) for s in sets}
        scheduler.step()
        if scores["val"][1] > best_auc:
            best_auc, best_model = scores["val"][1], model  # the same object, as in the script
        tick("epoch_eval", wall, cpu)
    wall, cpu = time.perf_counter(), time.process_time()
    torch.save({"net": best_model.state_dict()}, out / "best_model.pth")
    final = {s: _evaluate(best_model, eval_loaders[s], criterion, task) for s in sets}
    tick("final_eval", wall, cpu)
    return {
        **{f"{k}_wall_s": v[0] for k, v in clock.items()},
        **{f"{k}_cpu_s": v[1] for k, v in clock.items()},
        "wall_s": sum(v[0] for v in clock.values()),
        "cpu_s": sum(v[1] for v in clock.values()),
        "test_auc": final["test"][1],
    }


def radlens_run(
    data_file: Path, n_train: int, n_eval: int, epochs: int, seed: int, out: Path
) -> dict[str, float]:
    """`radlens.training.loop.train` with its defaults; wall and CPU seconds, and the test AUC."""
    config = make_config(
        {
            "dataset": "pneumoniamnist",
            "data_file": str(data_file),
            "verify": False,
            "model": "resnet18",
            "epochs": epochs,
            "max_train_images": n_train,
            "max_eval_images": n_eval,
            "seed": seed,
            "device": "cpu",
            "out": str(out),
        }
    )
    wall, cpu = time.perf_counter(), time.process_time()
    result = train(config, progress=False)
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "loop_wall_s": result.wall_time_s,
        "train_img_per_s": result.train_images_per_s,
        "test_auc": result.metrics["splits"]["test"]["auc"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512, help="training images (subset)")
    parser.add_argument("--eval-images", type=int, default=256, help="val and test images each")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both loops")
    parser.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU core")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder with pneumoniamnist*.npz")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    torch.set_num_threads(args.threads)

    data_file, official = find_demo_data(args.data_dir)
    npz = np.load(data_file)
    data = {}
    for split, limit in (
        ("train", args.images),
        ("val", args.eval_images),
        ("test", args.eval_images),
    ):
        images, labels = npz[f"{split}_images"], npz[f"{split}_labels"].reshape(-1, 1)
        idx = subset_indices(len(images), limit, args.seed)  # the subset radlens draws
        data[split] = (images[idx], labels[idx])

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        ref = reference_run(data, args.epochs, args.seed, Path(tmp))
        rl = radlens_run(
            data_file, args.images, args.eval_images, args.epochs, args.seed, Path(tmp) / "run"
        )
    n = args.images * args.epochs
    ref_train_ips = n / ref["train_wall_s"]
    # the protocol of the earlier runs, whose reference stopped after the last epoch's evaluation
    ref_no_final_wall = ref["wall_s"] - ref["final_eval_wall_s"]
    ref_no_final_cpu = ref["cpu_s"] - ref["final_eval_cpu_s"]
    result = {
        "benchmark": "medmnist_speed",
        "model": "resnet18 (28 px stem)",
        "data": f"{data_file.name} ({'official' if official else 'unofficial data'})",
        "train_images": args.images,
        "eval_images_per_split": args.eval_images,
        "epochs": args.epochs,
        "threads": args.threads,
        "cpu_core": args.cpu,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "reference_img_per_s": round(n / ref["wall_s"], 2),
        "radlens_img_per_s": round(n / rl["wall_s"], 2),
        "ratio": round(ref["wall_s"] / rl["wall_s"], 2),
        "cpu_time_ratio": round(ref["cpu_s"] / rl["cpu_s"], 2),
        "ratio_without_reference_final_eval": round(ref_no_final_wall / rl["wall_s"], 2),
        "cpu_time_ratio_without_reference_final_eval": round(ref_no_final_cpu / rl["cpu_s"], 2),
        "reference_train_phase_img_per_s": round(ref_train_ips, 2),
        "radlens_train_phase_img_per_s": round(rl["train_img_per_s"], 2),
        "train_phase_ratio": round(rl["train_img_per_s"] / ref_train_ips, 2),
        "reference_cpu_s": round(ref["cpu_s"], 2),
        "radlens_cpu_s": round(rl["cpu_s"], 2),
        "reference_wall_s": round(ref["wall_s"], 2),
        "radlens_wall_s": round(rl["wall_s"], 2),
        "reference_phases_wall_s": {
            k: round(ref[f"{k}_wall_s"], 2) for k in ("train", "epoch_eval", "final_eval")
        },
        "radlens_loop_wall_s": round(rl["loop_wall_s"], 2),
        "load_average_1min_before": round(load_before, 2),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
        "reference_test_auc": round(ref["test_auc"], 4),
        "radlens_test_auc": round(rl["test_auc"], 4),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
