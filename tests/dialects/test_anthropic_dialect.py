"""dialects/anthropic_messages.py and anthropic_stream.py: pure translation, no I/O."""

from __future__ import annotations

import json

import pytest

from polyrelay.dialects import anthropic_messages as messages
from polyrelay.dialects.anthropic_stream import MessageEvents
from polyrelay.errors import BadRequestError


def test_request_blocks_become_chat_messages():
    chat = messages.to_chat({
        "model": "m", "max_tokens": 50, "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}, "top_k": 5, "fallbacks": ["other"],
        "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                       "data": "AAA"}},
                                         {"type": "document", "source": {"type": "base64",
                                                                         "media_type": "application/pdf",
                                                                         "data": "JVBE"}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "calling"},
                                              {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "boom",
                                          "is_error": True}, {"type": "text", "text": "go on"}]},
        ]})
    assert chat["messages"][0] == {"role": "system", "content": [
        {"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}]}
    assert chat["messages"][1]["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}}]
    assert chat["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}
    assert chat["messages"][4] == {"role": "user", "content": [{"type": "text", "text": "go on"}]}
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["fallbacks"] == ["other"]  # the gateway's own extras ride along
    assert chat["native_params"] == {"anthropic": {"body": {"top_k": 5}, "headers": {}}}  # for Anthropic only


@pytest.mark.parametrize("body", [{"model": "m", "max_tokens": 5}, {"model": "m", "messages": []},
                                  {"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}])
def test_bad_requests_are_refused(body):
    with pytest.raises(BadRequestError):
        messages.to_chat(body)


def test_answer_and_usage():
    message = messages.from_chat({"id": "chatcmpl-1", "model": "m", "choices": [{"finish_reason": "tool_calls", "message": {
        "content": "thinking done", "reasoning_content": "hmm",
        "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{\"x\": 2}"}}]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 60},
                  "cache_creation_input_tokens": 10}})
    assert [b["type"] for b in message["content"]] == ["thinking", "text", "tool_use"]
    assert message["content"][2]["input"] == {"x": 2} and message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 30, "output_tokens": 7, "cache_creation_input_tokens": 10,
                                "cache_read_input_tokens": 60}
    assert messages.error_body(429, "slow down") == {"type": "error",
                                                     "error": {"type": "rate_limit_error", "message": "slow down"}}


def test_stream_opens_and_closes_one_block_per_kind():
    events = MessageEvents("m")
    chunk = {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": None}]}
    pieces = [{"reasoning_content": "r"}, {"content": "Hi"},
              {"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f", "arguments": "{\"a\""}}]},
              {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}]
    out = []
    for delta in pieces:
        out += events.events([{**chunk, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}])
    out += events.events([{**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
                          {**chunk, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}])
    out += events.end_events()
    names = [name for name, _ in out]
    assert names == ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_stop", "content_block_start",
                     "content_block_delta", "content_block_delta", "content_block_stop", "message_delta",
                     "message_stop"]
    partial = "".join(d["delta"]["partial_json"] for n, d in out if n == "content_block_delta"
                      and d["delta"]["type"] == "input_json_delta")
    assert json.loads(partial) == {"a": 1}
    assert out[-2][1]["delta"]["stop_reason"] == "tool_use" and out[-2][1]["usage"]["output_tokens"] == 4
    frame = events.error({"error": {"message": "gone"}}, 529)
    assert frame.startswith(b"event: error\ndata: ") and b"overloaded_error" in frame
