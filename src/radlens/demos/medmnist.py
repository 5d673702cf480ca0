"""`radlens demo --medmnist`: a small ResNet-18 on PneumoniaMNIST from the data folder, for a few
epochs, then the test table and where the outputs are.

The official ``pneumoniamnist.npz`` is used when present (MD5 verified). Otherwise any
``pneumoniamnist*.npz`` in the folder is used as *unofficial* data (MD5 check off), and the demo
says so loudly; every metric it writes carries the "unofficial data" mark.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel

from radlens.data.medmnist import resolve_data_dir
from radlens.errors import ConfigError, DataError
from radlens.training import make_config, metrics_table, train

logger = logging.getLogger(__name__)

DEMO_DATASET = "pneumoniamnist"


@dataclass
class DemoResult:
    run_dir: Path
    data_file: Path
    official: bool
    metrics: dict[str, Any]


def find_demo_data(data_dir: str | Path | None = None) -> tuple[Path, bool]:
    """(npz path, is the official file name) for PneumoniaMNIST-28 in the data folder."""
    folder = resolve_data_dir(data_dir)
    official = folder / f"{DEMO_DATASET}.npz"
    if official.is_file():
        return official, True
    larger = {f"{DEMO_DATASET}_{size}.npz" for size in (64, 128, 224)}
    others = [p for p in sorted(folder.glob(f"{DEMO_DATASET}*.npz")) if p.name not in larger]
    if not others:
        raise DataError(
            f"no PneumoniaMNIST file in {folder} (expected {official.name}); fetch it with "
            f"`radlens data fetch {DEMO_DATASET} --size 28` or point --data-dir /"
            " $RADLENS_DATA_DIR at a folder holding it"
        )
    return others[0], False


def run_demo(
    *,
    data_dir: str | Path | None = None,
    out: str | Path = "runs/demo",
    epochs: int = 3,
    max_train_images: int | None = 1500,
    max_eval_images: int | None = None,
    seed: int = 0,
    device: str = "auto",
    console: Console | None = None,
    progress: bool = True,
) -> DemoResult:
    """Train and evaluate the demo model; print the test table; return where things are."""
    console = console or Console()
    path, is_official_name = find_demo_data(data_dir)
    if not is_official_name:
        console.print(
            Panel(
                f"[bold]{path.name}[/] is not the official PneumoniaMNIST file: using it with"
                " the MD5 check OFF. Every number below is measured on UNOFFICIAL data and is"
                " not comparable with the MedMNIST v2 paper.",
                title="UNOFFICIAL DATA",
                style="bold yellow",
            )
        )
    out = Path(out)
    if out.exists():  # the demo starts fresh, but only ever deletes an earlier run directory
        if not (out / "config.yaml").is_file() and any(out.iterdir()):
            raise ConfigError(f"--out {out} exists and is not a radlens run; choose another --out")
        shutil.rmtree(out)
    config = make_config(
        {
            "dataset": DEMO_DATASET,
            "size": 28,
            "data_file": str(path),
            "verify": is_official_name,
            "model": "resnet18",
            "epochs": epochs,
            "max_train_images": max_train_images,
            "max_eval_images": max_eval_images,
            "class_weights": "balanced",
            "seed": seed,
            "device": device,
            "out": str(out),
        },
        source="radlens demo",
    )
    result = train(config, progress=progress)
    console.print(metrics_table(result.metrics, splits=("test",)))
    console.print(
        f"outputs in [bold]{out}[/]: config.yaml, checkpoint.pt, metrics.json, "
        f"predictions.parquet · {result.train_images_per_s:.0f} training images/s · "
        f"re-evaluate with `radlens evaluate {out} --split test`"
    )
    return DemoResult(out, path, bool(result.metrics.get("official_data")), result.metrics)
