"""Cost of sending results back to the PACS for one scored CT study at full in-plane size.

A synthetic 512 x 512 x N CT series is ingested and scored (test scorer, one full-size Grad-CAM
heatmap); then, `--repeats` times: build the DICOM results (highdicom SR + Parametric Map) and
C-STORE them to a real Orthanc started here. Prints medians and writes
`benchmarks/results/service_results_dicom.json`.

    .venv/bin/python benchmarks/service_results_dicom.py --slices 64 --repeats 3
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from _support.orthanc import orthanc_server  # noqa: E402
from _support.service import TinyNetScorer, write_series  # noqa: E402

from radlens.service import (  # noqa: E402
    Database,
    DicomAddress,
    FileStore,
    ingest_dicom_files,
    send_datasets,
    study_results_datasets,
)
from radlens.service.worker import Worker  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        db = Database(f"sqlite:///{tmp / 'db.sqlite3'}")
        files = FileStore(tmp / "files")
        _uid, paths = write_series(tmp / "series", seed=0, shape=(args.slices, 512, 512))
        (study_id,) = ingest_dicom_files(
            db, files, [(p.name, p.read_bytes()) for p in paths]
        ).study_ids
        source_bytes = sum(p.stat().st_size for p in paths)
        assert Worker(db, files, TinyNetScorer(), completion_timeout_s=0).run_once() == 1
        build_s, send_s, sizes = [], [], []
        with orthanc_server(tmp) as orthanc:
            peer = DicomAddress(orthanc.aet, "127.0.0.1", orthanc.dicom_port)
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                datasets = study_results_datasets(db, files, study_id)
                t1 = time.perf_counter()
                send_datasets(datasets, peer)
                t2 = time.perf_counter()
                build_s.append(t1 - t0)
                send_s.append(t2 - t1)
                sizes = []
                for ds in datasets:
                    buf = io.BytesIO()
                    ds.save_as(buf, enforce_file_format=True)
                    sizes.append(len(buf.getvalue()))
        db.dispose()
    result = {
        "series": f"{args.slices} x 512 x 512 CT, 1 heatmap",
        "repeats": args.repeats,
        "build_s_median": round(statistics.median(build_s), 3),
        "send_s_median": round(statistics.median(send_s), 3),
        "sr_bytes": sizes[0],
        "parametric_map_bytes": sizes[1:],
        "source_series_bytes": source_bytes,
        "machine": f"{platform.processor() or platform.machine()}, shared 2-core VM",
    }
    print(json.dumps(result, indent=2))
    out = REPO / "benchmarks" / "results" / "service_results_dicom.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
