"""DICOM series loading: radlens `load_volume` vs SimpleITK `ImageSeriesReader` on the same files.

Writes a realistic CT series (default 120 slices of 512x512 int16, explicit VR little endian, file
names and InstanceNumbers shuffled) to a temporary folder, loads it alternately with both readers,
checks that the HU arrays are equal after aligning slices by their z position, and prints medians
and `speed_ratio` = SimpleITK median / radlens median (> 1: radlens is faster) as JSON.

    .venv/bin/python benchmarks/dicom_loading.py [--slices 120] [--size 512] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.uid import JPEG2000Lossless

from radlens.data.volumes.io import Volume, load_volume, write_dicom_series

RESULTS = Path(__file__).resolve().parent / "results" / "dicom_loading.json"


def phantom(n_slices: int, size: int, seed: int = 0) -> Volume:
    """A chest-like phantom: air, body ellipse (soft tissue), two lungs, spine, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    plane = np.full((size, size), -1000.0)
    plane[(x / 0.45) ** 2 + (y / 0.32) ** 2 < 1] = 40.0
    for cx in (-0.2, 0.2):
        plane[((x - cx) / 0.15) ** 2 + (y / 0.22) ** 2 < 1] = -850.0
    plane[(x**2 + (y - 0.22) ** 2) < 0.04**2] = 700.0
    array = np.empty((n_slices, size, size), dtype=np.float32)
    for k in range(n_slices):
        array[k] = plane + rng.normal(0, 15, (size, size))
    return Volume(array, (1.25, 0.7, 0.7), (-179.0, -179.0, -300.0), metadata={"kernel": "B40f"})


def shuffle_files(paths: list[Path], *, compress: bool, seed: int = 0) -> None:
    """Random file names and InstanceNumbers, so neither gives the spatial order away; with
    `compress`, re-encode as JPEG 2000 lossless (pylibjpeg-openjpeg)."""
    rng = random.Random(seed)
    numbers = list(range(1, len(paths) + 1))
    rng.shuffle(numbers)
    for path, number in zip(paths, numbers, strict=True):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = number
        if compress:
            ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg")
        ds.save_as(path.with_name(f"IM_{rng.randrange(16**8):08x}.dcm"))
        path.unlink()


def read_sitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def sitk_in_z_order(image: sitk.Image) -> tuple[np.ndarray, np.ndarray]:
    """SimpleITK's (z, y, x) array sorted by ascending position along the slice normal, and the
    LPS position of the lowest slice (radlens' origin)."""
    array = sitk.GetArrayFromImage(image)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    normal = np.cross(direction[:, 0], direction[:, 1])
    positions = np.array(image.GetOrigin())[None, :] + (
        np.arange(array.shape[0])[:, None] * image.GetSpacing()[2] * direction[:, 2][None, :]
    )
    order = np.argsort(positions @ normal)
    return array[order], positions[order[0]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=120)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--transfer-syntax",
        choices=("explicit", "j2k"),
        default="explicit",
        help="explicit VR little endian (default) or JPEG 2000 lossless",
    )
    parser.add_argument("--workers", type=int, default=1, help="radlens reader threads")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        paths = write_dicom_series(phantom(args.slices, args.size), folder, patient_id="BENCH")
        shuffle_files(paths, compress=args.transfer_syntax == "j2k")
        ours, theirs, ours_cpu, theirs_cpu = [], [], [], []
        for _ in range(args.repeats):  # alternate, so load drifts hit both alike
            t0, c0 = time.perf_counter(), time.process_time()
            volume = load_volume(folder, workers=args.workers)
            t1, c1 = time.perf_counter(), time.process_time()
            image = read_sitk(folder)
            array = sitk.GetArrayFromImage(image)
            t2, c2 = time.perf_counter(), time.process_time()
            ours.append(t1 - t0)
            theirs.append(t2 - t1)
            ours_cpu.append(c1 - c0)
            theirs_cpu.append(c2 - c1)
        reference, lowest = sitk_in_z_order(image)
        equal = bool(np.array_equal(volume.array, reference.astype(np.float32)))
        geometry_equal = bool(
            np.allclose(volume.spacing[::-1], image.GetSpacing(), atol=1e-4)
            and np.allclose(volume.origin, lowest, atol=1e-4)
        )
        result = {
            "benchmark": "dicom_series_loading",
            "series": {
                "slices": args.slices,
                "rows": args.size,
                "columns": args.size,
                "pixel": "int16 + rescale, shuffled names/numbers",
                "transfer_syntax": {
                    "explicit": "explicit VR little endian",
                    "j2k": "JPEG 2000 lossless",
                }[args.transfer_syntax],
                "megabytes": round(sum(p.stat().st_size for p in folder.iterdir()) / 2**20, 1),
            },
            "repeats": args.repeats,
            "radlens_workers": args.workers,
            "radlens_median_s": round(statistics.median(ours), 4),
            "simpleitk_median_s": round(statistics.median(theirs), 4),
            "speed_ratio": round(statistics.median(theirs) / statistics.median(ours), 3),
            "speed_ratio_meaning": "SimpleITK median / radlens median; > 1 means radlens faster",
            "radlens_cpu_median_s": round(statistics.median(ours_cpu), 4),
            "simpleitk_cpu_median_s": round(statistics.median(theirs_cpu), 4),
            "cpu_ratio": round(statistics.median(theirs_cpu) / statistics.median(ours_cpu), 3),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "hu_equal": equal,
            "geometry_equal": geometry_equal,
            "simpleitk_dtype": str(array.dtype),
            "radlens_dtype": str(volume.array.dtype),
            "simpleitk_threads": sitk.ProcessObject.GetGlobalDefaultNumberOfThreads(),
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "command": "python benchmarks/dicom_loading.py "
            f"--slices {args.slices} --size {args.size} --repeats {args.repeats} "
            f"--transfer-syntax {args.transfer_syntax} --workers {args.workers}",
        }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recorded = json.loads(args.out.read_text()) if args.out.is_file() else {}
    recorded = recorded if "explicit" in recorded or "j2k" in recorded else {}
    recorded[args.transfer_syntax] = result
    args.out.write_text(json.dumps(recorded, indent=2) + "\n")
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
