"""Labelling throughput with 1 and 2 workers: processes (`radlens label --workers N`) and Dask
(`radlens label --dask`, a LocalCluster of N worker processes), in one run; prints JSON.

    .venv/bin/python benchmarks/labeler_scaling.py [--reports 20000] [--repeats 3] \
        [--json benchmarks/results/labeler_scaling.json]

Corpus: `--reports` chest CT reports recombined from the sentences of the real CT-RATE reports
in ../shared/data/reports (`labeler_speed.recombine`: template sentences recur as in an archive),
written once as a CSV (processes) and as 8 CSV parts (Dask partitions). Each figure is end to end
from CSV to Parquet tables (read, label, write long + wide), the median of `--repeats` runs
(the four set-ups interleaved, so a change of load hits them alike), each run in a fresh Python
process (empty sentence caches; for processes the pool start is included,
for Dask the cluster is started and its workers have imported radlens before the clock; that
start time is given apart). reports/s
= reports / wall seconds; the machine's load average is printed beside (a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from labeler_speed import load_reports, recombine  # noqa: E402

PARTS = 8


def one_run(method: str, workers: int, folder: Path) -> dict:
    """One timed run in this (fresh) process."""
    from radlens.reports import label_dask, label_table
    from radlens.reports.labeler import KERNEL

    out = folder / f"out-{method}-{workers}-{os.getpid()}.parquet"
    if method == "processes":
        t0 = time.perf_counter()
        res = label_table(folder / "corpus.csv", id_column="id", text_column="text", out=out,
                          workers=workers)  # fmt: skip
        return {"seconds": time.perf_counter() - t0, "reports": res.n_reports, "kernel": KERNEL}
    from dask.distributed import Client, LocalCluster

    s0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as client:  # the workers import radlens before the clock
            client.run(__import__, "radlens.reports.scale")
        started = time.perf_counter() - s0
        t0 = time.perf_counter()
        res = label_dask(folder / "parts" / "*.csv", id_column="id", text_column="text", out=out,
                         scheduler=cluster.scheduler_address)  # fmt: skip
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "reports": res.n_reports, "cluster_start_s": started,
            "partitions": res.n_partitions, "kernel": KERNEL}  # fmt: skip


def write_corpus(folder: Path, n: int, data: Path) -> None:
    texts = recombine(load_reports(data), n)
    df = pd.DataFrame({"id": [f"r{i:06d}" for i in range(n)], "text": texts})
    df.to_csv(folder / "corpus.csv", index=False)
    (folder / "parts").mkdir()
    for i in range(PARTS):
        df.iloc[len(df) * i // PARTS : len(df) * (i + 1) // PARTS].to_csv(
            folder / "parts" / f"part{i}.csv", index=False
        )


def run_once(method: str, workers: int, folder: Path) -> dict:
    cmd = [sys.executable, __file__, "--one", method, str(workers), str(folder)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(method: str, workers: int, runs: list[dict]) -> dict:
    secs = sorted(r["seconds"] for r in runs)
    med = secs[len(secs) // 2]
    out = {"workers": workers, "reports_per_s": round(runs[0]["reports"] / med),
           "median_seconds": round(med, 3), "runs_seconds": [round(s, 3) for s in secs],
           "kernel": runs[0]["kernel"]}  # fmt: skip
    if method == "dask":
        starts = sorted(r["cluster_start_s"] for r in runs)
        out["cluster_start_s_median"] = round(starts[len(starts) // 2], 3)
        out["partitions"] = runs[0]["partitions"]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--one"]:
        print(json.dumps(one_run(argv[1], int(argv[2]), Path(argv[3]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "reports")
    ap.add_argument("--reports", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_corpus(folder, args.reports, args.data)
        res: dict = {"reports": args.reports, "repeats": args.repeats, "cpus": os.cpu_count()}
        configs = [(m, w) for m in ("processes", "dask") for w in (1, 2)]
        runs: dict = {c: [] for c in configs}
        for _ in range(args.repeats):  # interleaved: a change of the machine's load hits all
            for method, workers in configs:
                runs[method, workers].append(run_once(method, workers, folder))
        for method in ("processes", "dask"):
            res[method] = [summary(method, w, runs[method, w]) for w in (1, 2)]
            one, two = res[method]
            res[method + "_speedup_2_vs_1"] = round(two["reports_per_s"] / one["reports_per_s"], 2)
    load.append(os.getloadavg()[0])
    res["load_average_1min_start_end"] = [round(x, 2) for x in load]
    res["measured_on"] = f"{os.cpu_count()} CPU cores shared with other jobs (see load average)"
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
