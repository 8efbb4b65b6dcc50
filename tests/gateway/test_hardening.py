"""What a caller can and cannot do to the gateway (issue 12): price its own
calls, point the gateway's credentials elsewhere, reach groups its key does
not allow, hold reservations, grow our memory, or break a route with odd
input. Each test is an attack or a bad day that once worked."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from fakeserver import FakeServer, Reply
from gateway_process import GatewayProcess

MASTER = "sk-master-hardening-1234"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
HELLO = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-deployment-secret-98765"

CONFIG = """
model_list:
  - model_name: a
    litellm_params: {model: mock/a}
  - model_name: b
    litellm_params: {model: mock/b}
  - model_name: failing
    litellm_params: {model: mock/failing, mock_status: 500}
  - model_name: cheap
    litellm_params: {model: mock/cheap, mock_delay: %(delay)s}
    model_info: {input_cost_per_token: 0.001, output_cost_per_token: 0.001}
  - model_name: upstream
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: %(upstream)s
      api_key: %(key)s
      configurable_clientside_auth_params: [{api_base: "http://127.0.0.1:4106"}]
  - model_name: region-open
    litellm_params:
      model: bedrock/anthropic.claude-3-haiku-20240307-v1:0
      aws_access_key_id: AKIAEXAMPLEEXAMPLE12
      aws_secret_access_key: bedrock-secret-key-example-1234567890
      aws_region_name: us-east-1
      configurable_clientside_auth_params: [aws_region_name]
  - model_name: link-local
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: %(upstream)s
      api_key: %(key)s
      configurable_clientside_auth_params: [api_base]
router_settings:
  num_retries: 0
  fallbacks: [{failing: [b]}]
general_settings:
  master_key: %(master)s
  health_check_interval: 60
"""


@pytest.fixture(scope="module")
def upstream():
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(upstream):
    process = GatewayProcess(CONFIG % {"upstream": upstream.url, "key": UPSTREAM_KEY, "master": MASTER,
                                       "delay": 0.0}).start()
    yield process
    process.stop()


def admin(gw, path, body=None, method="POST", **params):
    response = httpx.request(method, gw.url + path, json=body, params=params, headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def new_key(gw, **fields) -> str:
    return admin(gw, "/key/generate", fields)["key"]


def post(gw, key, path="/v1/chat/completions", **body):
    body.setdefault("messages", HELLO) if path.endswith("chat/completions") else None
    return httpx.post(gw.url + path, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def error(response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def answer(model: str = "gpt-4o-mini") -> Reply:
    return Reply(json={"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}})


# --- 1. a caller never sets its own price ------------------------------------

@pytest.mark.parametrize("field, value", [
    ("input_cost_per_request", -5), ("input_cost_per_token", 0), ("output_cost_per_token", -1),
    ("cache_read_input_token_cost", 0), ("input_cost_per_character", 0), ("output_cost_per_image", 0),
    ("base_model", "mock/free"), ("litellm_params", {"input_cost_per_token": -1}),
    ("model_info", {"input_cost_per_token": -1}),
])
def test_price_fields_are_refused_by_name(gw, field, value):
    key = new_key(gw, max_budget=0.05)
    err = error(post(gw, key, model="cheap", **{field: value}), 400)
    assert err["param"] == field and field in err["message"]


def test_user_config_prices_are_refused(gw):
    key = new_key(gw)
    for info in ({"input_cost_per_request": -5}, {"base_model": "mock/free"}):
        user_config = {"model_list": [{"model_name": "mine", "model_info": info,
                                       "litellm_params": {"model": "mock/x", "api_key": "sk-own-key"}}]}
        err = error(post(gw, key, model="mine", user_config=user_config), 400)
        assert list(info)[0] in err["message"]


def test_budget_holds_against_negative_price_attempts(gw):
    key = new_key(gw, max_budget=0.05)
    for _ in range(3):
        post(gw, key, model="cheap", input_cost_per_request=-5)
    paid = post(gw, key, model="cheap")
    cost = float(paid.headers["x-polyrelay-response-cost"])
    assert cost > 0
    deadline = time.monotonic() + 10
    while (spend := admin(gw, "/key/info", method="GET", key=key)["info"]["spend"]) == 0 and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert spend == pytest.approx(cost)  # the refused calls neither cost nor refunded anything


# --- 2 and 4. values that could not be stored are refused at the edge --------

def nested(depth: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(depth):
        node["k"] = {}
        node = node["k"]
    return root


@pytest.mark.parametrize("body", [{"user": "u" * 300}, {"metadata": nested(300)}, {"user_config": nested(300)},
                                  {"metadata": {"tags": list(range(5000))}}])
def test_long_and_deep_values_are_a_400(gw, body):
    key = new_key(gw)
    err = error(post(gw, key, model="a", **body), 400)
    assert err["param"] in body


def test_long_group_name_in_user_config_is_a_400(gw):
    user_config = {"model_list": [{"model_name": "g" * 300, "litellm_params": {"model": "mock/x"}}]}
    assert error(post(gw, MASTER, model="g" * 300, user_config=user_config), 400)["param"] in ("model",
                                                                                             "user_config")


def test_crlf_in_a_user_config_id_is_a_400(gw):
    user_config = {"model_list": [{"model_name": "mine", "model_info": {"id": "x\r\nSet-Cookie: a=b"},
                                   "litellm_params": {"model": "mock/x"}}]}
    err = error(post(gw, MASTER, model="mine", user_config=user_config), 400)
    assert "model_info.id" in err["message"]


# --- 3, 8 and 13. nobody points the gateway's credentials elsewhere ------------

def test_bedrock_region_cannot_carry_a_host(gw, upstream):
    upstream.requests.clear()
    evil = f"x@127.0.0.1:{upstream._httpd.server_address[1]}/"
    # Not allowed for this group at all ...
    assert error(post(gw, MASTER, model="a", aws_region_name=evil), 403)["param"] == "aws_region_name"
    # ... and where the admin allows a client region, it must still be a region.
    err = error(post(gw, MASTER, model="region-open", aws_region_name=evil), 400)
    assert err["param"] == "aws_region_name"
    assert upstream.requests == []


def test_bedrock_adapter_refuses_a_hostile_region_in_the_sdk(upstream):
    import polyrelay

    upstream.requests.clear()
    with pytest.raises(polyrelay.BadRequestError, match="region"):
        polyrelay.completion(model="bedrock/anthropic.claude-3-haiku-20240307-v1:0", messages=HELLO,
                             aws_region_name=f"x@127.0.0.1:{upstream._httpd.server_address[1]}/", aws_access_key_id="AKIAEXAMPLE",
                             aws_secret_access_key="secret-example-123456")
    assert upstream.requests == []


@pytest.mark.parametrize("field", ["api_version", "vertex_project", "vertex_location", "aws_bedrock_runtime_endpoint"])
def test_other_endpoint_fields_follow_the_admin_rule(gw, field):
    assert error(post(gw, MASTER, model="upstream", **{field: "x"}), 403)["param"] == field


def test_api_base_pattern_compares_the_whole_origin(gw, upstream):
    upstream.requests.clear()
    for sneaky in (f"http://127.0.0.1:4106@127.0.0.1:{upstream._httpd.server_address[1]}/v1",  # user-info: a different host
                   "http://127.0.0.1:41060/v1",  # a prefix of the allowed origin, another port
                   "http://127.0.0.1:4106.evil.example/v1"):
        response = post(gw, MASTER, model="upstream", api_base=sneaky)
        assert response.status_code in (400, 403), (sneaky, response.text)
    assert upstream.requests == []


@pytest.mark.parametrize("address", [
    "http://169.254.169.254/latest/meta-data", "http://2852039166/", "http://0xa9fea9fe/", "http://0251.0376.0251.0376/",
    "http://[fd00:ec2::254]/", "http://metadata.google.internal/computeMetadata/v1", "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
])
def test_metadata_addresses_are_refused_even_where_api_base_is_allowed(gw, address):
    err = error(post(gw, MASTER, model="link-local", api_base=address), 403)
    assert "metadata" in err["message"]


def test_an_allowed_api_base_still_works(gw, upstream):
    upstream.reply(answer())
    response = post(gw, MASTER, model="link-local", api_base=upstream.url)
    assert response.status_code == 200, response.text


# --- 5, 7 and 11. a key reaches only its groups --------------------------------

def test_fallbacks_stay_within_the_keys_models(gw):
    key = new_key(gw, models=["failing"])
    assert error(post(gw, key, model="failing", fallbacks=["b"]), 403)["code"] == "model_not_allowed"
    # The config's fallback (failing -> b) is skipped for this key: the failure is its answer.
    assert post(gw, key, model="failing").status_code == 500
    # The admin, allowed everything, gets the fallback.
    assert post(gw, MASTER, model="failing").json()["model"] in ("b", "mock/b")


def test_a_users_block_and_models_apply_to_its_keys(gw):
    admin(gw, "/user/new", {"user_id": "mallory", "models": ["a"]})
    key = new_key(gw, user_id="mallory")
    assert post(gw, key, model="a").status_code == 200
    assert error(post(gw, key, model="b"), 403)["code"] == "model_not_allowed"
    admin(gw, "/user/update", {"user_id": "mallory", "blocked": True})
    deadline = time.monotonic() + 15  # the key's cached record is dropped by the update
    while time.monotonic() < deadline and post(gw, key, model="a").status_code == 200:
        time.sleep(0.2)
    assert error(post(gw, key, model="a"), 403)["code"] == "user_blocked"


def test_moderation_without_a_model_needs_an_unrestricted_key(gw):
    key = new_key(gw, models=["a"])
    err = error(post(gw, key, "/v1/moderations", input="hello"), 403)
    assert err["code"] == "model_not_allowed"


def test_user_config_reaches_only_listed_providers(gw):
    key = new_key(gw)
    user_config = {"model_list": [{"model_name": "local", "litellm_params": {"model": "ollama/llama3",
                                                                             "api_key": "dummy"}}]}
    assert error(post(gw, key, model="local", user_config=user_config), 403)["code"] == "provider_not_allowed"


# --- 9, 14 and 15. reservations cannot be held or faked -------------------------

def test_a_refused_batch_member_releases_the_others(gw):
    key = new_key(gw, max_parallel_requests=1)
    assert post(gw, key, model="a,a").status_code == 429
    assert post(gw, key, model="a").status_code == 200  # the first member's slot was given back


def test_batch_fan_out_is_capped(gw):
    err = error(post(gw, MASTER, model=",".join(["a"] * 11)), 400)
    assert err["code"] == "too_many_models"


@pytest.mark.parametrize("body", [{"max_tokens": -5}, {"max_tokens": 0}, {"max_tokens": 10**9},
                                  {"max_completion_tokens": -1}, {"n": 0}, {"n": 10_000}])
def test_token_counts_must_be_sane(gw, body):
    assert error(post(gw, MASTER, model="a", **body), 400)["param"] == list(body)[0]


def test_tpm_limit_holds_under_concurrency():
    process = GatewayProcess(CONFIG % {"upstream": "http://127.0.0.1:9", "key": UPSTREAM_KEY, "master": MASTER,
                                       "delay": 0.5}).start()
    try:
        key = new_key(process, tpm_limit=30)

        async def burst():
            async with httpx.AsyncClient(timeout=30) as client:
                return await asyncio.gather(*(client.post(
                    process.url + "/v1/chat/completions",
                    json={"model": "cheap", "messages": HELLO, "max_tokens": 5},
                    headers={"Authorization": f"Bearer {key}"}) for _ in range(20)))

        codes = [r.status_code for r in asyncio.run(burst())]
        # Each call may use ~15 tokens: two fit under 30, not twenty.
        assert codes.count(200) <= 3 and codes.count(429) >= 17, codes
    finally:
        process.stop()


# --- 10. /health --------------------------------------------------------------

def test_health_is_for_the_admin_and_rate_limited(gw, upstream):
    key = new_key(gw)
    assert error(httpx.get(gw.url + "/health", headers={"Authorization": f"Bearer {key}"}), 403)["code"] \
        == "admin_only"
    upstream.requests.clear()
    upstream.default = answer()
    try:
        first = httpx.get(gw.url + "/health", params={"model": "upstream"}, headers=ADMIN, timeout=30).json()
        calls = len(upstream.requests)
        second = httpx.get(gw.url + "/health", params={"model": "upstream"}, headers=ADMIN, timeout=30).json()
    finally:
        upstream.default = None
    assert calls == 1 and len(upstream.requests) == 1  # the second answer came from the first check
    assert first == second


# --- 16. memory stays bounded ----------------------------------------------------

def test_caches_and_metric_series_are_bounded():
    from polyrelay.gateway.keys import BoundedCache
    from polyrelay.gateway.metrics import MAX_SERIES_PER_METRIC, Metrics

    cache = BoundedCache(100)
    for i in range(1000):
        cache.put(f"wrong-key-{i}", None)
    assert len(cache) == 100 and "wrong-key-999" in cache and "wrong-key-0" not in cache
    metrics = Metrics()
    for i in range(MAX_SERIES_PER_METRIC + 500):
        metrics.record_deployment("other", f"user-config-deployment-{i}", ok=False)
    assert len(metrics._children) <= 2 * MAX_SERIES_PER_METRIC + 2
    assert len(metrics._last_state) <= MAX_SERIES_PER_METRIC + 1


# --- 20. malformed requests are 400s, never 500s -------------------------------

DEEP = "[" * 1000 + "]" * 1000
MALFORMED = [
    ("/v1/chat/completions", {"model": "a", "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}),
    ("/v1/chat/completions", {"model": "a", "messages": [{"role": "assistant", "content": None, "tool_calls": ["x"]}]}),
    ("/v1/chat/completions", {"model": "a", "messages": [{"role": "wizard", "content": "hi"}]}),
    ("/v1/chat/completions", {"model": "a", "messages": ["hi"]}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "num_retries": -1}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "mock_status": "x"}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "mock_status": 999}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "mock_delay": "x"}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "extra_headers": "x"}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "extra_headers": {"X-A": "b\r\nc"}}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "extra_headers": {"Host": "admin.internal"}}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "temperature": "hot"}),
    ("/v1/chat/completions", {"model": "a", "messages": HELLO, "timeout": 0}),
    ("/v1/chat/completions", {"model": "mine", "messages": HELLO,
                              "user_config": {"num_retries": "x", "model_list": []}}),
    ("/v1/embeddings", {"model": "a", "input": [[1, 2], "x"]}),
    ("/v1/embeddings", {"model": "a", "input": []}),
    ("/v1/completions", {"model": "a", "prompt": [{"text": "x"}]}),
]


@pytest.mark.parametrize("path, body", MALFORMED, ids=[f"{i}" for i in range(len(MALFORMED))])
def test_malformed_requests_are_a_400(gw, path, body):
    response = httpx.post(gw.url + path, json=body, headers=ADMIN, timeout=20)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/moderations", "/v1/completions", "/v1/chat/completions"])
def test_deeply_nested_json_is_a_400(gw, path):
    field = {"/v1/embeddings": "input", "/v1/moderations": "input", "/v1/completions": "prompt"}.get(path, "messages")
    raw = f'{{"model": "a", "{field}": {DEEP}}}'
    response = httpx.post(gw.url + path, content=raw, headers={**ADMIN, "content-type": "application/json"})
    assert response.status_code == 400, response.text


# --- 25. no master key off loopback is said loudly -------------------------------

def test_no_master_key_on_a_public_address_is_a_loud_warning():
    process = GatewayProcess(None, args=("--host", "0.0.0.0"))
    process.url = f"http://127.0.0.1:{process.port}"
    process.start()
    try:
        assert "NO MASTER KEY" in process.log
    finally:
        process.stop()
    quiet = GatewayProcess(None).start()
    try:
        assert "NO MASTER KEY" not in quiet.log
    finally:
        quiet.stop()


@pytest.mark.parametrize("path, body", [
    ("/key/generate", {"duration": "999999999999d"}), ("/key/generate", {"budget_duration": "999999999999d"}),
    ("/key/generate", {"metadata": nested(900)}), ("/key/generate", {"max_budget": -1}),
    ("/key/generate", {"key_alias": "a" * 300}), ("/user/new", {"user_id": "u\r\nx"}),
    ("/key/generate", {"user_id": "u\r\nx"}),  # a new user id is created: checked as /user/new checks it
    ("/team/new", {"team_id": "t", "models": [5]}), ("/customer/new", {"user_id": "c", "max_budget": float("nan")}),
])
def test_malformed_management_input_is_a_400(gw, path, body):
    raw = httpx.post(gw.url + path, content=__import__("json").dumps(body), headers={**ADMIN, "content-type":
                                                                                     "application/json"})
    assert raw.status_code == 400, raw.text


def test_a_huge_page_number_is_a_400(gw):
    for path in ("/key/list", "/spend/logs"):
        response = httpx.get(gw.url + path, params={"page": "99999999999999999999"}, headers=ADMIN)
        assert response.status_code == 400, response.text
