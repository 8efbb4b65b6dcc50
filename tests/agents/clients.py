"""Where the agent CLIs are (tests/agents/clients, installed by ``npm ci`` in
.ci/run) and how to run them against a gateway without touching anything
outside a temporary home."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

BIN = Path(__file__).parent / "clients" / "node_modules" / ".bin"


def binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: .ci/run installs it with `npm ci` in tests/agents/clients")
        pytest.skip(f"{name} not installed: run `npm ci` in tests/agents/clients")
    return str(path)


def base_env(home: Path) -> dict[str, str]:
    """Only PATH and a throwaway HOME: no credentials or settings of the machine leak in."""
    node_dir = os.path.dirname(shutil.which("node") or "/usr/bin/node")
    return {"PATH": f"{node_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def run(command: list[str], env: dict[str, str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout,
                          stdin=subprocess.DEVNULL)
