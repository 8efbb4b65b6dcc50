"""Fixtures for the agent front doors: a real gateway process whose model
groups are served by fake upstreams on 127.0.0.1 (an OpenAI-compatible one
that plays an agent's model, and an Anthropic one), plus ``mock/`` groups.
Helpers live in ``agent_gateway.py`` (test modules import from there, not
from a conftest, whose module name other test folders share)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from agent_gateway import gateway_config  # noqa: E402
from fakeserver import FakeServer  # noqa: E402
from gateway_process import GatewayProcess  # noqa: E402


@pytest.fixture(scope="module")
def openai_upstream():
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def anthropic_upstream():
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(openai_upstream, anthropic_upstream):
    process = GatewayProcess(gateway_config(openai_upstream.url, anthropic_upstream.url)).start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def _reset_upstreams(request):
    """Each test scripts its own upstream replies."""
    yield
    for name in ("openai_upstream", "anthropic_upstream"):
        if name in request.fixturenames:
            server = request.getfixturevalue(name)
            server.requests.clear()
            with server._lock:
                server._queue.clear()
            server.default = None
            server.responder = None
