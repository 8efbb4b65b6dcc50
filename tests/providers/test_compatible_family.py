"""Issue 20's OpenAI-compatible rows, Databricks and Cloudflare, through the wire."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import Reply, sse
from polyrelay.params import credentials
from polyrelay.providers import ADAPTERS
from polyrelay.providers.base import CHAT, Call
from polyrelay.providers.compatible_family import ROWS

MESSAGES = [{"role": "user", "content": "hi"}]

# Each provider's OpenAI-compatible base URL and key variable, as LiteLLM's
# provider docs (docs.litellm.ai/docs/providers/<name>) and the vendors' API references give them.
DOCUMENTED = {
    "nvidia_nim": ("https://integrate.api.nvidia.com/v1", "NVIDIA_NIM_API_KEY"),
    "cerebras": ("https://api.cerebras.ai/v1", "CEREBRAS_API_KEY"),
    "sambanova": ("https://api.sambanova.ai/v1", "SAMBANOVA_API_KEY"),
    "deepinfra": ("https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"),
    "anyscale": ("https://api.endpoints.anyscale.com/v1", "ANYSCALE_API_KEY"),
    "friendliai": ("https://api.friendli.ai/serverless/v1", "FRIENDLIAI_API_KEY"),
    "github": ("https://models.inference.ai.azure.com", "GITHUB_API_KEY"),
    "nebius": ("https://api.studio.nebius.ai/v1", "NEBIUS_API_KEY"),
    "novita": ("https://api.novita.ai/v3/openai", "NOVITA_API_KEY"),
    "lambda_ai": ("https://api.lambda.ai/v1", "LAMBDA_API_KEY"),
    "hyperbolic": ("https://api.hyperbolic.xyz/v1", "HYPERBOLIC_API_KEY"),
    "featherless_ai": ("https://api.featherless.ai/v1", "FEATHERLESS_AI_API_KEY"),
    "nscale": ("https://inference.api.nscale.com/v1", "NSCALE_API_KEY"),
    "galadriel": ("https://api.galadriel.com/v1", "GALADRIEL_API_KEY"),
    "dashscope": ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
    "moonshot": ("https://api.moonshot.ai/v1", "MOONSHOT_API_KEY"),
    "volcengine": ("https://ark.cn-beijing.volces.com/api/v3", "VOLCENGINE_API_KEY"),
    "meta_llama": ("https://api.llama.com/compat/v1", "LLAMA_API_KEY"),
    "codestral": ("https://codestral.mistral.ai/v1", "CODESTRAL_API_KEY"),
    "ai21_chat": ("https://api.ai21.com/studio/v1", "AI21_API_KEY"),
    "empower": ("https://app.empower.dev/api/v1", "EMPOWER_API_KEY"),
    "llamafile": ("http://127.0.0.1:8080/v1", "LLAMAFILE_API_KEY"),
    "heroku": ("https://us.inference.heroku.com/v1", "HEROKU_API_KEY"),
    "huggingface": ("https://router.huggingface.co/v1", "HF_TOKEN"),
    "xinference": ("http://127.0.0.1:9997/v1", "XINFERENCE_API_KEY"),
    "v0": ("https://api.v0.dev/v1", "V0_API_KEY"),
    "morph": ("https://api.morphllm.com/v1", "MORPH_API_KEY"),
    "aiml": ("https://api.aimlapi.com/v1", "AIML_API_KEY"),
    "ovhcloud": ("https://oai.endpoints.kepler.ai.cloud.ovh.net/v1", "OVHCLOUD_API_KEY"),
    "wandb": ("https://api.inference.wandb.ai/v1", "WANDB_API_KEY"),
    # LiteLLM's llms/openai_like/providers.json
    "publicai": ("https://api.publicai.co/v1", "PUBLICAI_API_KEY"),
    "helicone": ("https://ai-gateway.helicone.ai", "HELICONE_API_KEY"),
    "veniceai": ("https://api.venice.ai/api/v1", "VENICE_AI_API_KEY"),
    "xiaomi_mimo": ("https://api.xiaomimimo.com/v1", "XIAOMI_MIMO_API_KEY"),
    "scaleway": ("https://api.scaleway.ai/v1", "SCW_SECRET_KEY"),
    "synthetic": ("https://api.synthetic.new/openai/v1", "SYNTHETIC_API_KEY"),
    "nano-gpt": ("https://nano-gpt.com/api/v1", "NANOGPT_API_KEY"),
    "poe": ("https://api.poe.com/v1", "POE_API_KEY"),
    "chutes": ("https://llm.chutes.ai/v1", "CHUTES_API_KEY"),
    "gmi": ("https://api.gmi-serving.com/v1", "GMI_API_KEY"),
    "aihubmix": ("https://aihubmix.com/v1", "AIHUBMIX_API_KEY"),
    "crusoe": ("https://managed-inference-api-proxy.crusoecloud.com/v1", "CRUSOE_API_KEY"),
}
# Rows with no default address (a server you run or name): api_base is required.
NO_DEFAULT = {"vllm", "litellm_proxy"}


def test_every_row_has_a_documented_default():
    assert {row.name for row in ROWS} - NO_DEFAULT <= set(DOCUMENTED) | {"heroku"}


def ok(model="m", usage=None):
    return {"id": "x", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}],
            "usage": usage or {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_default_url_and_auth_header(monkeypatch, name):
    """Without api_base, the request goes to the documented URL with the key as a bearer token."""
    base, env = DOCUMENTED[name]
    monkeypatch.setenv(env, f"key-{name}-1234567")
    adapter = ADAPTERS[name]
    call = Call(CHAT, name, "some-model", {"messages": MESSAGES}, credentials(adapter, {}))
    request = adapter.build_request(call)
    assert request.url == base + "/chat/completions"
    assert request.headers["Authorization"] == f"Bearer key-{name}-1234567"
    assert request.json["model"] == "some-model"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.name)
def test_each_row_speaks_openai_to_its_api_base(fake, monkeypatch, row):
    monkeypatch.setenv(row.key_env[0], f"key-for-{row.name}-12345678")
    fake.reply(Reply(json=ok()))
    response = polyrelay.completion(model=f"{row.name}/org/some-model", messages=MESSAGES, api_base=fake.url + "/v1",
                                    max_completion_tokens=5)
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.json["model"] == "org/some-model"
    assert sent.headers["authorization"] == f"Bearer key-for-{row.name}-12345678"
    # Providers that only know max_tokens get it under that name (LiteLLM's param_mappings).
    assert sent.json.get(row.renamed.get("max_completion_tokens", "max_completion_tokens")) == 5
    assert response._hidden_params["custom_llm_provider"] == row.name
    assert response.choices[0].message.content == "yo" and response.usage.total_tokens == 4


def test_heroku_inference_url_gets_v1(fake):
    fake.reply(Reply(json=ok()), Reply(json=ok()))
    polyrelay.completion(model="heroku/claude-4-sonnet", messages=MESSAGES, api_base=fake.url, api_key="inf-key-1")
    polyrelay.completion(model="heroku/claude-4-sonnet", messages=MESSAGES, api_base=fake.url + "/v1",
                         api_key="inf-key-1")
    assert [r.path for r in fake.requests] == ["/v1/chat/completions", "/v1/chat/completions"]
    assert fake.requests[0].headers["authorization"] == "Bearer inf-key-1"


def test_keyed_row_without_key_is_an_auth_error(monkeypatch):
    monkeypatch.delenv("CEREBRAS_API_KEY", raising=False)
    monkeypatch.delenv("NEBIUS_API_KEY", raising=False)
    with pytest.raises(polyrelay.AuthenticationError, match="NEBIUS_API_KEY"):
        polyrelay.completion(model="nebius/meta-llama/Llama-3.3-70B-Instruct", messages=MESSAGES)


def test_vllm_is_hosted_vllm_route(fake, monkeypatch):
    monkeypatch.setenv("HOSTED_VLLM_API_BASE", fake.url + "/v1")
    monkeypatch.delenv("VLLM_API_BASE", raising=False)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    monkeypatch.delenv("HOSTED_VLLM_API_KEY", raising=False)
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "llama",
             "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}
    end = {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {**chunk, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}}
    fake.reply(Reply(stream=sse(chunk, end, usage)))
    stream = polyrelay.completion(model="vllm/llama", messages=MESSAGES, stream=True,
                                  stream_options={"include_usage": True})
    chunks = list(stream)
    assert fake.requests[0].path == "/v1/chat/completions"
    assert "authorization" not in fake.requests[0].headers
    assert fake.requests[0].json["stream_options"] == {"include_usage": True}
    assert chunks[0].choices[0].delta.content == "Hi"
    assert chunks[-1].usage.total_tokens == 8


# -- Databricks ---------------------------------------------------------------------------------


def test_databricks_serving_endpoints(fake, monkeypatch):
    monkeypatch.setenv("DATABRICKS_API_KEY", "dapi-secret-123456789")
    monkeypatch.setenv("DATABRICKS_API_BASE", fake.url + "/serving-endpoints")
    fake.reply(Reply(json=ok("databricks-meta-llama-3-3-70b-instruct",
                             {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15})))
    response = polyrelay.completion(model="databricks/databricks-meta-llama-3-3-70b-instruct", messages=MESSAGES)
    sent = fake.requests[0]
    assert sent.path == "/serving-endpoints/chat/completions"
    assert sent.headers["authorization"] == "Bearer dapi-secret-123456789"
    assert sent.json["model"] == "databricks-meta-llama-3-3-70b-instruct"
    assert response.usage.prompt_tokens == 11


def test_databricks_stream_reads_usage_from_its_chunks(fake):
    base = {"id": "d", "object": "chat.completion.chunk", "created": 1, "model": "databricks-llama"}
    first = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}],
             "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}
    last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}
    fake.reply(Reply(stream=sse(first, last)))
    stream = polyrelay.completion(model="databricks/databricks-llama", messages=MESSAGES, stream=True,
                                  stream_options={"include_usage": True}, api_base=fake.url, api_key="dapi-1")
    chunks = list(stream)
    assert "stream_options" not in fake.requests[0].json  # not in Databricks' documented request
    assert chunks[-1].usage.total_tokens == 11 and "usage_estimated" not in stream._hidden_params


def test_databricks_bare_workspace_url_and_embeddings(fake):
    fake.reply(Reply(json={"object": "list", "model": "databricks-bge-large-en",
                           "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                           "usage": {"prompt_tokens": 2, "total_tokens": 2}}))
    response = polyrelay.embedding(model="databricks/databricks-bge-large-en", input=["hi"], api_base=fake.url,
                                   api_key="dapi-secret-123456789")
    assert fake.requests[0].path == "/serving-endpoints/embeddings"
    assert response.data[0]["embedding"] == [0.1, 0.2]


def test_databricks_needs_workspace(monkeypatch):
    monkeypatch.delenv("DATABRICKS_API_BASE", raising=False)
    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    with pytest.raises(polyrelay.BadRequestError, match="DATABRICKS_API_BASE"):
        polyrelay.completion(model="databricks/x", messages=MESSAGES, api_key="dapi-1")


@pytest.mark.parametrize("status,code,message,cls", [
    (400, "BAD_REQUEST", "Input is too long: maximum context length is 8192 tokens", polyrelay.ContextWindowExceededError),
    (404, "RESOURCE_DOES_NOT_EXIST", "The given endpoint does not exist", polyrelay.NotFoundError),
    (429, "REQUEST_LIMIT_EXCEEDED", "Exceeded workspace rate limit", polyrelay.RateLimitError),
    (401, "UNAUTHENTICATED", "Invalid access token", polyrelay.AuthenticationError),
])
def test_databricks_errors(fake, status, code, message, cls):
    # Databricks' REST error body: {"error_code": ..., "message": ...}
    fake.reply(Reply(status=status, json={"error_code": code, "message": message}))
    with pytest.raises(cls) as caught:
        polyrelay.completion(model="databricks/endpoint", messages=MESSAGES, api_base=fake.url,
                             api_key="dapi-secret-123456789", num_retries=0)
    assert caught.value.code == code and message in str(caught.value)


# -- Cloudflare Workers AI ----------------------------------------------------------------------


def test_cloudflare_account_url(monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "cf-token-12345678")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "0123abcd")
    adapter = ADAPTERS["cloudflare"]
    call = Call(CHAT, "cloudflare", "@cf/meta/llama-3.1-8b-instruct", {"messages": MESSAGES},
                credentials(adapter, {}))
    request = adapter.build_request(call)
    assert request.url == "https://api.cloudflare.com/client/v4/accounts/0123abcd/ai/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer cf-token-12345678"
    with pytest.raises(polyrelay.BadRequestError, match="account id"):
        bad = Call(CHAT, "cloudflare", "m", {"messages": MESSAGES},
                   credentials(adapter, {"cloudflare_account_id": "x/../../evil"}))
        adapter.build_request(bad)


def test_cloudflare_through_api_base_and_error_envelope(fake):
    fake.reply(Reply(json=ok("@cf/meta/llama-3.1-8b-instruct")),
               Reply(status=400, json={"result": None, "success": False, "messages": [],
                                       "errors": [{"code": 5007, "message": "No such model @cf/nope"}]}))
    response = polyrelay.completion(model="cloudflare/@cf/meta/llama-3.1-8b-instruct", messages=MESSAGES,
                                    api_base=fake.url + "/client/v4/accounts/acc/ai/v1", api_key="cf-token-12345678")
    assert fake.requests[0].path == "/client/v4/accounts/acc/ai/v1/chat/completions"
    assert fake.requests[0].json["model"] == "@cf/meta/llama-3.1-8b-instruct"
    assert response.choices[0].message.content == "yo"
    with pytest.raises(polyrelay.BadRequestError) as caught:
        polyrelay.completion(model="cloudflare/@cf/nope", messages=MESSAGES, api_key="cf-token-12345678",
                             api_base=fake.url + "/client/v4/accounts/acc/ai/v1")
    assert caught.value.code == "5007" and "No such model" in caught.value.message
    assert "cf-token-12345678" not in str(caught.value)


def test_cloudflare_native_run_base_goes_to_its_openai_twin(fake):
    fake.reply(Reply(json=ok()))
    polyrelay.completion(model="cloudflare/@cf/meta/llama-3.1-8b-instruct", messages=MESSAGES, api_key="cf-1",
                         api_base=fake.url + "/client/v4/accounts/acc/ai/run/")
    assert fake.requests[0].path == "/client/v4/accounts/acc/ai/v1/chat/completions"


def test_cloudflare_without_account_is_named(monkeypatch):
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("CLOUDFLARE_API_BASE", raising=False)
    with pytest.raises(polyrelay.BadRequestError, match="CLOUDFLARE_ACCOUNT_ID"):
        polyrelay.completion(model="cloudflare/@cf/x", messages=MESSAGES, api_key="k")


@pytest.mark.parametrize("model,input_price,output_price", [
    # Cerebras' and Databricks' published per-token prices, in the catalogue (hosted.json).
    ("cerebras/llama3.1-8b", 1e-07, 1e-07),
    ("databricks/databricks-meta-llama-3-3-70b-instruct", 5.0001e-07, 1.50003e-06),  # DBUs x $0.07
])
def test_priced_from_the_catalogue(fake, model, input_price, output_price):
    from polyrelay.catalog import CATALOG

    entry = CATALOG.get(model)
    assert entry["input_cost_per_token"] == pytest.approx(input_price)
    assert entry["output_cost_per_token"] == pytest.approx(output_price)
    fake.reply(Reply(json=ok(usage={"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200})))
    response = polyrelay.completion(model=model, messages=MESSAGES, api_base=fake.url, api_key="key-123456")
    assert response._hidden_params["response_cost"] == pytest.approx(1000 * input_price + 200 * output_price)
