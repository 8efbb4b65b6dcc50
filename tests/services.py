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


class RedisServer:
    """A redis-server on a free loopback port that can be stopped and started
    again on the same port (the fault drill restarts it mid-load). Nothing is
    persisted: a restart starts empty, as a Redis without a volume does."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            _missing("redis-server", "apt-get install redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tempfile.mkdtemp(prefix="polyrelay-redis-")
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", self.workdir],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.process, "redis-server")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis():
    server = RedisServer().start()
    return server.url, server.close


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory on a free loopback port,
    which can be stopped (``pg_ctl stop -m fast|immediate``) and started again
    on the same port with its data (the fault drill restarts it mid-load)."""

    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and self.pg_ctl):
            _missing("PostgreSQL server", "apt-get install postgresql")
        self.workdir = tempfile.mkdtemp(prefix="polyrelay-pg-")
        self.datadir = os.path.join(self.workdir, "data")
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
            shutil.chown(self.workdir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        subprocess.run([*self.as_user, initdb, "-D", self.datadir, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> "PostgresServer":
        options = (f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")
        subprocess.run([*self.as_user, self.pg_ctl, "-D", self.datadir, "-o", options, "-l",
                        os.path.join(self.workdir, "log"), "-w", "start"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, None, "postgres")
        return self

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run([*self.as_user, self.pg_ctl, "-D", self.datadir, "-m", mode, "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres():
    server = PostgresServer().start()
    return server.url, server.close


def new_database(admin_url: str, name: str) -> str:
    """A fresh empty database on the test server, for one test."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
