"""Phantom speed: seconds (wall and CPU) to render one default study, and to write one to disk.

Usage: .venv/bin/python benchmarks/phantom_speed.py   -> JSON
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time

from radlens.phantom import make_phantom, synthesize_cohort


def main() -> int:
    make_phantom(0)  # warm imports and caches
    render, render_cpu = {}, {}
    for site in ("site_a", "site_b", "site_c"):
        times, cpu = [], []
        for seed in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            make_phantom(seed, site=site)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        render[site] = round(statistics.median(times), 3)
        render_cpu[site] = round(statistics.median(cpu), 3)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        table = synthesize_cohort(tmp, n_patients=5, seed=0, progress=False)
        per_study = (time.perf_counter() - t0) / len(table)
    out = {
        "render_seconds_median": render,
        "render_cpu_seconds_median": render_cpu,
        "cohort_seconds_per_study_dicom_nifti": round(per_study, 3),
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
