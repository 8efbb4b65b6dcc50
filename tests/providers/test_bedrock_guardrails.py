"""Bedrock's own guardrail parameters on Converse (guardrailConfig, guardContent,
guardrail_intervened, trace), against the fake Bedrock server of test_bedrock."""

from __future__ import annotations

import pytest

import polyrelay
from fakeserver import Reply
from test_bedrock import EVENTSTREAM, MESSAGES, MODEL, assert_signed, chat, event

pytest.importorskip("botocore")

GUARDRAIL = {"guardrailIdentifier": "ff6ujrregl1q", "guardrailVersion": "DRAFT", "trace": "enabled"}
# The shape of a guardrail trace, from the Converse API reference (GuardrailTraceAssessment).
TRACE = {"guardrail": {"inputAssessment": {"ff6ujrregl1q": {"topicPolicy": {"topics": [
    {"name": "Coffee", "type": "DENY", "action": "BLOCKED"}]}}}}}
BLOCKED = {"output": {"message": {"role": "assistant", "content": [{"text": "Sorry, I can't talk about that."}]}},
           "stopReason": "guardrail_intervened", "usage": {"inputTokens": 9, "outputTokens": 7, "totalTokens": 16},
           "metrics": {"latencyMs": 210}, "trace": TRACE}


def test_guardrail_config_and_guarded_text_reach_converse(fake):
    fake.reply(Reply(json=BLOCKED))
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "What is the main topic of this document?"},
        {"type": "guarded_text", "text": "Where do I buy coffee?"}]}]
    response = chat(fake, messages=messages, guardrailConfig={**GUARDRAIL, "streamProcessingMode": "async"})
    sent = fake.requests[0]
    assert sent.path.endswith("/converse")
    assert_signed(fake, sent)
    # streamProcessingMode belongs to ConverseStream: a plain call leaves it out.
    assert sent.json["guardrailConfig"] == GUARDRAIL
    assert sent.json["messages"] == [{"role": "user", "content": [
        {"text": "What is the main topic of this document?"},
        {"guardContent": {"text": {"text": "Where do I buy coffee?"}}}]}]
    assert "additionalModelRequestFields" not in sent.json
    choice = response.choices[0]
    assert choice.finish_reason == "content_filter"
    assert choice.message.content == "Sorry, I can't talk about that."
    assert response.trace == TRACE
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (9, 7)
    assert response._hidden_params["response_cost"] == pytest.approx(9 * 3e-06 + 7 * 1.5e-05)


def test_guardrail_intervention_streamed_with_trace(fake):
    frames = [event("messageStart", {"role": "assistant"}),
              event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Sorry, I can't."}}),
              event("contentBlockStop", {"contentBlockIndex": 0}),
              event("messageStop", {"stopReason": "guardrail_intervened"}),
              event("metadata", {"usage": {"inputTokens": 9, "outputTokens": 4, "totalTokens": 13},
                                 "metrics": {"latencyMs": 100}, "trace": TRACE})]
    fake.reply(Reply(stream=frames, headers=EVENTSTREAM))
    config = {**GUARDRAIL, "streamProcessingMode": "sync"}
    chunks = list(chat(fake, stream=True, guardrailConfig=config, stream_options={"include_usage": True}))
    sent = fake.requests[0]
    assert sent.path.endswith("/converse-stream")
    assert sent.json["guardrailConfig"] == config
    assert_signed(fake, sent)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["content_filter"]
    traced = [c for c in chunks if getattr(c, "trace", None)]
    assert len(traced) == 1 and traced[0].trace == TRACE
    assert traced[0].provider_specific_fields == {"trace": TRACE}  # where LiteLLM's stream has it
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 4)


def test_guardrail_config_from_router_litellm_params(fake):
    from test_bedrock import ACCESS, SECRET, TOKEN

    fake.reply(Reply(json=BLOCKED))
    router = polyrelay.Router(model_list=[{"model_name": "guarded", "litellm_params": {
        "model": MODEL, "api_base": fake.url, "aws_region_name": "us-west-2", "aws_access_key_id": ACCESS,
        "aws_secret_access_key": SECRET, "aws_session_token": TOKEN, "guardrailConfig": GUARDRAIL}}])
    response = router.completion(model="guarded", messages=MESSAGES)
    assert fake.requests[0].json["guardrailConfig"] == GUARDRAIL
    assert response.choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize("config", [{"guardrailIdentifier": "ff6ujrregl1q"}, "ff6ujrregl1q",
                                    {**GUARDRAIL, "guardrailId": "x"}])
def test_incomplete_guardrail_config_is_refused_by_name(fake, config):
    with pytest.raises(polyrelay.BadRequestError) as caught:
        chat(fake, guardrailConfig=config)
    assert "guardrailConfig" in caught.value.message
    assert fake.requests == []


def test_guardrail_validation_exception_in_stream_is_bad_request(fake):
    from test_bedrock import exception

    fake.reply(Reply(stream=[event("messageStart", {"role": "assistant"}),
                             exception("validationException", "The guardrail identifier or version provided is "
                                                              "incorrect.")], headers=EVENTSTREAM))
    with pytest.raises(polyrelay.BadRequestError) as caught:
        list(chat(fake, stream=True, guardrailConfig=GUARDRAIL))
    assert "guardrail identifier" in caught.value.message
    assert caught.value.code == "validationException"
