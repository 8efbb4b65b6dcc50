"""Bedrock behind a real gateway, driven by the openai SDK: a guardrailConfig
from litellm_params, guarded_text parts, the guardrail's trace and
content_filter finish; and the invoke route with Llama's native body."""

from __future__ import annotations

import json
import re

import openai
import pytest

from fakeserver import FakeServer, Recorded, Reply
from gateway_process import GatewayProcess

pytest.importorskip("botocore")

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYBEDROCKGW1"
GUARDRAIL = {"guardrailIdentifier": "ff6ujrregl1q", "guardrailVersion": "DRAFT", "trace": "enabled"}
TRACE = {"guardrail": {"inputAssessment": {"ff6ujrregl1q": {"contentPolicy": {"filters": [
    {"type": "VIOLENCE", "confidence": "HIGH", "action": "BLOCKED"}]}}}}}


@pytest.fixture(scope="module")
def upstream():
    server = FakeServer()

    def answer(request: Recorded) -> Reply:
        if request.path.endswith("/converse"):
            return Reply(json={"output": {"message": {"role": "assistant",
                                                      "content": [{"text": "Sorry, I can't help with that."}]}},
                               "stopReason": "guardrail_intervened",
                               "usage": {"inputTokens": 11, "outputTokens": 8, "totalTokens": 19}, "trace": TRACE})
        if request.path.endswith("/invoke"):
            return Reply(json={"generation": "Hello!", "prompt_token_count": 17, "generation_token_count": 2,
                               "stop_reason": "stop"})
        return Reply(404, json={"message": f"no route {request.path}"},
                     headers={"x-amzn-ErrorType": "ResourceNotFoundException"})

    server.responder = answer
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream):
    config = f"""
model_list:
  - model_name: claude-guarded
    litellm_params:
      model: bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0
      api_base: {upstream.url}
      aws_access_key_id: AKIABEDROCKGATEWAY01
      aws_secret_access_key: os.environ/GW_AWS_SECRET
      aws_region_name: us-west-2
      guardrailConfig:
        guardrailIdentifier: ff6ujrregl1q
        guardrailVersion: "DRAFT"
        trace: enabled
  - model_name: llama-invoke
    litellm_params:
      model: bedrock/invoke/meta.llama3-1-70b-instruct-v1:0
      api_base: {upstream.url}
      aws_access_key_id: AKIABEDROCKGATEWAY01
      aws_secret_access_key: os.environ/GW_AWS_SECRET
      aws_region_name: us-east-1
"""
    process = GatewayProcess(config, env={"GW_AWS_SECRET": AWS_SECRET}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(gateway):
    with openai.OpenAI(api_key="anything", base_url=gateway.url, max_retries=0) as sdk:
        yield sdk


def test_guardrail_from_config_with_guarded_text(client, upstream, gateway):
    upstream.requests.clear()
    response = client.chat.completions.create(model="claude-guarded", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Summarise:"}, {"type": "guarded_text", "text": "something violent"}]}])
    sent = upstream.requests[0]
    assert sent.path == "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse"
    assert re.match(r"AWS4-HMAC-SHA256 Credential=AKIABEDROCKGATEWAY01/\d{8}/us-west-2/bedrock/",
                    sent.headers["authorization"])
    assert sent.json["guardrailConfig"] == GUARDRAIL
    assert sent.json["messages"][0]["content"] == [{"text": "Summarise:"},
                                                   {"guardContent": {"text": {"text": "something violent"}}}]
    assert response.choices[0].finish_reason == "content_filter"
    assert response.model_extra["trace"] == TRACE
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (11, 8)
    assert AWS_SECRET not in gateway.log and AWS_SECRET not in json.dumps(sent.json)


def test_invoke_route_through_the_gateway(client, upstream, gateway):
    upstream.requests.clear()
    response = client.chat.completions.create(model="llama-invoke", messages=[{"role": "user", "content": "Hi"}],
                                              max_tokens=32)
    sent = upstream.requests[0]
    assert sent.path == "/model/meta.llama3-1-70b-instruct-v1%3A0/invoke"
    assert sent.json["max_gen_len"] == 32 and sent.json["prompt"].endswith(
        "<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert response.choices[0].message.content == "Hello!"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (17, 2)


def test_tools_to_invoke_prompt_family_are_an_openai_error(client, upstream):
    upstream.requests.clear()
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="llama-invoke", messages=[{"role": "user", "content": "Hi"}],
                                       tools=[tool])
    assert "tools" in caught.value.message
    assert upstream.requests == []
