"""A LiteLLM-format config with OpenAI, Azure and Anthropic deployments
starts unchanged, and each deployment is called with its provider's real
protocol (fake servers on 127.0.0.1 stand in for the providers). Also the
CLI: --version, --help, --model, and start-up errors that name the bad key."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from conftest import reset
from fakeserver import FakeServer, Reply
from gateway_process import GatewayProcess, run_cli

HERE = Path(__file__).parent
CONFIG = (HERE / "configs" / "litellm_config.yaml").read_text()
PROVIDER_FIXTURES = HERE.parent / "providers" / "fixtures"
MASTER = "sk-litellm-master-42"
KEYS = {"OPENAI_API_KEY": "sk-openai-fake-0000000000000000", "AZURE_API_KEY": "0123456789abcdef0123456789abcdef",
        "ANTHROPIC_API_KEY": "sk-ant-fake-00000000000000000000"}
HELLO = [{"role": "user", "content": "Hello!"}]


def pieces(path: Path, size: int = 53) -> list[bytes]:
    body = path.read_bytes()
    return [body[i:i + size] for i in range(0, len(body), size)]


@pytest.fixture(scope="module")
def providers():
    servers = {name: FakeServer().start() for name in ("openai", "azure", "anthropic")}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def gateway(providers):
    env = {**KEYS, "LITELLM_MASTER_KEY": MASTER, "OPENAI_API_BASE": providers["openai"].url,
           "AZURE_API_BASE": providers["azure"].url, "ANTHROPIC_API_BASE": providers["anthropic"].url,
           # success_callback: ["langfuse"] needs its keys; the config points LANGFUSE_HOST at a closed port.
           "LANGFUSE_PUBLIC_KEY": "pk-lf-test", "LANGFUSE_SECRET_KEY": "sk-lf-test-000000000"}
    process = GatewayProcess(CONFIG, env=env).start()
    yield process
    process.stop()


@pytest.fixture
def fakes(providers):
    return {name: reset(server) for name, server in providers.items()}


@pytest.fixture
def client(gateway):
    with openai.OpenAI(api_key=MASTER, base_url=gateway.url, max_retries=0) as sdk:
        yield sdk


def test_starts_unchanged_and_names_what_it_ignores(gateway):
    log = gateway.log
    for key in ("litellm_settings.telemetry", "general_settings.alerting",
                "general_settings.proxy_batch_write_at"):
        assert key in log, f"no warning naming {key}"
    assert "Traceback" not in log


def test_langfuse_down_changes_nothing_for_callers(client, fakes, gateway):
    import time

    fakes["openai"].reply(Reply(json=json.loads((PROVIDER_FIXTURES / "openai" / "chat_completion.json").read_text())))
    assert client.chat.completions.create(model="gpt-4o", messages=HELLO).choices[0].message.content
    deadline = time.monotonic() + 15  # four tries with backoff, then counted as dropped
    while time.monotonic() < deadline and not gateway.metric("polyrelay_callback_events_dropped_total",
                                                              callback="langfuse"):
        time.sleep(0.2)
    assert gateway.metric("polyrelay_callback_events_dropped_total", callback="langfuse") >= 1


def test_openai_deployment(client, fakes):
    fakes["openai"].reply(Reply(json=json.loads((PROVIDER_FIXTURES / "openai" / "chat_completion.json").read_text())))
    response = client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert response.object == "chat.completion" and response.choices[0].message.content
    sent = fakes["openai"].requests[0]
    assert sent.path == "/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEYS['OPENAI_API_KEY']}"
    assert sent.json["model"] == "gpt-4o"


def test_azure_deployment(client, fakes):
    fakes["azure"].reply(Reply(json=json.loads((PROVIDER_FIXTURES / "azure" / "chat_completion.json").read_text())))
    response = client.chat.completions.create(model="azure-gpt-4o", messages=HELLO)
    assert response.choices[0].message.content
    sent = fakes["azure"].requests[0]
    assert sent.path == "/openai/deployments/my-gpt4o-deployment/chat/completions"
    assert sent.query == {"api-version": ["2024-10-21"]}
    assert sent.headers["api-key"] == KEYS["AZURE_API_KEY"]


def test_anthropic_deployment(client, fakes):
    fakes["anthropic"].reply(Reply(json=json.loads((PROVIDER_FIXTURES / "anthropic" / "message_text.json").read_text())))
    response = client.chat.completions.create(model="claude-3-5-sonnet", messages=HELLO, max_tokens=100)
    assert response.choices[0].message.content == "Hi! My name is Claude."
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (2095, 503)
    sent = fakes["anthropic"].requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEYS["ANTHROPIC_API_KEY"]
    assert "anthropic-version" in sent.headers


def test_anthropic_stream_relayed_as_openai_chunks(client, fakes):
    fakes["anthropic"].reply(Reply(stream=pieces(PROVIDER_FIXTURES / "anthropic" / "stream_text.txt")))
    chunks = list(client.chat.completions.create(model="claude-3-5-sonnet", messages=HELLO, max_tokens=100,
                                                  stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Hello")
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 25


def test_azure_stream(client, fakes):
    fakes["azure"].reply(Reply(stream=pieces(PROVIDER_FIXTURES / "azure" / "chat_stream.txt")))
    chunks = list(client.chat.completions.create(model="azure-gpt-4o", messages=HELLO, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_embeddings_deployment(client, fakes):
    fakes["openai"].reply(Reply(json={"object": "list", "model": "text-embedding-3-small",
                                      "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2, 0.3]}],
                                      "usage": {"prompt_tokens": 3, "total_tokens": 3}}))
    response = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="float")
    assert response.data[0].embedding == [0.1, -0.2, 0.3]
    assert fakes["openai"].requests[0].path == "/embeddings"


def test_model_info_hides_every_provider_key(gateway, client):
    import httpx

    text = httpx.get(gateway.url + "/model/info", headers={"Authorization": f"Bearer {MASTER}"}).text
    for key in (*KEYS.values(), MASTER):
        assert key not in text
    data = json.loads(text)["data"]
    assert {d["model_name"] for d in data} == {"gpt-4o", "azure-gpt-4o", "claude-3-5-sonnet", "gpt-4o-mini",
                                               "text-embedding-3-small"}
    claude = next(d for d in data if d["model_name"] == "claude-3-5-sonnet")
    assert claude["model_info"]["max_input_tokens"] > 0  # from the catalogue


def test_rate_limited_deployment_cools_down_and_metrics_show_the_outage(gateway, client, fakes):
    mini = {"model": "gpt-4o-mini"}
    assert gateway.metric("polyrelay_deployment_state", **mini) == 0
    fakes["openai"].reply(Reply(429, json={"error": {"message": "Rate limit reached for gpt-4o-mini",
                                                     "type": "rate_limit_error"}}))
    with pytest.raises(openai.RateLimitError, match="Rate limit reached"):
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert gateway.metric("polyrelay_deployment_state", **mini) == 2  # cooling down: out of service
    with pytest.raises(openai.RateLimitError, match="No deployments available"):
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert len(fakes["openai"].requests) == 1  # the cooled deployment was not called again
    assert gateway.metric("polyrelay_deployment_state", model="gpt-4o") == 0


# --- the CLI -----------------------------------------------------------------------------------

def test_version_and_help():
    import polyrelay

    version = run_cli("--version")
    assert version.returncode == 0 and polyrelay.__version__ in version.stdout
    usage = run_cli("--help")
    assert usage.returncode == 0
    for flag in ("--config", "--host", "--port", "--num_workers", "--model", "--debug", "--version"):
        assert flag in usage.stdout


def test_missing_environment_variable_stops_start_up(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    result = run_cli("--config", str(path), "--port", "1", env={"AZURE_API_KEY": "x"})
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "model_list[0].litellm_params.api_key" in result.stderr
    assert "LITELLM_MASTER_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_quick_start_with_one_model():
    process = GatewayProcess(args=("--model", "mock/quick")).start()
    try:
        with openai.OpenAI(api_key="x", base_url=process.url, max_retries=0) as sdk:
            assert [m.id for m in sdk.models.list().data] == ["mock/quick"]
            assert sdk.models.retrieve("mock/quick").id == "mock/quick"
            with pytest.raises(openai.NotFoundError):
                sdk.models.retrieve("gpt-4o")
            answer = sdk.chat.completions.create(model="mock/quick", messages=HELLO)
            assert answer.choices[0].message.content == "This is a mock response to: Hello!"
    finally:
        process.stop()


def test_num_workers_share_the_port_and_the_metrics():
    process = GatewayProcess(args=("--num_workers", "2")).start()
    try:
        import httpx

        with httpx.Client(base_url=process.url, timeout=10) as http:
            for _ in range(20):
                # A new connection each time, so the kernel spreads them over the workers.
                response = http.post("/chat/completions", json={"model": "mock", "messages": HELLO},
                                     headers={"connection": "close"})
                assert response.status_code == 200
        # Readiness answers once one worker serves; on a loaded machine the second may start later.
        deadline = time.monotonic() + 60
        while process.log.count("Started server process") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.log.count("Started server process") == 2
        assert "serving 6 model group(s)" in process.log  # worker logs reach the output
        # Whichever worker answers the scrape reports the requests of both.
        for _ in range(4):
            assert process.metric("polyrelay_requests_total", route="/chat/completions", status="200") == 20
    finally:
        process.stop()
