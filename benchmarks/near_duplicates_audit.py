"""The 3D near-duplicate audit on a CT run's cohort: time and pairs flagged, cold and cached.

Loads the train/val/test volumes of RUN (its config.yaml, as `radlens evaluate --audit-volumes`
does: the window channels averaged by `radlens.data.grayscale_items`), compares train/val,
train/test and val/test with `radlens.data.find_split_duplicates`, once with an empty
descriptor cache and once reusing it, and lists every flagged pair with both patient ids (the
splits are by patient, so any pair of a demo cohort is two different patients: a false alarm).
Nothing is written into RUN. Wall and process CPU seconds are both given: on a shared machine
the CPU seconds are the comparable figure.

Run: .venv/bin/python benchmarks/near_duplicates_audit.py --run /tmp/demo_idle/run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from radlens.data import find_split_duplicates, grayscale_items
from radlens.training import load_dataset, make_config

ROOT = Path(__file__).resolve().parent


def _volumes(run: Path) -> tuple[dict, dict]:
    values = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    ds = load_dataset(make_config(values, source=str(run / "config.yaml")))
    names = [s for s in ("train", "val", "test") if s in ds.images]
    vols = {s: grayscale_items(ds.images[s], ds.spatial_dims, ds.n_channels) for s in names}
    return vols, {s: [str(p) for p in ds.patient_ids[s]] for s in names}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "results" / "near_duplicates_audit.json"
    )
    args = parser.parse_args()
    vols, patients = _volumes(args.run)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "duplicate_descriptors.npz"
        for name in ("cold cache", "warm cache"):
            t0, c0 = time.perf_counter(), time.process_time()
            pairs = find_split_duplicates(vols, cache=cache)
            runs[name] = {
                "wall_s": round(time.perf_counter() - t0, 1),
                "cpu_s": round(time.process_time() - c0, 1),
            }
            print(f"{name}: {runs[name]}, {len(pairs)} pairs flagged", flush=True)
    out = {
        "command": "python " + " ".join(["benchmarks/near_duplicates_audit.py", *sys.argv[1:]]),
        "run": str(args.run),
        "n_volumes": {s: len(v) for s, v in vols.items()},
        "volume_shape": list(next(iter(vols.values())).shape[1:]),
        "seconds": runs,
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        "n_pairs_flagged": len(pairs),
        "pairs": [
            p.to_dict()
            | {
                "patient_a": patients[p.split_a][p.index_a],
                "patient_b": patients[p.split_b][p.index_b],
            }
            for p in pairs
        ],
    }
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: out[k] for k in ("n_volumes", "seconds", "n_pairs_flagged")}))


if __name__ == "__main__":
    main()
