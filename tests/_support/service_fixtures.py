"""Fixtures for the service tests: a real PostgreSQL server in a temp dir, database URLs for both
back ends, free ports, and Debian package discovery with loud skip reasons."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def need_program(name: str, package: str) -> str:
    """Path of a program from a Debian package, or a loud skip saying how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"!!! {name} NOT INSTALLED: integration test skipped; "
            f"install it with `apt-get install {package}` !!!"
        )
    return path


def _pg_program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


class PostgresCluster:
    """A throw-away PostgreSQL cluster: initdb + pg_ctl on a free loopback port in a temp dir
    (run as the `postgres` user when we are root, since initdb refuses root)."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_program("initdb"), _pg_program("pg_ctl")
        if initdb is None or self.pg_ctl is None:
            raise FileNotFoundError("initdb/pg_ctl not found: apt-get install postgresql")
        self.tmp = Path(tempfile.mkdtemp(prefix="radlens-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.data = self.tmp / "data"
        port = free_port()
        subprocess.run(
            [
                *self.prefix,
                initdb,
                "-D",
                str(self.data),
                "-U",
                "radlens",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
        )
        opts = f"-p {port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *self.prefix,
                self.pg_ctl,
                "-D",
                str(self.data),
                "-o",
                opts,
                "-l",
                str(self.tmp / "server.log"),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        self.base_url = f"postgresql+psycopg://radlens@127.0.0.1:{port}"

    def stop(self) -> None:
        subprocess.run(
            [*self.prefix, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL for the test session; yields its base URL (no database name)."""
    if _pg_program("initdb") is None or _pg_program("pg_ctl") is None:
        pytest.skip("!!! PostgreSQL NOT INSTALLED: `apt-get install postgresql` to run these !!!")
    pytest.importorskip("psycopg", reason="psycopg driver missing: pip install psycopg[binary]")
    cluster = PostgresCluster()
    try:
        yield cluster.base_url
    finally:
        cluster.stop()


def new_postgres_database(base_url: str) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    dsn = base_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base_url}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    """The same store tests on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'radlens.sqlite3'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))
