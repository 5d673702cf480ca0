"""Load test of the triage service (loopback only, bounded in count and time).

Sends N synthetic CT studies concurrently, half by HTTP upload and half by DICOM C-STORE, to a
`radlens serve` subprocess that is killed (SIGKILL, a crash) and restarted once midway. Clients
retry until their study is accepted. Then it waits until every accepted study is scored and
prints JSON: accepted / lost / duplicated (scored more than once) and p50/p95 ingest latency.

    .venv/bin/python benchmarks/service_load.py --studies 200
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pydicom

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`radlens serve` as a subprocess that can be crashed and restarted."""

    def __init__(self, workdir: Path, http_port: int, dicom_port: int, db_url: str) -> None:
        self.workdir, self.http_port, self.dicom_port = workdir, http_port, dicom_port
        self.db_url = db_url
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RADLENS_SERVICE_DIR=str(self.workdir / "svc"),
            RADLENS_DATABASE_URL=self.db_url,
            RADLENS_HTTP_PORT=str(self.http_port),
            RADLENS_DICOM_PORT=str(self.dicom_port),
            RADLENS_DICOM_HOST="127.0.0.1",
            RADLENS_SCORER="_support.service:tiny_scorer",
            RADLENS_COMPLETION_TIMEOUT_S="1",
            RADLENS_WORKER_POLL_S="0.2",
            RADLENS_CHECK_FITNESS="false",  # its small synthetic series are no chest CT
            PYTHONPATH=os.pathsep.join([str(REPO / "tests"), env.get("PYTHONPATH", "")]),
            OMP_NUM_THREADS="1",
        )
        return env

    def start(self) -> None:
        self.starts += 1
        log = (self.workdir / f"server-{self.starts}.log").open("w")
        code = "import sys; from radlens.cli import entry; sys.argv=['radlens','serve']; entry()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], env=self.env(), stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.http_port}/health", timeout=1).is_success:
                    with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                        return
            except (httpx.HTTPError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"server did not start; see {log.name}")

    def crash(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _upload(port: int, token: str, paths: list[Path]) -> bool:
    files = [("files", (p.name, p.read_bytes(), "application/dicom")) for p in paths]
    try:
        response = httpx.post(
            f"http://127.0.0.1:{port}/studies",
            files=files,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    except httpx.HTTPError:
        return False
    return response.status_code == 201


def _cstore(port: int, paths: list[Path]) -> bool:
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    ae = AE(ae_title="LOADSCU")
    ae.add_requested_context(CTImageStorage)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    assoc = ae.associate("127.0.0.1", port, ae_title="RADLENS")
    if not assoc.is_established:
        return False
    try:
        for path in paths:
            status = assoc.send_c_store(pydicom.dcmread(path))
            if not status or status.Status != 0:
                assoc.abort()
                return False
        assoc.release()
        return assoc.is_released
    except Exception:
        assoc.abort()
        return False


def run_load(
    n_studies: int = 200,
    *,
    workdir: Path | None = None,
    threads: int = 16,
    restart_at: float = 0.4,
    deadline_s: float = 600.0,
    shape: tuple[int, int, int] = (4, 16, 16),
    database_url: str = "",
) -> dict[str, object]:
    """Run the load test; return the figures (see module docstring)."""
    from _support.service import write_series
    from sqlalchemy import select

    from radlens.service.auth import add_user
    from radlens.service.store import Database, Study

    workdir = Path(workdir or tempfile.mkdtemp(prefix="radlens-load-"))
    db_url = database_url or f"sqlite:///{workdir / 'svc' / 'radlens.sqlite3'}"
    server = Server(workdir, _free_port(), _free_port(), db_url)
    db = Database(db_url)
    token = add_user(db, "loadtest", "radiologist")
    studies = []
    for i in range(n_studies):
        uid, paths = write_series(
            workdir / "series" / f"{i:04d}", seed=i, patient_id=f"L{i:04d}", shape=shape
        )
        studies.append((uid, paths, "upload" if i % 2 == 0 else "dicom"))
    server.start()
    t_end = time.monotonic() + deadline_s
    latencies: list[float] = []
    attempts: list[int] = []
    done = threading.Semaphore(0)
    lock = threading.Lock()

    def send(item) -> bool:
        _, paths, how = item
        tries = 0
        while time.monotonic() < t_end:
            tries += 1
            t0 = time.perf_counter()
            ok = (
                _upload(server.http_port, token, paths)
                if how == "upload"
                else _cstore(server.dicom_port, paths)
            )
            if ok:
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    attempts.append(tries)
                done.release()
                return True
            time.sleep(0.5)
        done.release()
        return False

    def crasher() -> None:
        for _ in range(max(1, int(n_studies * restart_at))):
            done.acquire()
        server.crash()
        server.start()

    restarter = threading.Thread(target=crasher, daemon=True)
    restarter.start()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        accepted_flags = list(pool.map(send, studies))
    send_wall = time.perf_counter() - t0
    restarter.join(timeout=120)
    accepted = {uid for (uid, _, _), ok in zip(studies, accepted_flags, strict=True) if ok}
    rows: dict[str, tuple[str, int, int]] = {}
    while time.monotonic() < t_end:
        with db.session() as session:
            rows = {
                s.study_uid: (s.status.value, s.n_scorings, sum(len(x.instances) for x in s.series))
                for s in session.scalars(select(Study).where(Study.visible.is_(True)))
            }
        if all(rows.get(uid, ("",))[0] == "scored" for uid in accepted):
            break
        time.sleep(0.5)
    scored_wall = time.perf_counter() - t0
    server.stop()
    db.dispose()
    lost = [u for u in accepted if rows.get(u, ("",))[0] != "scored"]
    duplicated = [u for u, (_, n, _) in rows.items() if n > 1]
    wrong_count = [u for u in accepted if u in rows and rows[u][2] != shape[0]]
    lat = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "studies_sent": n_studies,
        "by_upload": sum(1 for s in studies if s[2] == "upload"),
        "by_cstore": sum(1 for s in studies if s[2] == "dicom"),
        "accepted": len(accepted),
        "not_accepted": n_studies - len(accepted),
        "scored": sum(1 for u in accepted if rows.get(u, ("",))[0] == "scored"),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "wrong_instance_count": len(wrong_count),
        "server_starts": server.starts,
        "retried_studies": sum(1 for a in attempts if a > 1),
        "ingest_latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "ingest_latency_ms_p95": round(float(np.percentile(lat, 95)), 1),
        "send_wall_s": round(send_wall, 1),
        "all_scored_wall_s": round(scored_wall, 1),
        "threads": threads,
        "slices_per_study": shape[0],
        "database": db_url.split(":", 1)[0].split("+")[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--deadline", type=float, default=600.0)
    parser.add_argument("--postgres", action="store_true", help="use a throw-away PostgreSQL")
    args = parser.parse_args()
    cluster = None
    url = ""
    if args.postgres:
        from service_fixtures import PostgresCluster, new_postgres_database

        cluster = PostgresCluster()
        url = new_postgres_database(cluster.base_url)
    try:
        figures = run_load(
            args.studies, threads=args.threads, deadline_s=args.deadline, database_url=url
        )
    finally:
        if cluster is not None:
            cluster.stop()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
