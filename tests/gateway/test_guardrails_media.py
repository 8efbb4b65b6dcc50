"""Guardrails on the media routes of a real gateway: they check the text a
route has (an image prompt and its revised_prompt, the text to speak, a
rerank query and its documents, a transcript), and a guardrail with nothing
to check on a route (post_call on speech, pre_call on an audio upload) is
refused with a 400 naming it, never passed as if it had run."""

from __future__ import annotations

import httpx
import openai
import pytest

from gateway_process import GatewayProcess
from polyrelay.media.audio import silent_wav

CONFIG = """
model_list:
  - model_name: painter
    litellm_params: {model: mock/painter}
  - model_name: ranker
    litellm_params: {model: mock/ranker}
  - model_name: audio
    litellm_params: {model: mock/audio}
guardrails:
  - guardrail_name: pre
    litellm_params: {guardrail: keywords, mode: pre_call, keywords: ["zebra"]}
  - guardrail_name: post
    litellm_params: {guardrail: keywords, mode: post_call, keywords: ["zebra", "transcript"]}
  - guardrail_name: both
    litellm_params: {guardrail: keywords, mode: [pre_call, post_call], keywords: ["zebra"]}
  - guardrail_name: mask
    litellm_params: {guardrail: pii, mode: pre_call, action: mask}
"""


@pytest.fixture(scope="module")
def gateway():
    process = GatewayProcess(CONFIG).start()
    yield process
    process.stop()


def blocked(reply, name, what="request"):
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "guardrail_violation"
    assert f"Blocked by guardrail '{name}': the {what} contains a banned keyword" in error["message"]


def not_applicable(reply, name, route):
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "guardrail_not_applicable"
    assert f"guardrail {name!r}" in error["message"] and f"cannot be applied to {route} requests" in error["message"]


def test_image_prompts_are_checked_and_masked(gateway):
    url = gateway.url + "/v1/images/generations"
    blocked(httpx.post(url, json={"model": "painter", "prompt": "a zebra", "guardrails": ["pre"]}), "pre")
    # the mock echoes the prompt as revised_prompt: post_call checks it
    blocked(httpx.post(url, json={"model": "painter", "prompt": "a zebra", "guardrails": ["post"]}), "post", "answer")
    client = openai.OpenAI(base_url=gateway.url, api_key="anything")
    image = client.images.generate(model="painter", prompt="mail ann@example.com", extra_body={"guardrails": ["mask"]})
    assert image.data[0].revised_prompt == "mail [EMAIL]"  # the provider got the masked prompt


def test_speech_input_is_checked_and_an_output_guardrail_is_refused(gateway):
    url = gateway.url + "/v1/audio/speech"
    body = {"model": "audio", "input": "a zebra", "voice": "alloy"}
    blocked(httpx.post(url, json={**body, "guardrails": ["pre"]}), "pre")
    blocked(httpx.post(url, json={**body, "guardrails": ["both"]}), "both")
    not_applicable(httpx.post(url, json={**body, "guardrails": ["post"]}), "post", "speech")
    fine = httpx.post(url, json={**body, "input": "a horse", "guardrails": ["both"]})  # pre runs, post has no text
    assert fine.status_code == 200 and fine.headers["content-type"].startswith("audio/")
    assert fine.headers["x-polyrelay-applied-guardrails"] == "both"


def test_rerank_query_and_documents_are_checked(gateway):
    url = gateway.url + "/v1/rerank"
    body = {"model": "ranker", "query": "animals", "documents": ["a horse", "a cat"]}
    blocked(httpx.post(url, json={**body, "query": "zebra facts", "guardrails": ["pre"]}), "pre")
    blocked(httpx.post(url, json={**body, "documents": ["a horse", {"text": "a zebra"}], "guardrails": ["pre"]}),
            "pre")
    assert httpx.post(url, json={**body, "guardrails": ["pre"]}).status_code == 200


def test_transcripts_are_checked_and_an_input_guardrail_is_refused(gateway):
    url = gateway.url + "/v1/audio/transcriptions"
    upload = {"file": ("a.wav", silent_wav(1.0), "audio/wav")}
    not_applicable(httpx.post(url, files=upload, data={"model": "audio", "guardrails": "pre"}), "pre",
                   "transcription")
    # the mock's transcript says "mock transcript of a.wav": post_call reads it (a form names guardrails "a,b")
    blocked(httpx.post(url, files=upload, data={"model": "audio", "guardrails": "both,post"}), "post", "answer")
    fine = httpx.post(url, files=upload, data={"model": "audio", "guardrails": "both"})
    assert fine.status_code == 200 and "transcript" in fine.json()["text"]
