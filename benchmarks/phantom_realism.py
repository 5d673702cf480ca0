"""How realistic (and hard) the phantom's focal lesions are: size distributions measured on the
rendered masks, nodule types, and synthesis time per study.

For each seed, patients 0..N-1 are rendered with `radlens.phantom.simulate_patient` at the demo's
synthesis shape (64, 96, 96), 3 sites, exactly as `radlens cohort synth` does (no files written).
Per focal finding: n, size percentiles and counts per band (`radlens.phantom.sizes`: equivalent
diameter; lymph nodes by short axis), the generator's nodule diameters (what the reports say)
and the nodule types; per study: CPU seconds to render (process time, so other processes on the
machine matter less) and wall seconds.

The measuring code is always the current tree's `radlens/phantom/sizes.py`, loaded from its
file, so a run against an older source tree (PYTHONPATH=old/src, `--label before`) is measured
the same way.

    .venv/bin/python benchmarks/phantom_realism.py --seeds 0 7919 --patients 150 \\
        --label after --json benchmarks/results/phantom_realism.json

`--demo LABEL=DIR/demo.json` (no rendering with `--seeds`) copies a `radlens demo` run's
per-abnormality test AUROC table and settings into the JSON under "demo".
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

import radlens.phantom as phantom

SIZES_PY = Path(__file__).resolve().parents[1] / "src" / "radlens" / "phantom" / "sizes.py"
_spec = importlib.util.spec_from_file_location("current_sizes", SIZES_PY)
sizes = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(sizes)  # type: ignore[union-attr]


def _nodule_kind(spec) -> str:
    kind = getattr(phantom.lesions, "nodule_type", None)
    return kind(spec) if kind else "solid (one type)"


def measure(seed: int, patients: int) -> dict:
    """Sizes, nodule types and render times of patients 0..patients-1 under `seed`."""
    rows, cpu, wall, generator_mm, kinds = [], [], [], [], {}
    for k in range(patients):
        t0, c0 = time.perf_counter(), time.process_time()
        studies = phantom.simulate_patient(seed, k, shape=phantom.DEFAULT_SHAPE, sites=3)
        n = len(studies)
        cpu += [(time.process_time() - c0) / n] * n
        wall += [(time.perf_counter() - t0) / n] * n
        for study, _ in studies:
            spacing = study.volume.spacing
            voxel_ml = float(np.prod(spacing)) / 1000.0
            for f in study.true_findings:
                key = f"{f['abnormality']}@{f['location']}"
                mask = study.masks[key]
                rows.append(
                    {
                        "abnormality": f["abnormality"],
                        "volume_ml": int(mask.sum()) * voxel_ml,
                        "short_axis_mm": sizes.short_axis_mm(mask, spacing),
                    }
                )
            for s in study.findings:
                if s.abnormality == "nodule":
                    generator_mm.append(s.size)
                    kinds[_nodule_kind(s)] = kinds.get(_nodule_kind(s), 0) + 1
    findings = pd.DataFrame(rows)
    g = np.asarray(generator_mm)
    return {
        "seed": seed,
        "patients": patients,
        "studies": len(cpu),
        "lesion_sizes": sizes.lesion_size_summary(findings),
        "nodule_generator_diameter_mm": {
            f"p{q}": round(float(np.percentile(g, q)), 1) for q in sizes.PERCENTILES if len(g)
        },
        "nodules_below_10mm_generator": int((g < 10).sum()),
        "nodule_instances": len(g),
        "nodule_types": kinds,
        "render_cpu_s_per_study_median": round(statistics.median(cpu), 3),
        "render_wall_s_per_study_median": round(statistics.median(wall), 3),
    }


def merge_demos(path: Path, items: list[str]) -> int:
    """Copy the settings and per-abnormality test AUROC of `radlens demo` runs into `path`."""
    data = json.loads(path.read_text()) if path.exists() else {}
    for item in items:
        label, demo_json = item.split("=", 1)
        d = json.loads(Path(demo_json).read_text())
        keep = ("patients", "studies", "seed", "epochs", "threads", "mean_test_auroc")
        entry = {k: d.get(k) for k in keep} | {
            "wall_time_s": d.get("wall_time_s"),
            "timings_s": d.get("timings_s"),
            "test_auroc": {
                a: {k: round(v[k], 3) for k in ("auroc", "low", "high")} | {"n": v["n_positive"]}
                for a, v in d["test_auroc"].items()
            },
        }
        data.setdefault("demo", {})[label] = entry
        print(label, {a: v["auroc"] for a, v in entry["test_auroc"].items()})
    path.write_text(json.dumps(data, indent=1) + "\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 7919])
    ap.add_argument("--patients", type=int, default=150)
    ap.add_argument("--label", default="after", help="section of the JSON: before / after")
    ap.add_argument("--json", type=Path, default=None, help="merge the result into this file")
    ap.add_argument("--demo", action="append", default=[], help="LABEL=path/to/demo.json")
    args = ap.parse_args()
    if args.demo:
        return merge_demos(args.json, args.demo)
    phantom.make_phantom(0)  # warm imports and caches
    result = {
        "source": str(Path(phantom.__file__).parent),
        "shape": list(phantom.DEFAULT_SHAPE),
        "seeds": {str(s): measure(s, args.patients) for s in args.seeds},
    }
    for seed, r in result["seeds"].items():
        print(
            f"seed {seed}: {r['studies']} studies, render {r['render_cpu_s_per_study_median']} "
            f"CPU s/study; nodule types {r['nodule_types']}"
        )
        print("  " + "\n  ".join(sizes.size_summary_lines(r["lesion_sizes"])))
    if args.json:
        data = json.loads(args.json.read_text()) if args.json.exists() else {}
        data[args.label] = result
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
