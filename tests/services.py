"""Real PostgreSQL and Redis servers for tests, started on free loopback
ports in temporary directories and stopped afterwards.

When a server binary is missing: on a developer machine the tests that need
it are skipped with the reason; under CI (CI set) they fail, because
.ci/run must have installed it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _missing(what: str, hint: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: .ci/run must install it ({hint})")
    pytest.skip(f"{what} is not installed on this machine ({hint})")


def _wait_port(port: int, process: subprocess.Popen | None, name: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                break
            time.sleep(0.05)
    pytest.fail(f"{name} did not start on port {port}")


def start_redis():
    binary = shutil.which("redis-server")
    if binary is None:
        _missing("redis-server", "apt-get install redis-server")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="polyrelay-redis-")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, process, "redis-server")

    def stop():
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    return f"redis://127.0.0.1:{port}/0", stop


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def start_postgres():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        _missing("PostgreSQL server", "apt-get install postgresql")
    workdir = tempfile.mkdtemp(prefix="polyrelay-pg-")
    datadir = os.path.join(workdir, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
        shutil.chown(workdir, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run([*as_user, initdb, "-D", datadir, "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run([*as_user, pg_ctl, "-D", datadir, "-o", options, "-l", os.path.join(workdir, "log"), "-w", "start"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_port(port, None, "postgres")

    def stop():
        subprocess.run([*as_user, pg_ctl, "-D", datadir, "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(workdir, ignore_errors=True)

    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


def new_database(admin_url: str, name: str) -> str:
    """A fresh empty database on the test server, for one test."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
