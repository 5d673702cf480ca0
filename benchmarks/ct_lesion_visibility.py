"""Are the phantom's lesions visible in the demo's model input? (diagnosis of the chance-level
mass / nodule / lymphadenopathy / calcification AUROCs of `radlens demo`).

For each synthesis shape: synthesize a small cohort with the real code, load it exactly as the demo
does (`load_ct_cohort(..., shape=(32, 64, 64), windows=DEMO_WINDOWS)`), resample every
ground-truth mask the same way as the image (MONAI Spacing, bilinear, >= 0.5) and report per
abnormality: voxels after resampling, mean HU inside the mask in the stored volume, the contrast
(mean inside - mean of a 2-voxel ring, 0..255 units) in each window channel, how often the report
labels agree with the truth, and how many mass / nodule masks lie mostly inside a consolidation,
atelectasis or effusion painted in the same study (invisible by construction).

    .venv/bin/python benchmarks/ct_lesion_visibility.py --patients 40 --seed 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import ndimage as ndi

from radlens.data.cohort_table import TRUTH_PREFIX, load_masks
from radlens.data.ct_cohort import DEMO_WINDOWS, load_ct_cohort
from radlens.data.volumes.io import load_volume
from radlens.data.volumes.preprocess import preprocess_volume
from radlens.data.volumes.volume import Volume
from radlens.phantom import ABNORMALITIES, synthesize_cohort

INPUT_SHAPE = (32, 64, 64)
HIDERS = ("consolidation", "atelectasis", "pleural_effusion")


def _resampled(mask: np.ndarray, like: Volume, spacing: tuple[float, ...]) -> np.ndarray:
    vol = Volume(mask.astype(np.float32), like.spacing, like.origin, np.eye(3), {})
    return preprocess_volume(vol, target_spacing=spacing, shape=INPUT_SHAPE)[0] >= 0.5


def measure(cohort_dir: Path, seed: int) -> dict:
    """Per-abnormality visibility figures of one synthesized cohort at the demo's input."""
    t0 = time.process_time()
    c = load_ct_cohort(
        cohort_dir,
        seed=seed,
        shape=INPUT_SHAPE,
        windows=DEMO_WINDOWS,
        cache_dir=cohort_dir / "cache",
        progress=False,
    )
    load_cpu = time.process_time() - t0
    ds, table = c.dataset, c.table
    images = np.zeros((len(table), len(DEMO_WINDOWS), *INPUT_SHAPE), np.uint8)
    labels = np.zeros((len(table), len(ds.label_names)), np.float32)
    for s in ds.splits:
        images[ds.extra["row_index"][s]] = ds.images[s]
        labels[ds.extra["row_index"][s]] = ds.labels[s]
    rows, hidden = [], []
    for i, r in enumerate(table.itertuples()):
        vol = load_volume(r.nifti_path)
        masks = load_masks(r.mask_path)
        for key, m in masks.items():
            if key == "lobes":
                continue
            abn = key.split("@")[0]
            rm = _resampled(m, vol, ds.extra["spacing"])
            ring = ndi.binary_dilation(rm, iterations=2) & ~rm
            row = {"abnormality": abn, "voxels": int(rm.sum()), "hu": float(vol.array[m].mean())}
            for ch in range(len(DEMO_WINDOWS)):
                x = images[i, ch].astype(np.float32)
                row[f"contrast_ch{ch}"] = float(x[rm].mean() - x[ring].mean()) if rm.any() else 0
            rows.append(row)
            if abn in ("mass", "nodule"):
                others = [masks[k] for k in masks if k.split("@")[0] in HIDERS]
                cover = float(np.any(others, axis=0)[m].mean()) if others else 0.0
                hidden.append(cover > 0.25)
    df = pd.DataFrame(rows)
    per = df.groupby("abnormality").median().round(1)
    agree = {}
    for j, abn in enumerate(ABNORMALITIES):
        truth, lab = table[TRUTH_PREFIX + abn].to_numpy(), labels[:, j]
        ok = ~np.isnan(lab)
        agree[abn] = round(float(np.mean(truth[ok] == lab[ok])), 4)
    return {
        "studies": len(table),
        "load_cpu_s": round(load_cpu, 1),
        "label_names_head": list(ds.label_names[: len(ABNORMALITIES)]) == list(ABNORMALITIES),
        "label_truth_agreement": agree,
        "median_per_abnormality": per.to_dict(orient="index"),
        "mass_nodule_masks_hidden_in_consolidation_atelectasis_effusion": f"{sum(hidden)}"
        f"/{len(hidden)}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=40)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--synth-shapes", default="32,64,64;64,96,96")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out: dict = {"input_shape": list(INPUT_SHAPE), "windows": [list(w) for w in DEMO_WINDOWS]}
    with tempfile.TemporaryDirectory(prefix="radlens-vis-") as tmp:
        for text in args.synth_shapes.split(";"):
            shape = tuple(int(v) for v in text.split(","))
            folder = Path(tmp) / "x".join(map(str, shape))
            t0 = time.process_time()
            synthesize_cohort(
                folder,
                n_patients=args.patients,
                seed=args.seed,
                shape=shape,
                formats=("nifti",),
                progress=False,
            )
            result = {"synth_cpu_s": round(time.process_time() - t0, 1)}
            result.update(measure(folder, args.seed))
            out[f"synthesized_at_{text}"] = result
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
