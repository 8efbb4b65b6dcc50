"""The response cache through real gateway processes, driven by the openai
SDK and httpx: hits with no provider call, streams, spend at 0, embeddings
per item, admin routes, start-up refusals, and Redis shared by two gateways."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

import services
from conftest import reset
from fakeserver import Reply
from gateway_process import GatewayProcess, run_cli

MASTER = "sk-master-cache-tests-1234"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1000, "completion_tokens": 1000, "total_tokens": 2000}}
TEXT_ANSWER = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-3.5-turbo-instruct",
               "choices": [{"index": 0, "text": "roses", "finish_reason": "stop", "logprobs": None}],
               "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}

CONFIG = """
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/FAKE_BASE, api_key: sk-upstream-secret}
    model_info: {input_cost_per_token: 0.001, output_cost_per_token: 0.001}
  - model_name: instruct
    litellm_params: {model: text-completion-openai/gpt-3.5-turbo-instruct, api_base: os.environ/FAKE_BASE,
                     api_key: sk-upstream-secret}
  - model_name: embed
    litellm_params: {model: openai/text-embedding-3-small, api_base: os.environ/FAKE_BASE,
                     api_key: sk-upstream-secret}
general_settings:
  master_key: %(master)s
litellm_settings:
  cache: true
  cache_params:
%(params)s
"""


def config(params: str = "    type: local") -> str:
    return CONFIG % {"master": MASTER, "params": params}


@pytest.fixture(scope="module")
def gateway(upstream):
    process = GatewayProcess(config(), env={"FAKE_BASE": upstream.url}).start()
    yield process
    process.stop()


@pytest.fixture
def fake(upstream):
    reset(upstream)
    upstream.default = Reply(json=ANSWER)
    return upstream


@pytest.fixture
def client(gateway):
    return openai.OpenAI(api_key=MASTER, base_url=gateway.url + "/v1", max_retries=0)


def ask(client, content: str, **kwargs):
    return client.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": content}], **kwargs)


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_repeat_is_a_hit_with_no_provider_call_and_the_cache_headers(gateway, client, fake):
    first = ask(client, "repeat me")
    second = ask(client, "repeat me", extra_body={"metadata": {"trace": "other"}, "user": "someone-else"})
    assert len(fake.requests) == 1
    assert first.headers["x-polyrelay-cache-hit"] == "false"
    assert second.headers["x-polyrelay-cache-hit"] == "true"
    key = second.headers["x-polyrelay-cache-key"]
    assert key == first.headers["x-polyrelay-cache-key"] == second.headers["x-litellm-cache-key"]
    assert float(second.headers["x-polyrelay-response-cost"]) == 0.0
    assert second.parse().choices[0].message.content == "hello there"
    assert "sk-upstream-secret" not in key and MASTER not in key


def test_a_hit_is_streamed_when_asked_with_usage(client, fake):
    ask(client, "stream me")
    raw = ask(client, "stream me", stream=True, stream_options={"include_usage": True})
    assert raw.headers["x-polyrelay-cache-hit"] == "true"
    chunks = list(raw.parse())
    assert len(fake.requests) == 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hello there"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 2000
    plain = list(client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": "stream me"}],
                                                stream=True))
    assert all(c.usage is None for c in plain)  # no include_usage: no usage chunk


def test_per_request_controls_in_extra_body_and_metadata(client, fake):
    ask(client, "controls", extra_body={"cache": {"no-store": True}})
    ask(client, "controls", extra_body={"metadata": {"cache": {"no-cache": True}}})
    assert len(fake.requests) == 2
    assert ask(client, "controls").headers["x-polyrelay-cache-hit"] == "true"  # the second one was stored
    with pytest.raises(openai.BadRequestError, match="maxage"):
        ask(client, "controls", extra_body={"cache": {"maxage": 1}})


def test_hits_cost_nothing_in_spend_and_budgets(gateway, fake):
    key = httpx.post(gateway.url + "/key/generate", json={"max_budget": 100}, headers=ADMIN).json()["key"]
    spender = openai.OpenAI(api_key=key, base_url=gateway.url + "/v1", max_retries=0)
    miss = ask(spender, "budgeted")
    hit = ask(spender, "budgeted")
    assert hit.headers["x-polyrelay-cache-hit"] == "true"
    logs = wait_for(lambda: (rows := httpx.get(gateway.url + "/spend/logs", params={"api_key": key},
                                                headers=ADMIN).json()) and len(rows) == 2 and rows)
    by_id = {row["request_id"]: row for row in logs}
    miss_row, hit_row = by_id[miss.headers["x-polyrelay-call-id"]], by_id[hit.headers["x-polyrelay-call-id"]]
    assert miss_row["spend"] == pytest.approx(2.0) and not (miss_row["metadata"] or {}).get("cache_hit")
    assert hit_row["spend"] == 0 and hit_row["metadata"]["cache_hit"] is True
    info = wait_for(lambda: (i := httpx.get(gateway.url + "/key/info", params={"key": key}, headers=ADMIN).json())
                    ["info"]["spend"] > 0 and i)
    time.sleep(0.3)
    info = httpx.get(gateway.url + "/key/info", params={"key": key}, headers=ADMIN).json()
    assert info["info"]["spend"] == pytest.approx(2.0)


def test_text_completions_are_cached(client, fake):
    fake.default = Reply(json=TEXT_ANSWER)
    first = client.completions.with_raw_response.create(model="instruct", prompt="say roses")
    second = client.completions.with_raw_response.create(model="instruct", prompt="say roses")
    assert len(fake.requests) == 1 and second.headers["x-polyrelay-cache-hit"] == "true"
    assert second.parse().choices[0].text == first.parse().choices[0].text == "roses"


def test_embeddings_are_cached_per_item_and_only_misses_reach_the_provider(client, fake):
    def vectors(texts):
        return Reply(json={"object": "list", "model": "text-embedding-3-small",
                           "data": [{"object": "embedding", "index": i, "embedding": [float(len(t)), 0.5]}
                                    for i, t in enumerate(texts)],
                           "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})

    fake.reply(vectors(["one", "three"]))
    client.embeddings.create(model="embed", input=["one", "three"], encoding_format="float")
    fake.reply(vectors(["fives"]))
    mixed = client.embeddings.create(model="embed", input=["three", "fives", "one"], encoding_format="float")
    assert fake.requests[-1].json["input"] == ["fives"]
    assert [d.embedding[0] for d in mixed.data] == [5.0, 5.0, 3.0] and [d.index for d in mixed.data] == [0, 1, 2]
    whole = client.embeddings.with_raw_response.create(model="embed", input=["one", "fives"], encoding_format="float")
    assert len(fake.requests) == 2 and whole.headers["x-polyrelay-cache-hit"] == "true"


def test_admin_routes_ping_delete_and_metrics(gateway, client, fake):
    assert httpx.get(gateway.url + "/cache/ping", headers=ADMIN).json()["status"] == "healthy"
    key = ask(client, "delete me").headers["x-polyrelay-cache-key"]
    user_key = httpx.post(gateway.url + "/key/generate", json={}, headers=ADMIN).json()["key"]
    refused = httpx.post(gateway.url + "/cache/delete", json={"keys": [key]},
                         headers={"Authorization": f"Bearer {user_key}"})
    assert refused.status_code == 403
    deleted = httpx.post(gateway.url + "/cache/delete", json={"keys": [key]}, headers=ADMIN)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == 1
    assert ask(client, "delete me").headers["x-polyrelay-cache-hit"] == "false"
    assert len(fake.requests) == 2
    assert httpx.post(gateway.url + "/cache/delete", json={"keys": "x"}, headers=ADMIN).status_code == 400
    metrics = httpx.get(gateway.url + "/metrics").text
    hits = [line for line in metrics.splitlines() if line.startswith('polyrelay_cache_events_total{event="hit"}')]
    assert hits and float(hits[0].split()[-1]) >= 1


@pytest.mark.parametrize("params, named", [
    ("    type: s3", "s3_bucket_name"),
    ("    type: s3\n    s3_bucket_name: b\n    s3_api_version: '2006-03-01'", "s3_api_version"),
    ("    type: qdrant-semantic", "qdrant-semantic"),
    ("    type: qdrant-semantic\n    similarity_threshold: 0.9\n    qdrant_semantic_cache_embedding_model: nope",
     "nope"),
    ("    type: redis-semantic", "redis-semantic"),
    ("    type: local\n    ttl: -5", "ttl"),
    ("    type: local\n    mode: sometimes", "sometimes"),
    ("    type: local\n    supported_call_types: [acompletion, arerank]", "arerank"),
])
def test_a_cache_config_polyrelay_cannot_honour_stops_start_up(tmp_path, params, named):
    path = tmp_path / "config.yaml"
    path.write_text(config(params))
    result = run_cli("--config", str(path), env={"FAKE_BASE": "http://127.0.0.1:9"})
    assert result.returncode != 0
    assert "cache_params" in result.stderr + result.stdout and named in result.stderr + result.stdout


def test_a_redis_cache_is_shared_by_two_gateways(upstream):
    url, stop = services.start_redis()
    params = f"    type: redis\n    redis_url: {url}\n    namespace: shared"
    first = GatewayProcess(config(params), env={"FAKE_BASE": upstream.url}).start()
    second = GatewayProcess(config(params), env={"FAKE_BASE": upstream.url}).start()
    try:
        reset(upstream).default = Reply(json=ANSWER)
        a = openai.OpenAI(api_key=MASTER, base_url=first.url + "/v1", max_retries=0)
        b = openai.OpenAI(api_key=MASTER, base_url=second.url + "/v1", max_retries=0)
        assert ask(a, "shared").headers["x-polyrelay-cache-hit"] == "false"
        hit = ask(b, "shared")
        assert hit.headers["x-polyrelay-cache-hit"] == "true" and len(upstream.requests) == 1
        assert hit.headers["x-polyrelay-cache-key"].startswith("shared:")
        assert httpx.get(second.url + "/cache/ping", headers=ADMIN).json()["cache_type"] == "redis"
        stop()  # the cache goes down: calls still work, from the provider
        stop = lambda: None  # noqa: E731
        # What this process read lately is still answered from its memory (default_in_memory_ttl) ...
        assert ask(b, "shared").headers["x-polyrelay-cache-hit"] == "true"
        # ... anything else goes to the provider, bypassing the cache.
        assert ask(b, "not shared").parse().choices[0].message.content == "hello there"
        assert len(upstream.requests) == 2
        assert httpx.get(second.url + "/cache/ping", headers=ADMIN).status_code == 503
        assert "bypass" in second.log
        metrics = httpx.get(second.url + "/metrics").text
        assert 'polyrelay_cache_events_total{event="error"} 0.0' not in metrics
    finally:
        first.stop()
        second.stop()
        stop()


def test_a_gateway_with_its_cache_down_from_the_start_serves(upstream):
    process = GatewayProcess(config("    type: redis\n    host: 127.0.0.1\n    port: 1"),
                             env={"FAKE_BASE": upstream.url}).start()
    try:
        reset(upstream).default = Reply(json=ANSWER)
        client = openai.OpenAI(api_key=MASTER, base_url=process.url + "/v1", max_retries=0)
        assert ask(client, "down").parse().choices[0].message.content == "hello there"
        assert "cannot be reached" in process.log
    finally:
        process.stop()


def test_without_a_cache_nothing_is_cached_and_no_header_is_sent(upstream):
    process = GatewayProcess(CONFIG.split("litellm_settings:")[0] % {"master": MASTER},
                             env={"FAKE_BASE": upstream.url}).start()
    try:
        reset(upstream).default = Reply(json=ANSWER)
        client = openai.OpenAI(api_key=MASTER, base_url=process.url + "/v1", max_retries=0)
        ask(client, "x")
        raw = ask(client, "x")
        assert len(upstream.requests) == 2 and "x-polyrelay-cache-hit" not in raw.headers
        assert httpx.get(process.url + "/cache/ping", headers=ADMIN).status_code == 503
    finally:
        process.stop()


def test_a_semantic_cache_answers_a_similar_prompt_with_a_model_group_embedding(upstream):
    params = ("    type: qdrant-semantic\n    similarity_threshold: 0.9\n"
              "    qdrant_semantic_cache_embedding_model: embed")
    process = GatewayProcess(config(params), env={"FAKE_BASE": upstream.url}).start()
    try:
        reset(upstream).default = Reply(json=ANSWER)
        # The embedding group "embed" is the fake upstream too: script its vectors.
        def vector(*values):
            return Reply(json={"object": "list", "model": "text-embedding-3-small",
                               "data": [{"object": "embedding", "index": 0, "embedding": list(values)}],
                               "usage": {"prompt_tokens": 2, "total_tokens": 2}})

        upstream.reply(vector(1.0, 0.0), Reply(json=ANSWER), vector(0.98, 0.1), vector(0.0, 1.0), Reply(json=ANSWER))
        client = openai.OpenAI(api_key=MASTER, base_url=process.url + "/v1", max_retries=0)
        assert ask(client, "capital of France?").headers["x-polyrelay-cache-hit"] == "false"
        similar = ask(client, "France's capital?")
        assert similar.headers["x-polyrelay-cache-hit"] == "true"
        assert similar.parse().choices[0].message.content == "hello there"
        assert float(similar.headers["x-polyrelay-response-cost"]) == 0.0
        assert ask(client, "height of Everest?").headers["x-polyrelay-cache-hit"] == "false"
        paths = [r.path for r in upstream.requests]
        assert paths.count("/chat/completions") == 2 and paths.count("/embeddings") == 3
        assert httpx.get(process.url + "/cache/ping", headers=ADMIN).json()["cache_type"] == "qdrant-semantic"
    finally:
        process.stop()
