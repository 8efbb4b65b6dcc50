"""Fixtures for the agent front doors: a real gateway process whose model
groups are served by fake upstreams on 127.0.0.1 (an OpenAI-compatible one
that plays an agent's model, and an Anthropic one), plus ``mock/`` groups."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "gateway"))

from fakeserver import FakeServer  # noqa: E402
from gateway_process import GatewayProcess  # noqa: E402

MASTER_KEY = "sk-master-agents"


def gateway_config(openai_url: str, anthropic_url: str) -> str:
    return f"""
model_list:
  - model_name: agent-model
    litellm_params: {{model: openai/fake-agent, api_base: "{openai_url}/v1", api_key: sk-upstream}}
  - model_name: claude-group
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{anthropic_url}", api_key: sk-ant-upstream}}
  - model_name: mock-group
    litellm_params: {{model: mock/agent}}
  - model_name: broken-group
    litellm_params: {{model: openai/broken, api_base: "http://127.0.0.1:9/v1", api_key: sk-x, num_retries: 0}}
  - model_name: rescue-group
    litellm_params: {{model: openai/fake-agent, api_base: "{openai_url}/v1", api_key: sk-upstream}}
router_settings:
  fallbacks: [{{broken-group: [rescue-group]}}]
general_settings:
  master_key: {MASTER_KEY}
"""


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


ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


def new_key(gateway, **fields) -> str:
    import httpx

    response = httpx.post(gateway.url + "/key/generate", json=fields, headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["key"]


def spend_logs(gateway, key: str, expect: int = 1, timeout: float = 10.0) -> list[dict]:
    """The key's spend records, waiting for ``expect`` of them (spend is written in the background)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        logs = httpx.get(gateway.url + "/spend/logs", params={"api_key": key}, headers=ADMIN, timeout=10).json()
        if len(logs) >= expect or time.monotonic() > deadline:
            return logs
        time.sleep(0.1)
