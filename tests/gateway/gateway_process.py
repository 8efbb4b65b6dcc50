"""A real gateway process for tests: ``python -m polyrelay.gateway.cli`` on a
free loopback port, waited on until /health/readiness answers 200, stopped
at the end. Its log (stderr and stdout) is kept in a file for assertions."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without provider keys, so only what a test
    sets reaches the gateway."""
    env = {k: v for k, v in os.environ.items()
           if not k.endswith(("_API_KEY", "_API_BASE", "_API_VERSION")) and k != "PYTHONPATH"}
    env.update(extra or {})
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run the CLI to completion (for --version, --help and start-up errors)."""
    return subprocess.run([sys.executable, "-m", "polyrelay.gateway.cli", *args], capture_output=True, text=True,
                          env=clean_env(env), timeout=timeout)


class GatewayProcess:
    def __init__(self, config_text: str | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), preexec_fn=None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="polyrelay-gw-")
        self.config_path: Path | None = None
        if config_text is not None:
            self.config_path = Path(self._dir.name) / "config.yaml"
            self.config_path.write_text(config_text)
        self.env = clean_env(env)
        self.args = args
        self.preexec_fn = preexec_fn  # run in the child before the gateway starts (e.g. to lower its rlimits)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(self._dir.name) / "gateway.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "GatewayProcess":
        command = [sys.executable, "-m", "polyrelay.gateway.cli", "--host", "127.0.0.1", "--port", str(self.port),
                   *self.args]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        log = open(self.log_path, "wb")
        # The working directory is the temp dir: nothing the gateway writes lands in the repo.
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self._dir.name,
                                     preexec_fn=self.preexec_fn)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log}")
            try:
                if httpx.get(self.url + "/health/readiness", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not become ready in {STARTUP_TIMEOUT}s:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._dir.cleanup()

    def metric(self, name: str, **labels: str) -> float:
        """The value of one Prometheus sample (0.0 if absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(self.url + "/metrics", timeout=5).text
        total = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total
