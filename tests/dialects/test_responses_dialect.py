"""dialects/responses.py and responses_stream.py: pure translation, no I/O."""

from __future__ import annotations

import pytest

from polyrelay.dialects import responses
from polyrelay.dialects.responses_stream import ResponseEvents
from polyrelay.errors import BadRequestError


def test_items_become_chat_messages_and_dropped_parts_are_named():
    chat, dropped = responses.to_chat({
        "model": "m", "instructions": "Be brief.", "max_output_tokens": 9, "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}, {"type": "web_search"}],
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                                         {"type": "input_image", "image_url": "https://x/y.png"}]},
            {"type": "reasoning", "id": "rs_1", "encrypted_content": "..."},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": "two"},
        ]}, history=[{"role": "user", "content": "earlier"}])
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "user", "assistant", "tool", "tool"]
    assert chat["messages"][3] == {"role": "assistant", "content": "calling", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    assert chat["max_tokens"] == 9 and chat["reasoning_effort"] == "low"
    assert chat["response_format"]["json_schema"]["name"] == "x"
    assert [t["function"]["name"] for t in chat["tools"]] == ["f"]
    assert sorted(dropped) == ["reasoning", "tool:web_search"]
    response = responses.skeleton({"model": "m"}, "resp_1", "m", dropped)
    assert response["metadata"] == {"polyrelay_dropped": "reasoning,tool:web_search"}


def test_unknown_items_are_refused():
    with pytest.raises(BadRequestError):
        responses.to_chat({"model": "m", "input": [{"type": "computer_call"}]})
    with pytest.raises(BadRequestError):
        responses.to_chat({"model": "m"})


def test_answer_usage_and_length():
    response = responses.from_chat(
        {"model": "m", "choices": [{"finish_reason": "length", "message": {"content": "partial"}}],
         "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4},
                   "completion_tokens_details": {"reasoning_tokens": 2}}},
        responses.skeleton({"model": "m"}, "resp_1", "m", []))
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["content"][0]["text"] == "partial"
    assert response["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert response["usage"]["output_tokens_details"]["reasoning_tokens"] == 2 and response["usage"]["total_tokens"] == 15


def test_stream_events_and_stored_result():
    done = []
    events = ResponseEvents(responses.skeleton({"model": "m"}, "resp_1", "m", []), on_done=done.append)
    base = {"id": "c", "model": "m"}
    out = events.events([{**base, "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
                         {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                             {"index": 0, "id": "k", "function": {"name": "f", "arguments": "{}"}}]},
                             "finish_reason": "tool_calls"}]}])
    out += events.end_events()
    kinds = [e["type"] for e in out]
    assert kinds == ["response.created", "response.in_progress", "response.output_item.added",
                     "response.content_part.added", "response.output_text.delta", "response.output_text.done",
                     "response.content_part.done", "response.output_item.done", "response.output_item.added",
                     "response.function_call_arguments.delta", "response.function_call_arguments.done",
                     "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    (final,) = done
    assert [i["type"] for i in final["output"]] == ["message", "function_call"] and final["status"] == "completed"
    assert responses.output_as_chat(final["output"]) == [{"role": "assistant", "content": "Hi", "tool_calls": [
        {"id": "k", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]
