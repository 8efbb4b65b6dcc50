"""Guardrails that ask a service: Presidio over HTTP (a fake speaking its
API on 127.0.0.1) and a moderation model group of the config."""

from __future__ import annotations

import openai
import pytest

from gateway_process import GatewayProcess
from presidio_fake import PresidioFake


@pytest.fixture(scope="module")
def presidio():
    fake = PresidioFake().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def gw(presidio):
    process = GatewayProcess(f"""
model_list:
  - model_name: m
    litellm_params: {{model: mock/m}}
  - model_name: mod
    litellm_params: {{model: mock/omni-moderation-latest}}
guardrails:
  - guardrail_name: presidio-mask
    litellm_params:
      guardrail: presidio
      mode: [pre_call, post_call]
      presidio_analyzer_api_base: {presidio.url}
      presidio_anonymizer_api_base: {presidio.url}/
  - guardrail_name: presidio-ssn-blocks
    litellm_params:
      guardrail: presidio
      mode: pre_call
      presidio_analyzer_api_base: {presidio.url}
      presidio_anonymizer_api_base: {presidio.url}
      pii_entities_config: {{EMAIL_ADDRESS: MASK, US_SSN: BLOCK}}
  - guardrail_name: moderated
    litellm_params: {{guardrail: moderation, model: mod, mode: [pre_call, post_call]}}
""").start()
    yield process
    process.stop()


def chat(gw, content, **extra):
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    return client.chat.completions.create(model="m", messages=[{"role": "user", "content": content}],
                                          extra_body=extra)


def test_presidio_masks_the_request_and_the_answer(gw, presidio):
    presidio.requests.clear()
    answer = chat(gw, "write to ann@example.com", guardrails=["presidio-mask"],
                  mock_response="sure, and cc bob@example.org").choices[0].message.content
    assert answer == "sure, and cc <REDACTED>"
    analyze = [body for path, body in presidio.requests if path == "/analyze"]
    assert analyze[0] == {"text": "write to ann@example.com", "language": "en"}
    anonymize = [body for path, body in presidio.requests if path == "/anonymize"]
    assert anonymize[0]["analyzer_results"][0]["entity_type"] == "EMAIL_ADDRESS"
    # The model saw the masked prompt: the mock echoes it when no mock_response is given.
    echoed = chat(gw, "write to ann@example.com", guardrails=["presidio-mask"]).choices[0].message.content
    assert echoed.endswith("write to <REDACTED>")


def test_presidio_entity_set_to_block_refuses(gw, presidio):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw, "ssn 123-45-6789", guardrails=["presidio-ssn-blocks"])
    message = caught.value.body["message"]
    assert "presidio-ssn-blocks" in message and "US_SSN" in message and "123-45" not in message
    assert [b for p, b in presidio.requests if p == "/analyze"][-1]["entities"] == ["EMAIL_ADDRESS", "US_SSN"]


def test_presidio_down_fails_closed(gw, presidio):
    presidio.down = True
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            chat(gw, "hello", guardrails=["presidio-mask"])
        assert caught.value.status_code == 503 and "presidio-mask" in caught.value.body["message"]
    finally:
        presidio.down = False


def test_moderation_group_refuses_flagged_text(gw):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gw, "I will attack them", guardrails=["moderated"])
    assert "moderated" in caught.value.body["message"] and "violence" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError):  # and flagged answers
        chat(gw, "hello", guardrails=["moderated"], mock_response="you idiot")
    assert chat(gw, "hello", guardrails=["moderated"], mock_response="hi there").choices[0].message.content


def test_moderation_must_name_a_group(tmp_path):
    from gateway_process import run_cli

    path = tmp_path / "config.yaml"
    path.write_text("model_list: [{model_name: m, litellm_params: {model: mock/m}}]\nguardrails:\n"
                    "  - {guardrail_name: g, litellm_params: {guardrail: moderation, model: nope}}\n")
    result = run_cli("--config", str(path))
    assert result.returncode != 0 and "'nope' is not a model group" in result.stderr + result.stdout
