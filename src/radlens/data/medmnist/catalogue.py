"""The catalogue of the 18 MedMNIST v2 datasets and the paper's baseline results.

Both tables are package data (`catalogue.tsv`, `paper_results.tsv`): facts from
the official MedMNIST release v3.0.2 (`medmnist/info.py` INFO: URL and MD5 per size, task, label
names, channels, split sizes, licence, python class) and from the MedMNIST v2 paper (Yang et al.,
"MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical image classification",
Scientific Data 10:41, 2023, Tables 3 and 4). Cite the paper when using the data; DermaMNIST is
CC BY-NC 4.0, the other 17 datasets CC BY 4.0.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from importlib import resources

from radlens.core import suggest
from radlens.errors import DataError

#: MedMNIST's own task strings -> radlens task names (see radlens.data.arrays.TASK_TYPES).
TASK_FROM_MEDMNIST: dict[str, str] = {
    "binary-class": "binary",
    "multi-class": "multi-class",
    "multi-label, binary-class": "multi-label",
    "ordinal-regression": "ordinal-regression",
}
SIZES_2D: tuple[int, ...] = (28, 64, 128, 224)
SIZES_3D: tuple[int, ...] = (28, 64)


@dataclass(frozen=True)
class DatasetInfo:
    """One MedMNIST dataset as published (official release v3.0.2).

    task: radlens task name ("binary", "multi-class", "multi-label", "ordinal-regression");
    medmnist_task: the official string ("binary-class", "multi-label, binary-class", ...);
    label_names: class names (single-label) or label names (multi-label) in index order;
    n_samples: {"train", "val", "test"} official split sizes; files: {size: (url, md5)}.
    """

    name: str
    task: str
    medmnist_task: str
    label_names: tuple[str, ...]
    n_channels: int
    is_3d: bool
    n_samples: dict[str, int]
    files: dict[int, tuple[str, str]]
    licence: str
    python_class: str

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(sorted(self.files))

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    def file_name(self, size: int) -> str:
        """Official file name: `{name}.npz` for 28 px, `{name}_{size}.npz` otherwise."""
        self.check_size(size)
        return f"{self.name}.npz" if size == 28 else f"{self.name}_{size}.npz"

    def url(self, size: int) -> str:
        self.check_size(size)
        return self.files[size][0]

    def md5(self, size: int) -> str:
        self.check_size(size)
        return self.files[size][1]

    def check_size(self, size: int) -> None:
        if size not in self.files:
            raise DataError(
                f"MedMNIST dataset {self.name!r} has no size {size!r}; "
                f"available sizes: {', '.join(map(str, self.sizes))}"
            )


@dataclass(frozen=True)
class PaperResult:
    """One baseline's test AUC / ACC from the MedMNIST v2 paper."""

    dataset: str
    method: str
    auc: float
    acc: float


def _read_tsv(resource: str) -> list[dict[str, str]]:
    text = resources.files("radlens.data.medmnist").joinpath(resource).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t"))


def _parse_labels(text: str, where: str) -> tuple[str, ...]:
    names: list[str] = []
    for i, item in enumerate(text.split(";")):
        index, sep, name = item.partition("=")
        if not sep or index.strip() != str(i):
            raise DataError(f"{where}: label entry {item!r} is not '{i}=<name>'")
        names.append(name)
    return tuple(names)


@functools.cache
def _catalogue() -> dict[str, DatasetInfo]:
    rows = _read_tsv("catalogue.tsv")
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        grouped.setdefault(row["dataset"], []).append(row)
    out: dict[str, DatasetInfo] = {}
    for name, group in grouped.items():
        where = f"radlens/data/medmnist/catalogue.tsv, dataset {name!r}"
        first = group[0]
        if first["task"] not in TASK_FROM_MEDMNIST:
            raise DataError(f"{where}: unknown task {first['task']!r}")
        files = {int(r["size"]): (r["url"], r["md5"].lower()) for r in group}
        is_3d = first["is_3d"] == "1"
        if tuple(sorted(files)) != (SIZES_3D if is_3d else SIZES_2D):
            raise DataError(f"{where}: sizes {sorted(files)} are incomplete")
        out[name] = DatasetInfo(
            name=name,
            task=TASK_FROM_MEDMNIST[first["task"]],
            medmnist_task=first["task"],
            label_names=_parse_labels(first["labels"], where),
            n_channels=int(first["n_channels"]),
            is_3d=is_3d,
            n_samples={s: int(first[f"n_{s}"]) for s in ("train", "val", "test")},
            files=files,
            licence=first["license"],
            python_class=first["python_class"],
        )
    return out


def list_datasets() -> list[DatasetInfo]:
    """All 18 MedMNIST datasets in the official order (12 2D, then 6 3D)."""
    return list(_catalogue().values())


def dataset_names() -> list[str]:
    return list(_catalogue())


def get_info(name: str) -> DatasetInfo:
    """Catalogue entry by name (case-insensitive; the python class name also works).

    Raises DataError with a did-you-mean suggestion for unknown names.
    """
    catalogue = _catalogue()
    key = str(name).strip().lower()
    if key in catalogue:
        return catalogue[key]
    hint = suggest(key, catalogue, n=3)
    raise DataError(
        f"unknown MedMNIST dataset {name!r}{hint} (known: {', '.join(catalogue)}; "
        "see `radlens data list`)"
    )


@functools.cache
def _paper() -> tuple[PaperResult, ...]:
    return tuple(
        PaperResult(r["dataset"], r["method"], float(r["auc"]), float(r["acc"]))
        for r in _read_tsv("paper_results.tsv")
    )


def paper_results(name: str | None = None) -> list[PaperResult]:
    """Baseline test AUC / ACC from the MedMNIST v2 paper, for one dataset or all."""
    if name is None:
        return list(_paper())
    info = get_info(name)
    return [r for r in _paper() if r.dataset == info.name]


def paper_result(name: str, method: str) -> PaperResult:
    """One paper row, e.g. paper_result("pneumoniamnist", "ResNet-18 (28)")."""
    rows = paper_results(name)
    for row in rows:
        if row.method.lower() == method.strip().lower():
            return row
    methods = [r.method for r in rows]
    hint = suggest(method, methods, cutoff=0.5)
    raise DataError(
        f"no MedMNIST v2 paper result for {name!r} with method {method!r}{hint} "
        f"(available: {', '.join(methods)})"
    )
