"""Anthropic's Messages API, end to end against a fake server on 127.0.0.1.

Fixtures are the examples from Anthropic's documentation (see
fixtures/anthropic/README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import openai
import pytest

import polyrelay
from fakeserver import Reply

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
KEY = "sk-ant-test-0123456789abcdefghij"
MODEL = "anthropic/claude-3-5-sonnet-20241022"
HELLO = [{"role": "user", "content": "Hello, world"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["location"],
        },
    },
}


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def fixture_stream(name: str, piece: int = 37) -> list[bytes]:
    """The event stream cut into small pieces, so events straddle reads."""
    body = (FIXTURES / name).read_bytes()
    return [body[i:i + piece] for i in range(0, len(body), piece)]


def chat(fake, **kwargs):
    kwargs.setdefault("messages", HELLO)
    return polyrelay.completion(model=kwargs.pop("model", MODEL), api_base=fake.url, api_key=KEY, **kwargs)


# -- requests ------------------------------------------------------------------


def test_plain_chat_sends_messages_request_and_returns_openai_response(fake):
    fake.reply(Reply(json=fixture_json("message_text.json")))
    response = chat(fake, messages=[{"role": "system", "content": "You are terse."}, *HELLO])

    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json == {
        "model": "claude-3-5-sonnet-20241022",
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Hello, world"}],
        "max_tokens": 4096,
    }

    assert response.object == "chat.completion"
    assert response.id == "msg_013Zva2CMHLNnXjNJJKqJ2EF"
    assert response.model == "claude-3-5-sonnet-20241022"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == "Hi! My name is Claude."
    assert response.choices[0].message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"
    usage = response.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2095, 503, 2598)
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert response["usage"]["cache_read_input_tokens"] == 0
    assert response._hidden_params["custom_llm_provider"] == "anthropic"
    assert response._hidden_params.get("usage_estimated") is None


def test_openai_params_are_translated_and_provider_params_pass_through(fake):
    fake.reply(Reply(json=fixture_json("message_text.json")))
    chat(fake, temperature=0.5, top_p=0.9, stop="END", max_completion_tokens=100, user="user-42", top_k=5,
         extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    sent = fake.requests[0]
    assert sent.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert sent.json == {
        "model": "claude-3-5-sonnet-20241022",
        "messages": [{"role": "user", "content": "Hello, world"}],
        "max_tokens": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
    }


def test_max_tokens_wins_and_stop_list_is_kept(fake):
    fake.reply(Reply(json=fixture_json("message_text.json")))
    chat(fake, max_tokens=256, stop=["\n\nHuman:", "END"])
    assert fake.requests[0].json["max_tokens"] == 256
    assert fake.requests[0].json["stop_sequences"] == ["\n\nHuman:", "END"]


@pytest.mark.parametrize("param, value", [
    ("logit_bias", {"50256": -100}), ("logprobs", True), ("top_logprobs", 2), ("presence_penalty", 0.5),
    ("frequency_penalty", 0.5), ("n", 2), ("seed", 7),
])
def test_unsupported_params_are_named_before_any_call_or_dropped(fake, param, value):
    with pytest.raises(polyrelay.UnsupportedParamsError, match=param) as caught:
        chat(fake, **{param: value})
    assert isinstance(caught.value, openai.BadRequestError)
    assert fake.requests == []

    fake.reply(Reply(json=fixture_json("message_text.json")))
    chat(fake, drop_params=True, **{param: value})
    assert param not in fake.requests[0].json


def test_messages_become_content_blocks_with_roles_merged_and_cache_control_kept(fake):
    fake.reply(Reply(json=fixture_json("message_text.json")))
    ephemeral = {"type": "ephemeral"}
    messages = [
        {"role": "system", "content": [
            {"type": "text", "text": "You are an AI assistant."},
            {"type": "text", "text": "Here is the agreement.", "cache_control": ephemeral},
        ]},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
             "cache_control": ephemeral},
        ]},
        {"role": "user", "content": "And the weather?", "cache_control": ephemeral},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "toolu_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'}},
            {"id": "toolu_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "15 degrees"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "20 degrees"}]},
        {"role": "user", "content": "Thanks. Which is warmer?"},
    ]
    chat(fake, messages=messages, tools=[WEATHER_TOOL])
    body = fake.requests[0].json
    assert body["system"] == [
        {"type": "text", "text": "You are an AI assistant."},
        {"type": "text", "text": "Here is the agreement.", "cache_control": ephemeral},
    ]
    assert body["messages"] == [
        {"role": "user", "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
             "cache_control": ephemeral},
            {"type": "text", "text": "And the weather?", "cache_control": ephemeral},
        ]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"location": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"location": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "15 degrees"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "20 degrees"}]},
            {"type": "text", "text": "Thanks. Which is warmer?"},
        ]},
    ]


def test_anthropic_shaped_blocks_and_pdf_data_urls_pass(fake):
    fake.reply(Reply(json=fixture_json("message_text.json")))
    native = {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}}
    chat(fake, messages=[{"role": "user", "content": [
        native,
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "text", "text": "Summarise."},
    ]}])
    assert fake.requests[0].json["messages"][0]["content"] == [
        native,
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
        {"type": "text", "text": "Summarise."},
    ]


@pytest.mark.parametrize("choice, expected", [
    ("auto", {"type": "auto"}),
    ("required", {"type": "any"}),
    ("none", {"type": "none"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tools_and_tool_choice_are_translated(fake, choice, expected):
    fake.reply(Reply(json=fixture_json("message_tool_use.json")))
    cached_tool = {**WEATHER_TOOL, "cache_control": {"type": "ephemeral"}}
    chat(fake, tools=[cached_tool], tool_choice=choice)
    body = fake.requests[0].json
    assert body["tools"] == [{
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "input_schema": WEATHER_TOOL["function"]["parameters"],
        "cache_control": {"type": "ephemeral"},
    }]
    assert body["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_tool_use(fake):
    fake.reply(Reply(json=fixture_json("message_tool_use.json")), Reply(json=fixture_json("message_tool_use.json")))
    chat(fake, tools=[WEATHER_TOOL], parallel_tool_calls=False)
    chat(fake, tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=False)
    assert fake.requests[0].json["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    assert fake.requests[1].json["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_tool_use_answer_becomes_tool_calls(fake):
    fake.reply(Reply(json=fixture_json("message_tool_use.json")))
    response = chat(fake, tools=[WEATHER_TOOL])
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content.startswith("<thinking>I need to use the get_weather")
    [call] = choice.message.tool_calls
    assert (call.id, call.type, call.function.name) == ("toolu_01A09q90qw90lq917835lq9", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}
    assert isinstance(call.function.arguments, str)


def test_response_format_json_schema_is_a_forced_tool_whose_input_is_the_content(fake):
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    answer = fixture_json("message_tool_use.json")
    answer["content"] = [{"type": "tool_use", "id": "toolu_9", "name": "json_tool_call", "input": {"city": "Paris"}}]
    fake.reply(Reply(json=answer))
    response = chat(fake, response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}})
    body = fake.requests[0].json
    assert body["tools"] == [{"name": "json_tool_call", "description": "Respond with a JSON object.",
                              "input_schema": schema}]
    assert body["tool_choice"] == {"type": "tool", "name": "json_tool_call"}
    message = response.choices[0].message
    assert json.loads(message.content) == {"city": "Paris"}
    assert message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"


def test_response_format_json_object_streams_as_content(fake):
    stream = [
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_j","type":"message",'
        b'"role":"assistant","content":[],"model":"claude-3-5-sonnet-20241022","usage":{"input_tokens":10,'
        b'"output_tokens":1}}}\n\n',
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":'
        b'{"type":"tool_use","id":"toolu_j","name":"json_tool_call","input":{}}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"input_json_delta","partial_json":"{\\"ok\\": "}}\n\n',
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"input_json_delta","partial_json":"true}"}}\n\n',
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},'
        b'"usage":{"output_tokens":5}}\n\n',
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ]
    fake.reply(Reply(stream=stream))
    chunks = list(chat(fake, stream=True, response_format={"type": "json_object"}))
    assert fake.requests[0].json["tools"][0]["input_schema"] == {"type": "object", "additionalProperties": True}
    assert json.loads("".join(c.choices[0].delta.content or "" for c in chunks)) == {"ok": True}
    assert all(c.choices[0].delta.tool_calls is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_api_base_may_carry_the_v1_path(fake):
    fake.reply(Reply(json=fixture_json("message_text.json")), Reply(json=fixture_json("message_text.json")))
    polyrelay.completion(model=MODEL, messages=HELLO, api_base=fake.url + "/v1", api_key=KEY)
    polyrelay.completion(model=MODEL, messages=HELLO, api_base=fake.url + "/v1/messages", api_key=KEY)
    assert [r.path for r in fake.requests] == ["/v1/messages", "/v1/messages"]


def test_env_variables_supply_key_and_base_and_bare_claude_names_resolve(fake, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_BASE", fake.url)
    fake.reply(Reply(json=fixture_json("message_text.json")))
    response = polyrelay.completion(model="claude-3-5-sonnet-20240620", messages=HELLO)
    assert fake.requests[0].headers["x-api-key"] == KEY
    assert fake.requests[0].json["model"] == "claude-3-5-sonnet-20240620"
    assert response._hidden_params["custom_llm_provider"] == "anthropic"


def test_missing_key_for_default_base_is_authentication_error(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_BASE", raising=False)
    with pytest.raises(polyrelay.AuthenticationError, match="ANTHROPIC_API_KEY"):
        polyrelay.completion(model=MODEL, messages=HELLO)


def test_text_completion_is_served_over_messages(fake):
    fake.reply(Reply(json=fixture_json("message_text.json")))
    response = polyrelay.text_completion(model=MODEL, prompt="Say hi", api_base=fake.url, api_key=KEY)
    assert fake.requests[0].json["messages"] == [{"role": "user", "content": "Say hi"}]
    assert response.object == "text_completion"
    assert response.choices[0].text == "Hi! My name is Claude."


# -- usage ---------------------------------------------------------------------


def test_cached_prompt_tokens_are_counted_in_prompt_tokens_and_reported_by_class(fake):
    fake.reply(Reply(json=fixture_json("message_cached_write.json")), Reply(json=fixture_json("message_cached_read.json")))
    written = chat(fake).usage
    read = chat(fake).usage

    assert written.prompt_tokens == 21 + 188086
    assert written.completion_tokens == 393
    assert written.total_tokens == 21 + 188086 + 393
    assert written.prompt_tokens_details.cached_tokens == 0
    assert written.cache_creation_input_tokens == written._cache_creation_input_tokens == 188086
    assert written.cache_read_input_tokens == written._cache_read_input_tokens == 0

    assert read.prompt_tokens == 21 + 188086
    assert read.prompt_tokens_details.cached_tokens == 188086
    assert read["cache_read_input_tokens"] == read["_cache_read_input_tokens"] == 188086
    assert read["cache_creation_input_tokens"] == read["_cache_creation_input_tokens"] == 0
    assert read.model_dump()["_cache_read_input_tokens"] == 188086


# The "Anthropic Example" of LiteLLM's usage page (tests/seeds is the team's
# copy: /work/shared/seeds/usage-prompt-caching.txt), as written there; only
# the key placeholder holds a value, as a user's copy would.
PROMPT_CACHING_EXAMPLE = '''
from litellm import completion
import litellm
import os

litellm.set_verbose = True # 👈 SEE RAW REQUEST
os.environ["ANTHROPIC_API_KEY"] = "sk-ant-test-0123456789abcdefghij"

response = completion(
    model="anthropic/claude-3-5-sonnet-20240620",
    messages=[
        {
            "role": "system",
            "content": [
                {
                    "type": "text",
                    "text": "You are an AI assistant tasked with analyzing legal documents.",
                },
                {
                    "type": "text",
                    "text": "Here is the full text of a complex legal agreement" * 400,
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
        {
            "role": "user",
            "content": "what are the key terms and conditions in this agreement?",
        },
    ]
)

print(response.usage)
'''


def test_litellm_prompt_caching_example_runs_unchanged(fake, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "litellm", polyrelay)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_BASE", fake.url)
    monkeypatch.setattr(polyrelay, "set_verbose", False)
    fake.reply(Reply(json=fixture_json("message_cached_write.json")))
    namespace: dict = {}
    exec(compile(PROMPT_CACHING_EXAMPLE, "usage-prompt-caching", "exec"), namespace)

    sent = fake.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.json["model"] == "claude-3-5-sonnet-20240620"
    assert sent.json["system"] == [
        {"type": "text", "text": "You are an AI assistant tasked with analyzing legal documents."},
        {"type": "text", "text": "Here is the full text of a complex legal agreement" * 400,
         "cache_control": {"type": "ephemeral"}},
    ]
    assert sent.json["messages"] == [
        {"role": "user", "content": "what are the key terms and conditions in this agreement?"}]

    usage = namespace["response"].usage
    assert usage.prompt_tokens == 21 + 188086
    assert usage.completion_tokens == 393
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage._cache_creation_input_tokens == 188086
    assert usage._cache_read_input_tokens == 0
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert "_cache_creation_input_tokens=188086" in capsys.readouterr().out


# -- streaming -------------------------------------------------------------------


def test_stream_relays_text_as_openai_chunks(fake):
    fake.reply(Reply(stream=fixture_stream("stream_text.txt")))
    stream = chat(fake, stream=True)
    chunks = list(stream)

    assert fake.requests[0].json["stream"] is True
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY" for c in chunks)
    assert all(c.choices and c.usage is None for c in chunks)  # no usage chunk unless asked
    assert len(chunks) == 4  # role, "Hello", "!", finish: ping and block start/stop send nothing
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello!"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])


def test_stream_with_include_usage_ends_with_usage_chunk(fake):
    fake.reply(Reply(stream=fixture_stream("stream_text.txt")))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (25, 15, 40)
    assert last.usage.prompt_tokens_details.cached_tokens == 0
    assert last.usage["_cache_read_input_tokens"] == 0
    assert all(c.usage is None for c in chunks[:-1])
    assert "stream_options" not in fake.requests[0].json  # Anthropic always reports usage


def test_stream_usage_includes_cached_tokens(fake):
    body = (FIXTURES / "stream_text.txt").read_text().replace(
        '"usage": {"input_tokens": 25, "output_tokens": 1}',
        '"usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1800, '
        '"output_tokens": 1}')
    fake.reply(Reply(stream=[body.encode()]))
    stream = chat(fake, stream=True, stream_options={"include_usage": True})
    usage = list(stream)[-1].usage
    assert usage.prompt_tokens == 25 + 1800
    assert usage.completion_tokens == 15
    assert usage.total_tokens == 1840
    assert usage.prompt_tokens_details.cached_tokens == 1800
    assert usage.cache_read_input_tokens == usage._cache_read_input_tokens == 1800
    assert usage.cache_creation_input_tokens == usage._cache_creation_input_tokens == 0


def test_stream_tool_use_becomes_tool_call_deltas(fake):
    fake.reply(Reply(stream=fixture_stream("stream_tool_use.txt", piece=53)))
    chunks = list(chat(fake, stream=True, tools=[WEATHER_TOOL], stream_options={"include_usage": True}))
    pieces = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    first = pieces[0]
    assert (first.index, first.id, first.type) == (0, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "function")
    assert (first.function.name, first.function.arguments) == ("get_weather", "")
    assert all(p.index == 0 and p.id is None for p in pieces[1:])

    rebuilt = polyrelay.stream_chunk_builder(chunks)
    message = rebuilt.choices[0].message
    assert message.content == "Okay, let's check the weather for San Francisco, CA:"
    [call] = message.tool_calls
    assert call.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert json.loads(call.function.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert rebuilt.choices[0].finish_reason == "tool_calls"
    assert (rebuilt.usage.prompt_tokens, rebuilt.usage.completion_tokens) == (472, 89)


def test_error_event_mid_stream_raises_mapped_error(fake):
    fake.reply(Reply(stream=fixture_stream("stream_error.txt")))
    stream = chat(fake, stream=True)
    with pytest.raises(polyrelay.ServiceUnavailableError, match="Overloaded") as caught:
        list(stream)
    assert caught.value.llm_provider == "anthropic"
    assert caught.value.code == "overloaded_error"


def test_stream_cut_before_message_stop_raises(fake):
    body = (FIXTURES / "stream_text.txt").read_text()
    fake.reply(Reply(stream=[body[: body.index("event: message_delta")].encode()]))
    with pytest.raises(polyrelay.APIConnectionError):
        list(chat(fake, stream=True))


@pytest.mark.anyio
async def test_async_stream(fake):
    fake.reply(Reply(stream=fixture_stream("stream_text.txt")))
    stream = await polyrelay.acompletion(model=MODEL, messages=HELLO, api_base=fake.url, api_key=KEY, stream=True)
    text = [c.choices[0].delta.content or "" async for c in stream]
    assert "".join(text) == "Hello!"


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("case, status, cls, openai_cls", [
    ("400", 400, polyrelay.BadRequestError, openai.BadRequestError),
    ("400-context", 400, polyrelay.ContextWindowExceededError, openai.BadRequestError),
    ("401", 401, polyrelay.AuthenticationError, openai.AuthenticationError),
    ("403", 403, polyrelay.PermissionDeniedError, openai.PermissionDeniedError),
    ("404", 404, polyrelay.NotFoundError, openai.NotFoundError),
    ("413", 413, polyrelay.BadRequestError, openai.BadRequestError),
    ("429", 429, polyrelay.RateLimitError, openai.RateLimitError),
    ("500", 500, polyrelay.InternalServerError, openai.InternalServerError),
    ("529", 529, polyrelay.ServiceUnavailableError, openai.APIStatusError),
])
def test_error_bodies_map_to_error_classes(fake, case, status, cls, openai_cls):
    body = fixture_json("errors.json")[case]
    fake.reply(Reply(status, json=body))
    with pytest.raises(cls) as caught:
        chat(fake)
    exc = caught.value
    assert isinstance(exc, openai_cls)
    assert exc.llm_provider == "anthropic"
    assert exc.model == "claude-3-5-sonnet-20241022"
    assert exc.message == body["error"]["message"]
    assert exc.code == body["error"]["type"]
    assert exc.status_code == (400 if case == "400-context" else status)
    assert KEY not in str(exc)


def test_rate_limit_is_retried_with_retry_after(fake):
    fake.reply(Reply(429, json=fixture_json("errors.json")["429"], headers={"retry-after": "0"}),
               Reply(json=fixture_json("message_text.json")))
    response = chat(fake, num_retries=1)
    assert response.choices[0].message.content == "Hi! My name is Claude."
    assert len(fake.requests) == 2


def test_api_key_never_appears_in_error_messages(fake):
    echoed = {"type": "error", "error": {"type": "authentication_error",
                                         "message": f"invalid x-api-key: {KEY}"}}
    fake.reply(Reply(401, json=echoed))
    with pytest.raises(polyrelay.AuthenticationError) as caught:
        chat(fake)
    assert KEY not in str(caught.value)
    assert KEY not in caught.value.message
    assert KEY not in repr(caught.value.args)


def test_extended_thinking_passes_through_and_comes_back_as_reasoning(fake):
    answer = fixture_json("message_text.json")
    thinking = {"type": "thinking", "thinking": "The user greets me.", "signature": "EqQBCgIYAhIM"}
    answer["content"] = [thinking, *answer["content"]]
    fake.reply(Reply(json=answer), Reply(json=fixture_json("message_text.json")))
    budget = {"type": "enabled", "budget_tokens": 1024}
    response = chat(fake, thinking=budget)
    assert fake.requests[0].json["thinking"] == budget
    message = response.choices[0].message
    assert message.content == "Hi! My name is Claude."
    assert message.reasoning_content == "The user greets me."
    # The signed block goes back unchanged on the next turn, as Anthropic requires.
    chat(fake, thinking=budget, messages=[*HELLO, message.model_dump(), {"role": "user", "content": "Go on"}])
    assert fake.requests[1].json["messages"][1] == {
        "role": "assistant", "content": [thinking, {"type": "text", "text": "Hi! My name is Claude."}]}
