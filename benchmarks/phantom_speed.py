"""Phantom speed: seconds to render one default study (median of 5) and to write one to disk.

Usage: .venv/bin/python benchmarks/phantom_speed.py   -> JSON
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time

from radlens.data.phantom_cohort import synthesize_cohort
from radlens.data.phantoms import make_phantom


def main() -> int:
    make_phantom(0)  # warm imports and caches
    render = {}
    for site in ("site_a", "site_b", "site_c"):
        times = []
        for seed in range(5):
            t0 = time.perf_counter()
            make_phantom(seed, site=site)
            times.append(time.perf_counter() - t0)
        render[site] = round(statistics.median(times), 3)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        table = synthesize_cohort(tmp, n_patients=5, seed=0, progress=False)
        per_study = (time.perf_counter() - t0) / len(table)
    out = {
        "render_seconds_median": render,
        "cohort_seconds_per_study_dicom_nifti": round(per_study, 3),
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
