"""Helpers for the agent front-door tests: the gateway config (an
OpenAI-compatible group and an Anthropic group served by fake upstreams on
127.0.0.1, mock/ groups, a broken group that falls back), keys, spend."""

from __future__ import annotations

import time

import httpx

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


ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


def new_key(gateway, **fields) -> str:
    response = httpx.post(gateway.url + "/key/generate", json=fields, headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["key"]


def spend_logs(gateway, key: str, expect: int = 1, timeout: float = 10.0) -> list[dict]:
    """The key's spend records, waiting for ``expect`` of them (spend is written in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = httpx.get(gateway.url + "/spend/logs", params={"api_key": key}, headers=ADMIN, timeout=10).json()
        if len(logs) >= expect or time.monotonic() > deadline:
            return logs
        time.sleep(0.1)
