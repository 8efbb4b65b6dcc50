"""Shared by the UI tests: a gateway configured for the UI, a signed-in
HTTP client, and real calls through the gateway so the pages have data."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import openai

from gateway.gateway_process import GatewayProcess
from polyrelay.ui.auth import hash_password

MASTER = "sk-ui-master-5678"
ALICE_PASSWORD = "correct horse battery staple"
ALICE_HASH = hash_password(ALICE_PASSWORD)

CONFIG = f"""
model_list:
  - model_name: cheap
    litellm_params: {{model: mock/cheap}}
    model_info: {{input_cost_per_token: 0.001, output_cost_per_token: 0.002}}
  - model_name: other
    litellm_params: {{model: mock/other}}
general_settings:
  master_key: {MASTER}
  ui_users:
    - username: alice
      password_hash: "{ALICE_HASH}"
%(general)s
litellm_settings:
  cache: true
  cache_params: {{type: local}}
%(litellm)s
guardrails:
  - guardrail_name: no-secrets
    litellm_params: {{guardrail: secrets, mode: [pre_call], default_on: false}}
%(extra)s
"""


def start_gateway(extra: str = "", general: str = "", litellm: str = "") -> GatewayProcess:
    """``general`` / ``litellm``: more general_settings / litellm_settings lines (indented two
    spaces); ``extra``: more top-level config."""
    return GatewayProcess(CONFIG % {"extra": extra, "general": general, "litellm": litellm}).start()


def sign_in(gw: GatewayProcess, username: str = "", password: str = MASTER) -> httpx.Client:
    """An httpx client holding a UI session (as a browser would: Origin sent on POST)."""
    client = httpx.Client(base_url=gw.url, headers={"origin": gw.url}, timeout=20)
    token = login_token(client)
    answer = client.post("/ui/login", data={"login_token": token, "username": username, "password": password})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui", answer.text
    return client


def login_token(client: httpx.Client) -> str:
    return re.search(r'name="login_token" value="([^"]+)"', client.get("/ui/login").text).group(1)


def csrf(client: httpx.Client, page: str = "/ui/keys") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text).group(1)


def calls(gw: GatewayProcess, key: str, ok: int, failed: int = 0, model: str = "cheap") -> None:
    """Real calls through the gateway with the official openai SDK."""
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)
    for i in range(ok):
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"hello {i}"}],
                                       extra_body={"user": "end-user-1", "metadata": {"tags": ["ui-test"]}})
    for _ in range(failed):
        try:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "fail"}],
                                           extra_body={"mock_response": "litellm.InternalServerError",
                                                       "num_retries": 0})
        except openai.InternalServerError:
            pass
        else:
            raise AssertionError("the mocked failure answered")


def wait_for_logs(gw: GatewayProcess, count: int, timeout: float = 20.0) -> list[dict]:
    """Spend records reach the database a moment after the calls (the drain)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = httpx.get(gw.url + "/spend/logs", params={"page_size": 1000},
                         headers={"Authorization": f"Bearer {MASTER}"}, timeout=10).json()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"
