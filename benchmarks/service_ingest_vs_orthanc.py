"""C-STORE ingest rate of `radlens serve` vs Orthanc, side by side, with the same storescu command.

Both receive the same synthetic CT instances (default 200 x ~20 kB) from the same dcmtk
`storescu` command line into an empty store; each server is started fresh by this script for each
repeat: `radlens serve` (SQLite, every instance fsynced and committed before Success) and Orthanc
(`/usr/sbin/Orthanc`, SQLite index in a temp dir, default synchronous storage). The figure is
instances / wall-clock second of the storescu run; the median of `--repeats` runs is reported
with the ratio radlens / Orthanc. Results go to benchmarks/results/service_ingest_vs_orthanc.json.

    .venv/bin/python benchmarks/service_ingest_vs_orthanc.py [--instances 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from radlens.data.volumes.io import Volume, write_dicom_series

RESULTS = Path(__file__).parent / "results" / "service_ingest_vs_orthanc.json"
ORTHANC = "/usr/sbin/Orthanc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            raise SystemExit(f"server exited during start-up (code {proc.returncode})")
        time.sleep(0.05)
    raise SystemExit(f"port {port} did not open within {timeout} s")


def make_instances(out: Path, n: int) -> list[Path]:
    """`n` CT slices of 100 x 100 int16 (~20 kB each) in one series."""
    rng = np.random.default_rng(0)
    arr = rng.normal(-500, 300, (n, 100, 100)).astype(np.float32)
    volume = Volume(array=arr, spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    paths = write_dicom_series(
        volume, out, patient_id="BENCH1", patient_name="Bench^Mark", study_uid=generate_uid()
    )
    return [Path(p) for p in paths]


def start_radlens(work: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "RADLENS_SERVICE_DIR": str(work / "radlens"),
        "RADLENS_DICOM_PORT": str(port),
        "RADLENS_HTTP_PORT": str(free_port()),
        "RADLENS_ENABLE_WORKER": "false",
        "RADLENS_AE_TITLE": "TARGET",
    }
    radlens = str(Path(sys.executable).with_name("radlens"))
    return subprocess.Popen(
        [radlens, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def start_orthanc(work: Path, port: int) -> subprocess.Popen:
    folder = work / "orthanc"
    folder.mkdir()
    config = {
        "Name": "bench",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "DicomAet": "TARGET",
        "DicomPort": port,
        "HttpPort": free_port(),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": True,
        "Plugins": [],
    }
    path = folder / "orthanc.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen(
        [ORTHANC, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def one_run(kind: str, files: list[Path], storescu: str) -> float:
    """Instances per second of one storescu run into a fresh server of `kind`."""
    work = Path(tempfile.mkdtemp(prefix=f"ingest-{kind}-"))
    port = free_port()
    proc = (start_radlens if kind == "radlens" else start_orthanc)(work, port)
    try:
        wait_port(port, proc)
        cmd = [storescu, "-aet", "BENCH", "-aec", "TARGET", "127.0.0.1", str(port)]
        t0 = time.perf_counter()
        sent = subprocess.run(cmd + [str(p) for p in files], capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if sent.returncode != 0:
            raise SystemExit(f"storescu into {kind} failed: {sent.stderr[-500:]}")
        return len(files) / elapsed
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    storescu = shutil.which("storescu")
    if storescu is None or not Path(ORTHANC).exists():
        raise SystemExit("needs dcmtk's storescu and /usr/sbin/Orthanc (apt-get install ...)")
    with tempfile.TemporaryDirectory() as tmp:
        files = make_instances(Path(tmp) / "series", args.instances)
        size = sum(p.stat().st_size for p in files) / len(files)
        rates: dict[str, list[float]] = {"radlens": [], "orthanc": []}
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            for kind in rates:
                rates[kind].append(one_run(kind, files, storescu))
    med = {k: statistics.median(v) for k, v in rates.items()}
    result = {
        "instances": args.instances,
        "mean_instance_bytes": round(size),
        "repeats": args.repeats,
        "command": f"{storescu} -aet BENCH -aec TARGET 127.0.0.1 PORT <{args.instances} files>",
        "runs_instances_per_s": {k: [round(x, 2) for x in v] for k, v in rates.items()},
        "median_instances_per_s": {k: round(v, 2) for k, v in med.items()},
        "ratio_radlens_over_orthanc": round(med["radlens"] / med["orthanc"], 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        "orthanc": subprocess.run(
            [ORTHANC, "--version"], capture_output=True, text=True
        ).stdout.splitlines()[0],
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
