"""No secret reaches a log line (issue 12, item 22): a gateway run with
--debug (access log on) is called with keys in query strings, headers and
bodies, and start-up is failed with values read from the environment;
then every line it wrote is searched for key shapes and for each secret."""

from __future__ import annotations

import re

import httpx
import pytest

from conftest import reset
from fakeserver import Reply
from gateway_process import GatewayProcess, run_cli

MASTER = "sk-logs-master-9f8e7d6c5b4a"
UPSTREAM_KEY = "sk-logs-upstream-0a1b2c3d4e5f"
HEADER_SECRET = "x-secret-header-value-77665544"
BODY_KEY = "sk-logs-body-key-1122334455"
QUERY_KEY = "sk-logs-query-key-5566778899"
WRONG_KEY = "sk-logs-wrong-key-abcdefabcdef"
PLAIN_SECRET = "hunter2-not-key-shaped-secret"  # a secret with no key shape: only its name can hide it
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]

CONFIG = """
model_list:
  - model_name: mock
    litellm_params: {model: mock/demo}
  - model_name: upstream
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/FAKE_UPSTREAM_BASE
      api_key: os.environ/LOGS_UPSTREAM_KEY
      extra_headers: {X-Secret: os.environ/LOGS_HEADER_SECRET}
router_settings: {num_retries: 0, disable_cooldowns: true}
general_settings:
  master_key: os.environ/LOGS_MASTER_KEY
"""
ENV = {"LOGS_UPSTREAM_KEY": UPSTREAM_KEY, "LOGS_HEADER_SECRET": HEADER_SECRET, "LOGS_MASTER_KEY": MASTER}
KEY_SHAPE = re.compile(r"sk-[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}")


def leaks(text: str, secrets: list[str]) -> list[str]:
    found = []
    for line in text.splitlines():
        if KEY_SHAPE.search(line) or any(secret in line for secret in secrets):
            found.append(line)
    return found


@pytest.fixture(scope="module")
def gateway(upstream):
    process = GatewayProcess(CONFIG, env={"FAKE_UPSTREAM_BASE": upstream.url, **ENV}, args=("--debug",)).start()
    yield process
    process.stop()


def test_debug_logs_carry_no_key(gateway, upstream):
    fake = reset(upstream)
    url = gateway.url
    with httpx.Client(base_url=url, timeout=10) as http:
        created = http.post("/key/generate", json={"models": ["mock", "upstream"]}, headers=ADMIN)
        assert created.status_code == 200, created.text
        virtual = created.json()["key"]
        assert http.get("/key/info", params={"key": virtual}, headers=ADMIN).status_code == 200
        http.get("/key/info", params={"key": QUERY_KEY}, headers=ADMIN)
        http.get("/v1/models", params={"api_key": QUERY_KEY, "key": PLAIN_SECRET}, headers=ADMIN)
        user = {"Authorization": f"Bearer {virtual}"}
        assert http.post("/chat/completions", json={"model": "mock", "messages": HELLO},
                         headers=user).status_code == 200
        http.post("/chat/completions", json={"model": "mock", "messages": HELLO, "api_key": BODY_KEY}, headers=user)
        http.post("/chat/completions", json={"model": "mock", "messages": HELLO}, headers={"Authorization":
                                                                                         f"Bearer {WRONG_KEY}"})
        http.post("/chat/completions", json={"model": "mock", "messages": HELLO}, headers={"api-key": WRONG_KEY})
        # an upstream that echoes the key it was sent, and fails
        fake.reply(Reply(401, json={"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}"}}))
        http.post("/chat/completions", json={"model": "upstream", "messages": HELLO}, headers=ADMIN)
        fake.reply(Reply(body=b"not json " + UPSTREAM_KEY.encode()))
        http.post("/chat/completions", json={"model": "upstream", "messages": HELLO}, headers=ADMIN)
    log = gateway.log
    assert "GET /key/info?key=" in log  # the access log is on, and shows the path
    found = leaks(log, [MASTER, UPSTREAM_KEY, HEADER_SECRET, BODY_KEY, QUERY_KEY, WRONG_KEY, virtual, PLAIN_SECRET])
    assert not found, "secrets in the log:\n" + "\n".join(found[:10])


@pytest.mark.parametrize("section", [
    "general_settings:\n  max_request_size_mb: os.environ/LOGS_BAD",
    "router_settings:\n  num_retries: os.environ/LOGS_BAD",
    "model_list:\n  - model_name: m\n    litellm_params: {model: openai/x, timeout: os.environ/LOGS_BAD}",
])
@pytest.mark.parametrize("value", [UPSTREAM_KEY, PLAIN_SECRET])
def test_config_errors_do_not_print_values_from_the_environment(tmp_path, section, value):
    config = tmp_path / "config.yaml"
    config.write_text(section + "\n")
    result = run_cli("--config", str(config), env={"LOGS_BAD": value})
    assert result.returncode == 2, result.stderr
    output = result.stdout + result.stderr
    assert not leaks(output, [value]), output
    assert "os.environ/LOGS_BAD" in output  # still says which value is wrong
