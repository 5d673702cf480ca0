"""Labelling at scale: several processes on one machine, or Dask partitions on a cluster.

Both run the one labeler (`label_many`, the same kernel) on pieces of the reports and give the
same findings as one process. `label_parallel` keeps the order of the texts;
`label_dask` labels each partition of a ``dask.dataframe`` where it lives and writes its long
and wide tables as one Parquet file per partition (``part.<i>.parquet`` in two folders), so
nothing of an archive passes through the client. Dask is the optional extra ``scale``
(``pip install radlens[scale]``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radlens.errors import ConfigError, ReportError
from radlens.reports.labeler import check_workers, label_many, label_parallel
from radlens.reports.tables import (
    check_uncertain,
    findings_to_long,
    findings_to_wide,
    wide_path_for,
)
from radlens.reports.vocabulary import load_vocabulary

log = logging.getLogger(__name__)

__all__ = ["DaskLabelSummary", "check_workers", "label_dask", "label_parallel"]  # re-export


@dataclass(frozen=True)
class DaskLabelSummary:
    """What `label_dask` wrote."""

    n_reports: int
    n_findings: int
    n_present: int
    n_partitions: int
    long_path: Path
    wide_path: Path
    scheduler: str


def _import_dask() -> tuple[Any, Any, Any, Any]:
    try:
        import dask
        import dask.dataframe as dd
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            f"radlens label --dask needs Dask ({exc.name} is not installed) "
            "[install the extra: pip install 'radlens[scale]']"
        ) from exc
    return dask, dd, Client, LocalCluster


def _read_partitions(dd: Any, reports: Path, id_column: str, text_column: str) -> Any:
    """A dask.dataframe of (id, text) strings: Parquet as it is partitioned, a CSV (or a glob of
    CSVs) one partition per file (quoted newlines in reports stay whole)."""
    if reports.suffix == ".parquet" or reports.is_dir():
        frame = dd.read_parquet(str(reports), columns=None)
    elif reports.suffix == ".csv" or "*" in reports.name:
        frame = dd.read_csv(str(reports), blocksize=None, dtype=str, keep_default_na=False)
    else:
        raise ReportError(
            f"reports {reports}: unknown format [expected .csv, .parquet or a folder of Parquet]"
        )
    missing = [c for c in (id_column, text_column) if c not in frame.columns]
    if missing:
        raise ReportError(
            f"reports {reports}: no column {missing[0]!r} [columns: {list(frame.columns)}; "
            "pass --id-column / --text-column]"
        )
    return frame[[id_column, text_column]]


def _label_partition(
    part: Any, i: int, vocab: str, id_column: str, text_column: str, uncertain: str, out: str
) -> tuple[int, int, int]:
    """Label one partition (on a worker) and write its long and wide tables; returns counts."""
    ids = part[id_column].astype(str).tolist()
    if len(set(ids)) != len(ids):
        raise ReportError(f"partition {i}: duplicate report ids [report ids must be unique]")
    texts = part[text_column].fillna("").astype(str).tolist()
    findings = label_many(texts, vocab=vocab)
    long_df = findings_to_long(ids, findings)
    wide = findings_to_wide(ids, findings, load_vocabulary(vocab), uncertain).reset_index()
    long_dir, wide_dir = Path(out), wide_path_for(Path(out))
    long_df.to_parquet(long_dir / f"part.{i:05d}.parquet", index=False)
    wide.to_parquet(wide_dir / f"part.{i:05d}.parquet", index=False)
    return len(ids), len(long_df), int((long_df["status"] == "present").sum())


def label_dask(
    reports: str | Path,
    *,
    id_column: str,
    text_column: str,
    vocab: str | Path = "chest_ct",
    out: str | Path = "labels.parquet",
    uncertain: str = "keep",
    scheduler: str | None = None,
    workers: int = 2,
) -> DaskLabelSummary:
    """Label a report archive with Dask: each partition by the labeler on a worker, written as
    partitioned Parquet (`out`/ long table, `out` .wide/ matrix, ``part.<i>.parquet`` each).

    `scheduler`: a ``dask.distributed`` scheduler address (``tcp://host:8786``); None starts a
    LocalCluster of `workers` processes for the run. The folders must be reachable by every
    worker (a shared file system)."""
    check_uncertain(uncertain, "--uncertain")
    check_workers(workers)
    dask, dd, Client, LocalCluster = _import_dask()
    source = str(load_vocabulary(vocab).source)
    out = Path(out)
    for folder in (out, wide_path_for(out)):
        if folder.is_file():
            raise ReportError(f"output {folder}: is a file [--dask writes a folder of parts]")
        folder.mkdir(parents=True, exist_ok=True)
    frame = _read_partitions(dd, Path(reports), id_column, text_column)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            tasks = [
                dask.delayed(_label_partition)(
                    part, i, source, id_column, text_column, uncertain, str(out.resolve())
                )
                for i, part in enumerate(frame.to_delayed())
            ]
            counts = dask.compute(*tasks)
            where = str(client.scheduler.address)
    finally:
        if cluster is not None:
            cluster.close()
    log.info("labelled %d partitions with Dask (%s)", len(counts), where)
    return DaskLabelSummary(
        n_reports=sum(c[0] for c in counts),
        n_findings=sum(c[1] for c in counts),
        n_present=sum(c[2] for c in counts),
        n_partitions=len(counts),
        long_path=out,
        wide_path=wide_path_for(out),
        scheduler=where,
    )
