"""The CLI refuses a bad argument by name, with exit status 2 and no traceback,
before it loads the config or opens a port."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("argv, message", [
    (["--num_workers", "0"], "--num_workers must be at least 1"),
    (["--header_timeout", "0"], "--header_timeout must be a positive number of seconds"),
    (["--header_timeout", "inf"], "--header_timeout must be a positive number of seconds"),
    (["--max_connections", "0"], "--max_connections must be at least 1"),
])
def test_a_bad_argument_is_refused_by_name(argv, message):
    done = subprocess.run([sys.executable, "-m", "polyrelay.gateway.cli", "--port", "1", *argv],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"polyrelay: {message}" in done.stderr and "Traceback" not in done.stderr


def test_the_help_names_every_option():
    done = subprocess.run([sys.executable, "-m", "polyrelay.gateway.cli", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    for option in ("--config", "--port", "--num_workers", "--header_timeout", "--max_connections", "--detailed_debug"):
        assert option in done.stdout


def test_a_missing_config_file_is_refused_naming_it(tmp_path):
    missing = tmp_path / "nope.yaml"
    done = subprocess.run([sys.executable, "-m", "polyrelay.gateway.cli", "--config", str(missing)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "POLYRELAY_SINK_PROCESS": "1"})
    assert done.returncode == 2 and "cannot start" in done.stderr and "nope.yaml" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_refused_start_leaves_the_callers_environment_alone(monkeypatch, tmp_path):
    """cli.main called in-process (as tests and embedding programs do): a start-up refused by
    a bad config must not leave POLYRELAY_SINK_PROCESS set, or every gateway that process
    embeds later would move its sinks to a sink process."""
    from polyrelay.gateway import cli

    monkeypatch.delenv("POLYRELAY_SINK_PROCESS", raising=False)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list: 7\n")
    assert cli.main(["--config", str(bad), "--port", "1"]) == 2
    assert cli.main(["--num_workers", "0"]) == 2
    assert "POLYRELAY_SINK_PROCESS" not in os.environ
