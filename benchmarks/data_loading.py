"""Data-layer speed figures as JSON: radiograph decode vs cache hit, MedMNIST load, hashing.

Run: .venv/bin/python benchmarks/data_loading.py  (uses pydicom-data's RG1 chest CR and the
shared PneumoniaMNIST copy when present).
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from pydicom.data import get_testdata_file

from radlens.data.medmnist.load import load_medmnist
from radlens.data.radiographs.decode import load_radiograph
from radlens.data.splits import find_near_duplicates, image_hashes

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "medmnist"


def _median_s(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    out: dict[str, float | str] = {}
    path = get_testdata_file("RG1_J2KR.dcm", download=False)
    if path:
        with tempfile.TemporaryDirectory() as tmp:
            decode = _median_s(lambda: load_radiograph(path, 224, use_cache=False), 3)
            load_radiograph(path, 224, cache_dir=tmp)
            cached = _median_s(lambda: load_radiograph(path, 224, cache_dir=tmp), 5)
        out |= {"rg1_j2k_1955x1841_decode_resize_s": round(decode, 4),
                "rg1_cache_hit_s": round(cached, 4),
                "cache_speedup": round(decode / cached, 1)}  # fmt: skip
    npz = SHARED / "pneumoniamnist_UNOFFICIAL_trainsubset.npz"
    if npz.is_file():
        load_s = _median_s(lambda: load_medmnist("pneumoniamnist", data_file=npz), 3)
        ds = load_medmnist("pneumoniamnist", data_file=npz)
        hash_s = _median_s(lambda: image_hashes(ds.images["train"]), 3)
        tr, te = image_hashes(ds.images["train"]), image_hashes(ds.images["test"])
        dup_s = _median_s(lambda: find_near_duplicates(te, tr), 3)
        out |= {"pneumoniamnist28_load_s": round(load_s, 4),
                "hash_train_3882_images_s": round(hash_s, 4),
                "near_dup_test_vs_train_pairs_s": round(dup_s, 4),
                "near_dup_pairs_found": len(find_near_duplicates(te, tr))}  # fmt: skip
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
