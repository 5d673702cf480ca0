"""radlens's training loop vs the official MedMNIST experiment loop, same model and data, one run.

The reference is written the way MedMNIST's `experiments/MedMNIST2D/train_and_eval_pytorch.py`
works: a torch Dataset returning one PIL image at a time (as `medmnist.dataset.MedMNIST2D`
does), a ToTensor-equivalent (np.asarray / 255, written by hand: no torchvision here) and
Normalize(mean=.5, std=.5) per image, a DataLoader (batch 128, shuffle), Adam 1e-3, MultiStepLR,
float32, and after every epoch an evaluation pass over train, val and test. radlens runs
`radlens.training.train` with its defaults (device-resident uint8 tensors, index-permutation
batches, bf16 autocast where the CPU has bf16, channels-last, fused Adam, inference_mode, val
evaluated each epoch). Both train ResNet-18 (28 px stem) for the same epochs on the same seeded
subset of PneumoniaMNIST; img/s = training images processed / wall time of the whole run.

    .venv/bin/python benchmarks/medmnist_speed.py --images 512 --eval-images 128 --epochs 2
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

from radlens.config import make_config
from radlens.demo import find_demo_data
from radlens.device_data import subset_indices
from radlens.models import build_model
from radlens.tasks import Task
from radlens.training import train


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


def reference_run(data: dict[str, tuple[np.ndarray, np.ndarray]], epochs: int, seed: int):
    """The official script's loop; returns (wall s, train-phase s, test AUC)."""
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
    t0, train_time, auc = time.perf_counter(), 0.0, float("nan")
    for _ in range(epochs):
        t_train = time.perf_counter()
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, torch.squeeze(targets, 1).long())
            loss.backward()
            optimizer.step()
        scheduler.step()
        train_time += time.perf_counter() - t_train
        for split in ("train", "val", "test"):  # the official script evaluates all three
            model.eval()
            y_true, y_score = [], []
            with torch.no_grad():
                for inputs, targets in eval_loaders[split]:
                    y_score.append(torch.softmax(model(inputs), dim=1))
                    y_true.append(targets)
            score = task.auc(torch.cat(y_true).numpy(), torch.cat(y_score).numpy())
            auc = score if split == "test" else auc
    return time.perf_counter() - t0, train_time, auc


def radlens_run(data_file: Path, n_train: int, n_eval: int, epochs: int, seed: int, out: Path):
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
    t0 = time.perf_counter()
    result = train(config, progress=False)
    wall = time.perf_counter() - t0
    return wall, result.train_images_per_s, result.metrics["splits"]["test"]["auc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=512, help="training images (subset)")
    parser.add_argument("--eval-images", type=int, default=256, help="val and test images each")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both loops")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="folder with pneumoniamnist*.npz")
    args = parser.parse_args()
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
    cpu0 = time.process_time()
    ref_wall, ref_train, ref_auc = reference_run(data, args.epochs, args.seed)
    cpu1 = time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        rl_wall, rl_train_ips, rl_auc = radlens_run(
            data_file, args.images, args.eval_images, args.epochs, args.seed, Path(tmp) / "run"
        )
    cpu2 = time.process_time()
    n = args.images * args.epochs
    result = {
        "benchmark": "medmnist_speed",
        "model": "resnet18 (28 px stem)",
        "data": f"{data_file.name} ({'official' if official else 'unofficial data'})",
        "train_images": args.images,
        "eval_images_per_split": args.eval_images,
        "epochs": args.epochs,
        "threads": args.threads,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "reference_img_per_s": round(n / ref_wall, 2),
        "radlens_img_per_s": round(n / rl_wall, 2),
        "ratio": round(ref_wall / rl_wall, 2),
        "reference_train_phase_img_per_s": round(n / ref_train, 2),
        "radlens_train_phase_img_per_s": round(rl_train_ips, 2),
        "train_phase_ratio": round(rl_train_ips / (n / ref_train), 2),
        "cpu_time_ratio": round((cpu1 - cpu0) / (cpu2 - cpu1), 2),
        "reference_cpu_s": round(cpu1 - cpu0, 2),
        "radlens_cpu_s": round(cpu2 - cpu1, 2),
        "load_average_1min_before": round(load_before, 2),
        "reference_wall_s": round(ref_wall, 2),
        "radlens_wall_s": round(rl_wall, 2),
        "reference_test_auc": round(ref_auc, 4),
        "radlens_test_auc": round(rl_auc, 4),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
