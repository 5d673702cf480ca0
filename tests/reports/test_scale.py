"""Labelling at scale: `--workers` processes and Dask partitions give the one-process tables."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from radlens.errors import ConfigError
from radlens.reports import label_dask, label_many, label_parallel, label_table

TEXTS = [
    "FINDINGS: No pleural effusion. Nodule in the right upper lobe.\nIMPRESSION: Nodule.",
    "Atelectasis, less likely pneumonia.",
    "Atelectasis versus pneumonia at the left base.",
    "",
    "Bilateral pleural effusions, possible pneumonia. Heart size is normal.",
    "INDICATION: Rule out pneumonia. FINDINGS: Lungs are clear.",
    "Right IJ central line tip in the SVC. Mild cardiomegaly.",
]


def _reports(tmp_path: Path, n: int = 40, name: str = "reports.csv", start: int = 0) -> Path:
    path = tmp_path / name
    rows = [(f"r{start + i:04d}", TEXTS[i % len(TEXTS)] + f" Case {i}.") for i in range(n)]
    pd.DataFrame(rows, columns=["id", "text"]).to_csv(path, index=False)
    return path


def test_label_parallel_keeps_order_and_findings() -> None:
    texts = [t + f" Item {i}." for i, t in enumerate(TEXTS * 5)]
    assert label_parallel(texts, "chest_xr", workers=2) == label_many(texts, "chest_xr")
    assert label_parallel(texts[:1], "chest_ct", workers=3) == label_many(texts[:1], "chest_ct")


def test_label_table_with_two_workers_writes_the_same_tables(tmp_path: Path) -> None:
    src = _reports(tmp_path)
    one = label_table(src, id_column="id", text_column="text", out=tmp_path / "one.parquet")
    two = label_table(
        src, id_column="id", text_column="text", out=tmp_path / "two.parquet", workers=2
    )
    pd.testing.assert_frame_equal(pd.read_parquet(one.long_path), pd.read_parquet(two.long_path))
    pd.testing.assert_frame_equal(pd.read_parquet(one.wide_path), pd.read_parquet(two.wide_path))


@pytest.mark.parametrize("bad", [0, -2, 1.5, True])
def test_workers_must_be_a_whole_number_of_processes(bad: object) -> None:
    with pytest.raises(ConfigError, match="--workers"):
        label_parallel(["No effusion."], workers=bad)  # type: ignore[arg-type]


def test_missing_dask_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ConfigError, match=r"radlens\[scale\]"):
        label_dask(_reports(tmp_path), id_column="id", text_column="text", out=tmp_path / "o")


@pytest.mark.slow
def test_dask_partitions_on_a_two_worker_cluster_match_one_process(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    parts = tmp_path / "in"
    parts.mkdir()
    _reports(parts, 30, "a.csv")
    _reports(parts, 25, "b.csv", start=30)
    both = pd.concat([pd.read_csv(p) for p in sorted(parts.glob("*.csv"))])
    both.to_csv(tmp_path / "all.csv", index=False)
    ref = label_table(tmp_path / "all.csv", id_column="id", text_column="text",
                      vocab="chest_xr", out=tmp_path / "ref.parquet")  # fmt: skip
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1) as cluster:
        address = cluster.scheduler_address
        done = label_dask(parts / "*.csv", id_column="id", text_column="text", vocab="chest_xr",
                          out=tmp_path / "dask.parquet", scheduler=address)  # fmt: skip
    assert time.perf_counter() - t0 < 60
    assert (done.n_reports, done.n_partitions) == (55, 2)
    assert sorted(p.name for p in done.long_path.iterdir()) == ["part.00000.parquet",
                                                                 "part.00001.parquet"]  # fmt: skip
    for got, want in ((done.long_path, ref.long_path), (done.wide_path, ref.wide_path)):
        pd.testing.assert_frame_equal(
            pd.read_parquet(got).reset_index(drop=True), pd.read_parquet(want)
        )
