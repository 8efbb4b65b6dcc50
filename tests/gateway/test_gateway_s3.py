"""S3 in a real gateway process, against moto's S3 server (signatures
checked): the response cache on a bucket, logs written to a bucket, and
cache hits reaching every callback with ``cache_hit: true`` and message
logging off honoured for them."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from fakeserver import FakeServer, Reply
from gateway_process import GatewayProcess

HANDLER = '''
import json, os
from polyrelay.integrations.custom_logger import CustomLogger


class Handler(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        with open(os.environ["EVENTS_FILE"], "a") as f:
            f.write(json.dumps(kwargs["standard_logging_object"], default=str) + "\\n")


handler = Handler()
'''
S3 = """{s3_bucket_name: os.environ/S3_BUCKET, s3_endpoint_url: os.environ/S3_ENDPOINT, s3_region_name: us-east-1,
    s3_aws_access_key_id: os.environ/S3_KEY, s3_aws_secret_access_key: os.environ/S3_SECRET, s3_path: %s}"""
CONFIG = f"""
model_list:
  - model_name: gpt
    litellm_params: {{model: openai/gpt-4o-mini, api_base: os.environ/UPSTREAM, api_key: sk-upstream-test-123456}}
litellm_settings:
  cache: true
  cache_params: {{type: s3, ttl: 600, {S3[1:-1] % "os.environ/CACHE_PREFIX"}}}
  callbacks: custom_callbacks.handler
  success_callback: ["s3"]
  s3_callback_params: {S3 % "os.environ/LOG_PREFIX"}
"""
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris, of course"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}
QUESTION = [{"role": "user", "content": "capital of France?"}]


@pytest.fixture
def gateway(tmp_path, s3_server):
    upstream = FakeServer().start()
    upstream.default = Reply(json=ANSWER)
    prefix = f"gw-{int(time.time() * 1000)}"
    events = tmp_path / "events.jsonl"
    process = GatewayProcess(CONFIG, env={
        "UPSTREAM": upstream.url, "EVENTS_FILE": str(events), "S3_BUCKET": s3_server.bucket,
        "S3_ENDPOINT": s3_server.endpoint, "S3_KEY": s3_server.access_key, "S3_SECRET": s3_server.secret_key,
        "CACHE_PREFIX": prefix + "/cache", "LOG_PREFIX": prefix + "/logs"})
    (process.config_path.parent / "custom_callbacks.py").write_text(HANDLER)
    process.start()
    yield process, upstream, events, prefix
    process.stop()
    upstream.stop()


def wait_for(read, want, timeout=15.0):
    deadline = time.monotonic() + timeout
    found = read()
    while len(found) < want and time.monotonic() < deadline:
        time.sleep(0.1)
        found = read()
    assert len(found) >= want, f"expected {want}, got {len(found)}"
    return found


def test_s3_cache_and_s3_logs_with_hits_logged(gateway, s3_server):
    process, upstream, events, prefix = gateway
    client = openai.OpenAI(base_url=process.url, api_key="anything")
    first = client.chat.completions.with_raw_response.create(model="gpt", messages=QUESTION)
    second = client.chat.completions.with_raw_response.create(model="gpt", messages=QUESTION)
    assert first.headers["x-polyrelay-cache-hit"] == "false" and second.headers["x-polyrelay-cache-hit"] == "true"
    assert second.parse().choices[0].message.content == "Paris, of course"
    streamed = client.chat.completions.create(model="gpt", messages=QUESTION, stream=True,
                                              stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == "Paris, of course"
    quiet = httpx.post(process.url + "/chat/completions", json={
        "model": "gpt", "messages": QUESTION, "metadata": {"turn_off_message_logging": True}})
    assert quiet.headers["x-polyrelay-cache-hit"] == "true"
    assert len(upstream.requests) == 1  # three hits, one provider call

    key = first.headers["x-polyrelay-cache-key"]
    assert f"{prefix}/cache/{key}" in s3_server.objects(prefix + "/cache/")  # the entry lives in the bucket

    logs = wait_for(lambda: s3_server.objects(prefix + "/logs/"), 4)
    logged = sorted((json.loads(body) for body in logs.values()), key=lambda s: s["startTime"])
    handled = sorted(wait_for(lambda: [json.loads(line) for line in events.read_text().splitlines()]
                              if events.exists() else [], 4), key=lambda s: s["startTime"])
    for std in (logged, handled):
        assert [s["cache_hit"] for s in std] == [False, True, True, True]
        assert [s["stream"] for s in std] == [False, False, True, False]
        assert [s["id"] for s in std][0] == first.headers["x-polyrelay-call-id"]
        assert all(s["model_group"] == "gpt" and s["total_tokens"] == 9 for s in std)
        assert std[1]["response_cost"] == 0 and std[1]["cache_key"] == key
        assert std[2]["response"]["choices"][0]["message"]["content"] == "Paris, of course"
        assert std[1]["messages"] == QUESTION
        assert std[3]["messages"] == "redacted-by-polyrelay"  # message logging off holds for a hit
        assert "Paris" not in json.dumps(std[3]) and "France" not in json.dumps(std[3])


def test_s3_settings_without_an_s3_callback_are_a_start_up_warning(tmp_path):
    from polyrelay.gateway.config import load

    path = tmp_path / "config.yaml"
    path.write_text("model_list: []\nlitellm_settings:\n  success_callback: []\n"
                    "  s3_callback_params: {s3_bucket_name: logs, s3_aws_secret_access_key: s3-secret-value-1}\n")
    config = load(str(path))
    assert any("s3_callback_params is set but no callback list names s3" in w for w in config.warnings)
    assert "s3-secret-value-1" in config.secrets()  # scrubbed from anything sent back
