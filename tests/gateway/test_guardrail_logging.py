"""``mode: logging_only`` guardrails in a real gateway: what callbacks and
sinks get is masked, the call itself (what the provider gets, what the
client gets back) is not. And the logging payload carries the guardrail
decisions (``guardrail_information``) and names (``applied_guardrails``)."""

from __future__ import annotations

import json
import time

import openai
import pytest

from fakeserver import FakeServer, Reply, sse
from gateway_process import GatewayProcess

HANDLER = '''
import json, os
from polyrelay.integrations.custom_logger import CustomLogger


class Handler(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        with open(os.environ["EVENTS_FILE"], "a") as f:
            f.write(json.dumps({"std": kwargs["standard_logging_object"], "messages": kwargs["messages"],
                                "response": response_obj.model_dump()}, default=str) + "\\n")


handler = Handler()
'''
CONFIG = """
model_list:
  - model_name: gpt
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/UPSTREAM, api_key: sk-upstream-test-123456}
litellm_settings:
  callbacks: custom_callbacks.handler
  success_callback: [generic_api]
guardrails:
  - guardrail_name: log-pii
    litellm_params: {guardrail: pii, mode: logging_only, action: mask, default_on: true}
  - guardrail_name: words
    litellm_params: {guardrail: keywords, mode: pre_call, keywords: ["forbidden"], default_on: true}
"""
EMAIL, CARD = "ann@example.com", "4111 1111 1111 1111"
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": f"I wrote to {EMAIL}"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}}


def chunk(content=None, finish=None, usage=None):
    choices = [] if usage else [{"index": 0, "delta": {"content": content} if content else {},
                                 "finish_reason": finish}]
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": choices, **({"usage": usage} if usage else {})}


@pytest.fixture
def servers(tmp_path):
    upstream, sink = FakeServer().start(), FakeServer().start()
    sink.default = Reply(json={})
    events = tmp_path / "events.jsonl"
    gateway = GatewayProcess(CONFIG, env={"UPSTREAM": upstream.url, "EVENTS_FILE": str(events),
                                          "GENERIC_LOGGER_ENDPOINT": sink.url + "/logs"})
    (gateway.config_path.parent / "custom_callbacks.py").write_text(HANDLER)
    gateway.start()
    yield gateway, upstream, sink, events
    gateway.stop()
    upstream.stop()
    sink.stop()


def test_logging_only_masks_what_sinks_get_and_leaves_the_call_alone(servers):
    gateway, upstream, sink, events = servers
    client = openai.OpenAI(base_url=gateway.url, api_key="anything")
    upstream.reply(Reply(json=ANSWER))
    question = [{"role": "user", "content": f"mail {EMAIL}, card {CARD}"}]
    reply = client.chat.completions.with_raw_response.create(model="gpt", messages=question)
    assert reply.parse().choices[0].message.content == f"I wrote to {EMAIL}"  # the answer is not masked
    assert reply.headers["x-polyrelay-applied-guardrails"] == "log-pii,words"
    assert upstream.requests[0].json["messages"] == question  # nor is the request
    upstream.reply(Reply(stream=sse(chunk("to "), chunk(EMAIL), chunk(finish="stop"),
                                    chunk(usage={"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}))))
    streamed = client.chat.completions.create(model="gpt", messages=question, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == f"to {EMAIL}"

    deadline = time.monotonic() + 15
    found = []
    while time.monotonic() < deadline and (len(found) < 2 or sum(len(r.json) for r in sink.requests) < 2):
        time.sleep(0.1)
        found = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    posted = [p for r in sink.requests for p in r.json]
    assert len(found) == 2 and len(posted) == 2
    logged = json.dumps(found) + json.dumps(posted)
    assert EMAIL not in logged and CARD not in logged  # nowhere: payload, kwargs, response_obj, the sink
    plain = next(e for e in found if not e["std"]["stream"])
    assert plain["std"]["messages"][0]["content"] == "mail [EMAIL], card [CREDIT_CARD]"
    assert plain["messages"][0]["content"] == "mail [EMAIL], card [CREDIT_CARD]"
    assert plain["std"]["response"]["choices"][0]["message"]["content"] == "I wrote to [EMAIL]"
    assert plain["response"]["choices"][0]["message"]["content"] == "I wrote to [EMAIL]"
    streamed_std = next(e["std"] for e in found if e["std"]["stream"])
    assert streamed_std["response"]["choices"][0]["message"]["content"] == "to [EMAIL]"
    for std in [e["std"] for e in found] + posted:
        assert std["metadata"]["applied_guardrails"] == ["log-pii", "words"]
        assert [g["guardrail_name"] for g in std["guardrail_information"]] == ["words"]  # the pre_call decision
