"""Replicate predictions (create, Prefer: wait, polling, SSE streams) against a fake server.

Shapes from Replicate's HTTP API reference: a prediction object with
``status``, ``output``, ``error``, ``metrics`` and ``urls.get`` /
``urls.stream``; stream events ``output``, ``error`` and ``done``."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import Reply
from polyrelay.providers import replicate

KEY = "r8_secret_token_1234567890"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(replicate, "POLL_SECONDS", 0.01)


def prediction(fake, status, output=None, **extra):
    return {"id": "pred-1", "model": "meta/meta-llama-3-8b-instruct", "version": "dp-1", "status": status,
            "input": {}, "output": output, "error": extra.pop("error", None), "logs": "",
            "metrics": extra.pop("metrics", {}),
            "urls": {"get": f"{fake.url}/v1/predictions/pred-1", "cancel": f"{fake.url}/v1/predictions/pred-1/cancel",
                     "stream": f"{fake.url}/stream/pred-1"}, **extra}


def test_official_model_answered_while_waiting(fake):
    fake.reply(Reply(status=201, json=prediction(fake, "succeeded", ["Hel", "lo", "!"],
                                                 metrics={"input_token_count": 14, "output_token_count": 3,
                                                          "predict_time": 0.2})))
    response = polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES,
                                    api_key=KEY, api_base=fake.url + "/v1", max_tokens=20, temperature=0.5,
                                    stop=["\n", "END"], top_k=5)
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/models/meta/meta-llama-3-8b-instruct/predictions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["prefer"] == "wait"
    assert sent.json == {"input": {"prompt": "Say hello", "system_prompt": "Be brief.", "max_tokens": 20,
                                   "temperature": 0.5, "stop_sequences": "\n,END", "top_k": 5}}
    assert response.choices[0].message.content == "Hello!"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (14, 3)
    assert response._hidden_params["custom_llm_provider"] == "replicate"
    assert "usage_estimated" not in response._hidden_params


def test_running_prediction_is_polled_until_it_ends(fake):
    fake.reply(Reply(status=201, json=prediction(fake, "starting")),
               Reply(json=prediction(fake, "processing", ["Hi"])),
               Reply(json=prediction(fake, "succeeded", ["Hi", " there"],
                                     metrics={"input_token_count": 5, "output_token_count": 2})))
    response = polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES,
                                    api_key=KEY, api_base=fake.url + "/v1")
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", "/v1/models/meta/meta-llama-3-8b-instruct/predictions"),
        ("GET", "/v1/predictions/pred-1"), ("GET", "/v1/predictions/pred-1")]
    assert fake.requests[1].headers["authorization"] == f"Bearer {KEY}"
    assert response.choices[0].message.content == "Hi there"
    assert response.usage.total_tokens == 7


def test_version_and_deployment_routes(fake):
    version = "a" * 64
    fake.reply(Reply(status=201, json=prediction(fake, "succeeded", "ok")),
               Reply(status=201, json=prediction(fake, "succeeded", "ok")))
    polyrelay.completion(model=f"replicate/owner/model:{version}", messages=MESSAGES, api_key=KEY,
                         api_base=fake.url + "/v1")
    polyrelay.completion(model="replicate/deployments/acme/my-llm", messages=MESSAGES, api_key=KEY,
                         api_base=fake.url + "/v1")
    assert fake.requests[0].path == "/v1/predictions" and fake.requests[0].json["version"] == version
    assert fake.requests[1].path == "/v1/deployments/acme/my-llm/predictions"


def test_failed_prediction_is_an_error(fake):
    fake.reply(Reply(status=201, json=prediction(fake, "processing")),
               Reply(json=prediction(fake, "failed", error="CUDA error: device-side assert triggered")))
    with pytest.raises(polyrelay.InternalServerError, match="CUDA error"):
        polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                             api_base=fake.url + "/v1", num_retries=0)


@pytest.mark.parametrize("status,body,cls", [
    (401, {"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401},
     polyrelay.AuthenticationError),
    (404, {"title": "Not found", "detail": "The requested resource could not be found.", "status": 404},
     polyrelay.NotFoundError),
    (422, {"title": "Input validation failed", "detail": "- input.max_tokens: Must be less than or equal to 4096",
           "status": 422}, polyrelay.UnprocessableEntityError),
    (429, {"title": "Request was throttled", "detail": "Request was throttled. Expected available in 1 second.",
           "status": 429}, polyrelay.RateLimitError),
])
def test_http_errors(fake, status, body, cls):
    fake.reply(Reply(status=status, json=body, headers={"Content-Type": "application/problem+json"}))
    with pytest.raises(cls) as caught:
        polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                             api_base=fake.url + "/v1", num_retries=0)
    assert body["detail"] in str(caught.value) and KEY not in str(caught.value)


def test_stream_then_metrics(fake):
    events = [b"event: output\nid: 1\ndata: Hel\n\n", b"event: output\nid: 2\ndata: lo\n\n",
              b"event: output\nid: 3\ndata: \ndata: world\n\n", b"event: done\ndata: {}\n\n"]
    fake.reply(Reply(status=201, json=prediction(fake, "starting")),
               Reply(headers={"Content-Type": "text/event-stream"}, stream=events),
               Reply(json=prediction(fake, "succeeded", ["Hel", "lo", "\nworld"],
                                     metrics={"input_token_count": 9, "output_token_count": 4})))
    stream = polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                                  api_base=fake.url + "/v1", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    create, sse, read = fake.requests
    assert create.json["stream"] is True and "prefer" not in create.headers
    assert (sse.method, sse.path, sse.headers["accept"]) == ("GET", "/stream/pred-1", "text/event-stream")
    assert (read.method, read.path) == ("GET", "/v1/predictions/pred-1")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello\nworld"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 4)
    assert "usage_estimated" not in stream._hidden_params


def test_stream_error_event(fake):
    events = [b"event: output\ndata: partial\n\n", b'event: error\ndata: {"detail": "model crashed"}\n\n']
    fake.reply(Reply(status=201, json=prediction(fake, "starting")),
               Reply(headers={"Content-Type": "text/event-stream"}, stream=events))
    with pytest.raises(polyrelay.InternalServerError, match="model crashed"):
        list(polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                                  api_base=fake.url + "/v1", stream=True))


def test_urls_outside_replicate_are_not_followed(fake):
    body = prediction(fake, "starting")
    body["urls"]["get"] = "http://attacker.example/steal"
    fake.reply(Reply(status=201, json=body))
    with pytest.raises(polyrelay.BadRequestError, match="outside Replicate"):
        polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                             api_base=fake.url + "/v1", num_retries=0)
    assert len(fake.requests) == 1


def test_key_from_env_and_required(fake, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_KEY", raising=False)
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    with pytest.raises(polyrelay.AuthenticationError, match="REPLICATE_API_KEY"):
        polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES)
    monkeypatch.setenv("REPLICATE_API_TOKEN", KEY)
    fake.reply(Reply(status=201, json=prediction(fake, "succeeded", "hi")))
    polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_base=fake.url)
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_priced_from_catalogue(fake):
    fake.reply(Reply(status=201, json=prediction(fake, "succeeded", "hi",
                                                 metrics={"input_token_count": 1000, "output_token_count": 100})))
    response = polyrelay.completion(model="replicate/meta/llama-2-70b-chat", messages=MESSAGES, api_key=KEY,
                                    api_base=fake.url + "/v1")
    # Replicate's list price for llama-2-70b-chat: $0.65 / 1M input, $2.75 / 1M output (catalogue hosted.json).
    assert response._hidden_params["response_cost"] == pytest.approx(1000 * 6.5e-07 + 100 * 2.75e-06)


def test_acompletion_stream_and_plain(fake):
    import asyncio

    events = [b"event: output\ndata: Hi\n\n", b"event: done\ndata: {}\n\n"]
    fake.reply(Reply(status=201, json=prediction(fake, "succeeded", "Hi",
                                                 metrics={"input_token_count": 4, "output_token_count": 1})),
               Reply(status=201, json=prediction(fake, "starting")),
               Reply(headers={"Content-Type": "text/event-stream"}, stream=events),
               Reply(json=prediction(fake, "succeeded", ["Hi"], metrics={"input_token_count": 4,
                                                                         "output_token_count": 1})))

    async def run():
        plain = await polyrelay.acompletion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES,
                                            api_key=KEY, api_base=fake.url + "/v1")
        stream = await polyrelay.acompletion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES,
                                             api_key=KEY, api_base=fake.url + "/v1", stream=True,
                                             stream_options={"include_usage": True})
        chunks = [c async for c in stream]
        return plain, chunks

    plain, chunks = asyncio.run(run())
    assert plain.choices[0].message.content == "Hi" and plain.usage.total_tokens == 5
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi"
    assert chunks[-1].usage.total_tokens == 5


def test_timed_out_prediction_is_canceled(fake):
    import time

    cancel = []

    def answer(request):
        if request.path.endswith("/cancel"):
            cancel.append(request)
            return Reply(json=prediction(fake, "canceled"))
        return Reply(json=prediction(fake, "processing"))

    fake.reply(Reply(status=201, json=prediction(fake, "starting")))
    fake.responder = answer
    with pytest.raises(polyrelay.Timeout):
        polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                             api_base=fake.url + "/v1", timeout=0.3, num_retries=0)
    deadline = time.monotonic() + 5
    while not cancel and time.monotonic() < deadline:  # the cancel is sent in the background
        time.sleep(0.02)
    assert [(r.method, r.path) for r in cancel] == [("POST", "/v1/predictions/pred-1/cancel")]
    assert cancel[0].headers["authorization"] == f"Bearer {KEY}"


def test_verbose_log_holds_no_secret(fake, capfd):
    fake.reply(Reply(status=201, json=prediction(fake, "starting")),
               Reply(json=prediction(fake, "succeeded", "ok")),
               Reply(status=401, json={"title": "Unauthenticated", "detail": f"bad token {KEY}", "status": 401}))
    polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                         api_base=fake.url + "/v1", verbose=True)
    with pytest.raises(polyrelay.AuthenticationError) as caught:
        polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                             api_base=fake.url + "/v1", verbose=True)
    logged = capfd.readouterr().err
    assert "/predictions" in logged and KEY not in logged and KEY not in str(caught.value.body)


def test_image_parts_are_refused_by_name(fake):
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    with pytest.raises(polyrelay.BadRequestError, match="image_url"):
        polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", api_key=KEY, api_base=fake.url,
                             messages=[{"role": "user", "content": [image]}])
    assert fake.requests == []


def test_metrics_without_input_count_are_not_half_used(fake):
    fake.reply(Reply(status=201, json=prediction(fake, "succeeded", "Hello there", metrics={"output_token_count": 2})))
    response = polyrelay.completion(model="replicate/meta/meta-llama-3-8b-instruct", messages=MESSAGES, api_key=KEY,
                                    api_base=fake.url + "/v1")
    assert response.usage.prompt_tokens > 0 and response._hidden_params["usage_estimated"] is True
