"""Images and rerank through a real gateway process, with the openai SDK
(images) and httpx (rerank) as clients: keys, model allow-lists, budgets
and spend rows with the call id, as for chat."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from fakeserver import FakeServer, Reply
from gateway_process import GatewayProcess
from polyrelay.media.audio import MAX_AUDIO_BYTES, silent_wav

MASTER = "sk-master-media-1234"
ADMIN = {"Authorization": f"Bearer {MASTER}"}

CONFIG = """
model_list:
  - model_name: painter
    litellm_params: {model: openai/dall-e-3, api_base: %(base)s/v1, api_key: sk-upstream}
  - model_name: azure-painter
    litellm_params: {model: azure/dall-e-3, api_base: %(base)s, api_key: az-upstream, api_version: "2024-02-01"}
  - model_name: mock-painter
    litellm_params: {model: mock/painter}
  - model_name: ranker
    litellm_params: {model: cohere/rerank-v3.5, api_base: %(base)s, api_key: co-upstream}
  - model_name: mock-ranker
    litellm_params: {model: mock/ranker}
  - model_name: whisper
    litellm_params: {model: openai/whisper-1, api_base: %(base)s/v1, api_key: sk-upstream}
  - model_name: tts
    litellm_params: {model: openai/tts-1, api_base: %(base)s/v1, api_key: sk-upstream}
  - model_name: mock-audio
    litellm_params: {model: mock/audio}
general_settings:
  master_key: %(master)s
"""
IMAGE_REPLY = Reply(json={"created": 1700000000, "data": [{"url": "https://img.example/fox.png"}]})
RERANK_REPLY = Reply(json={"id": "r", "results": [{"index": 1, "relevance_score": 0.8},
                                                   {"index": 0, "relevance_score": 0.1}],
                           "meta": {"billed_units": {"search_units": 1}}})


@pytest.fixture(scope="module")
def upstream():
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream):
    process = GatewayProcess(CONFIG % {"base": upstream.url, "master": MASTER}).start()
    yield process
    process.stop()


def new_key(gw, **fields) -> str:
    response = httpx.post(gw.url + "/key/generate", json=fields, headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["key"]


def spend_row(gw, call_id: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = httpx.get(gw.url + "/spend/logs", params={"request_id": call_id}, headers=ADMIN, timeout=10).json()
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no spend row for {call_id}")


def test_images_with_the_openai_sdk_are_priced_and_recorded(gateway, upstream):
    upstream.reply(IMAGE_REPLY)
    key = new_key(gateway, models=["painter"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key)
    raw = client.images.with_raw_response.generate(model="painter", prompt="a red fox", size="1792x1024",
                                                   quality="hd", n=1)
    image = raw.parse()
    assert image.data[0].url == "https://img.example/fox.png"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/images/generations" and sent.headers["authorization"] == "Bearer sk-upstream"
    assert sent.json == {"model": "dall-e-3", "prompt": "a red fox", "size": "1792x1024", "quality": "hd", "n": 1}
    call_id = raw.headers["x-polyrelay-call-id"]
    assert float(raw.headers["x-polyrelay-response-cost"]) == pytest.approx(0.12)
    row = spend_row(gateway, call_id)
    assert row["call_type"] == "image_generation" and row["spend"] == pytest.approx(0.12)
    assert row["model_group"] == "painter" and row["status"] == "success"


def test_images_on_the_azure_path_and_the_mock(gateway, upstream):
    upstream.reply(IMAGE_REPLY)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER)
    assert client.images.generate(model="azure-painter", prompt="fox").data[0].url
    assert upstream.requests[-1].path == "/openai/deployments/dall-e-3/images/generations"
    assert upstream.requests[-1].headers["api-key"] == "az-upstream"
    mocked = client.images.generate(model="mock-painter", prompt="fox", n=2, response_format="b64_json")
    assert len(mocked.data) == 2 and mocked.data[0].b64_json


def test_a_key_may_only_draw_the_models_it_was_given(gateway, upstream):
    key = new_key(gateway, models=["mock-painter"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    seen = len(upstream.requests)
    with pytest.raises(openai.PermissionDeniedError):
        client.images.generate(model="painter", prompt="fox")
    assert len(upstream.requests) == seen  # refused before any provider call


def test_image_budget_is_enforced_before_the_provider_is_called(gateway, upstream):
    key = new_key(gateway, max_budget=0.1)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    upstream.reply(IMAGE_REPLY)
    client.images.generate(model="painter", prompt="fox", quality="hd", size="1024x1792")  # $0.12 > $0.10
    seen = len(upstream.requests)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.images.generate(model="mock-painter", prompt="fox")
        except openai.APIStatusError as refused:
            assert refused.status_code in (400, 429) and "budget" in str(refused.message).lower()
            break
        assert time.monotonic() < deadline, "the spent budget was never enforced"
        time.sleep(0.1)
    assert len(upstream.requests) == seen


def test_bad_image_requests_are_400s(gateway):
    response = httpx.post(gateway.url + "/v1/images/generations", json={"model": "painter", "prompt": "x", "n": 0},
                          headers=ADMIN)
    assert response.status_code == 400 and response.json()["error"]["param"] == "n"
    priced = httpx.post(gateway.url + "/v1/images/generations",
                        json={"model": "painter", "prompt": "x", "output_cost_per_image": 0}, headers=ADMIN)
    assert priced.status_code == 400 and priced.json()["error"]["param"] == "output_cost_per_image"


def test_rerank_in_cohere_shape_is_priced_and_recorded(gateway, upstream):
    upstream.reply(RERANK_REPLY)
    key = new_key(gateway, models=["ranker"])
    response = httpx.post(gateway.url + "/v1/rerank", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                          json={"model": "ranker", "query": "capital of the US", "top_n": 2, "user": "alice",
                                "documents": ["Carson City is in Nevada.", "Washington, D.C. is the capital."]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["index"] for r in body["results"]] == [1, 0]
    assert body["results"][0]["document"] == {"text": "Washington, D.C. is the capital."}
    assert upstream.requests[-1].path == "/v2/rerank"
    assert upstream.requests[-1].json["query"] == "capital of the US"
    assert "user" not in upstream.requests[-1].json  # the end user is the gateway's to track, not Cohere's
    row = spend_row(gateway, response.headers["x-polyrelay-call-id"])
    assert row["call_type"] == "rerank" and row["spend"] == pytest.approx(0.002)
    denied = httpx.post(gateway.url + "/rerank", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                        json={"model": "mock-ranker", "query": "q", "documents": ["a"]})
    assert denied.status_code == 403


def test_rerank_field_checks(gateway):
    response = httpx.post(gateway.url + "/v1/rerank", json={"model": "mock-ranker", "query": "q", "documents": []},
                          headers=ADMIN)
    assert response.status_code == 400 and response.json()["error"]["param"] == "documents"
    missing = httpx.post(gateway.url + "/v1/rerank", json={"model": "mock-ranker", "documents": ["a"]},
                         headers=ADMIN)
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "query"


def test_transcription_upload_with_the_openai_sdk_is_priced_per_second(gateway, upstream):
    upstream.reply(Reply(json={"text": "hello there", "usage": {"type": "duration", "seconds": 30}}))
    wav = silent_wav(1.0)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER)
    raw = client.audio.transcriptions.with_raw_response.create(model="whisper", file=("hello.wav", wav),
                                                               language="en", temperature=0.2)
    assert raw.parse().text == "hello there"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/audio/transcriptions" and sent.headers["authorization"] == "Bearer sk-upstream"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert wav in sent.body and b'filename="hello.wav"' in sent.body
    assert b'name="model"\r\n\r\nwhisper-1' in sent.body and b'name="language"\r\n\r\nen' in sent.body
    row = spend_row(gateway, raw.headers["x-polyrelay-call-id"])
    assert row["call_type"] == "transcription" and row["spend"] == pytest.approx(30 * 0.0001)  # $0.006 a minute


def test_transcription_text_format_is_plain_text(gateway):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER)
    text = client.audio.transcriptions.create(model="mock-audio", file=("a.wav", silent_wav(0.5)),
                                              response_format="text")
    assert isinstance(text, str) and text.startswith("mock transcript of a.wav")


def test_an_upload_past_the_limit_is_a_413(gateway, upstream):
    seen = len(upstream.requests)
    big = b"\0" * (MAX_AUDIO_BYTES + 1)
    response = httpx.post(gateway.url + "/v1/audio/transcriptions", headers=ADMIN, timeout=60,
                          data={"model": "whisper"}, files={"file": ("big.wav", big, "audio/wav")})
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    assert len(upstream.requests) == seen
    not_multipart = httpx.post(gateway.url + "/v1/audio/transcriptions", headers=ADMIN, json={"model": "whisper"})
    assert not_multipart.status_code == 400


def test_speech_is_streamed_back_and_priced_per_character(gateway, upstream):
    pieces = [b"ID3" + bytes(range(200)), b"\xff" * 5000, b"end"]
    upstream.reply(Reply(stream=pieces, headers={"Content-Type": "audio/mpeg"}, piece_delay=0.05))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER)
    with client.audio.speech.with_streaming_response.create(model="tts", voice="alloy",
                                                            input="Hello world") as response:
        assert response.headers["content-type"] == "audio/mpeg"
        call_id = response.headers["x-polyrelay-call-id"]
        audio = b"".join(response.iter_bytes())
    assert audio == b"".join(pieces)
    sent = upstream.requests[-1]
    assert sent.path == "/v1/audio/speech" and sent.json == {"model": "tts-1", "input": "Hello world",
                                                              "voice": "alloy"}
    row = spend_row(gateway, call_id)
    assert row["call_type"] == "speech" and row["spend"] == pytest.approx(11 * 1.5e-05)
    mocked = client.audio.speech.create(model="mock-audio", voice="alloy", input="hi")
    assert mocked.content.startswith(b"RIFF")


def test_routes_not_built_answer_501_in_openai_format(gateway):
    response = httpx.post(gateway.url + "/v1/audio/translations", headers=ADMIN, files={"file": ("a.wav", b"x")},
                          data={"model": "whisper"})
    assert response.status_code == 501 and response.json()["error"]["code"] == "not_implemented"
    unauthorised = httpx.post(gateway.url + "/v1/audio/translations")
    assert unauthorised.status_code == 401
