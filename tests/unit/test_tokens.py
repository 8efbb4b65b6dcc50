"""token_counter: exact OpenAI counts offline, checked against published counts."""

import socket

import pytest

import polyrelay
from polyrelay import tokens

# OpenAI cookbook, "How to count tokens with tiktoken", section 6: these messages
# were counted by the API at 129 prompt tokens (gpt-3.5-turbo, gpt-4) and 124 (gpt-4o, gpt-4o-mini).
JARGON = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate "
                                  "jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch "
                                                          "base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to "
                                                               "do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]

# Same cookbook, section 7: with this tool the API counted 105 (gpt-3.5-turbo, gpt-4) and 101 (gpt-4o, -mini).
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return",
                         "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
WEATHER_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize("model,expected", [
    ("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124),
    ("openai/gpt-4o-2024-08-06", 124), ("azure/gpt-4o", 124),
])
def test_chat_messages_match_the_api(model, expected):
    assert polyrelay.token_counter(model=model, messages=JARGON) == expected


@pytest.mark.parametrize("model,expected", [
    ("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101),
])
def test_tool_definitions_match_the_api(model, expected):
    assert polyrelay.token_counter(model=model, messages=WEATHER_MESSAGES, tools=[WEATHER_TOOL]) == expected


def test_text_counts_and_ids():
    # tiktoken's README: "tiktoken is great!" is 6 tokens in cl100k_base.
    assert tokens.get_encoding("cl100k_base").encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]
    assert polyrelay.token_counter(model="gpt-4", text="tiktoken is great!") == 6
    assert polyrelay.token_counter(model="gpt-4", text="hello world") == 2
    assert polyrelay.token_counter(model="gpt-4", text=["hello world", "tiktoken is great!"]) == 8
    assert polyrelay.token_counter(model="gpt-4", text="") == 0


def test_encodings_by_model():
    assert tokens.encoding_name_for("gpt-4o") == "o200k_base"
    assert tokens.encoding_name_for("openai/o3-mini") == "o200k_base"
    assert tokens.encoding_name_for("gpt-4.1-nano") == "o200k_base"
    assert tokens.encoding_name_for("gpt-3.5-turbo") == "cl100k_base"
    # Other providers publish no tokenizer: cl100k_base is the documented approximation.
    assert tokens.encoding_name_for("anthropic/claude-3-5-sonnet-20240620") == "cl100k_base"
    assert polyrelay.token_counter(model="claude-3-5-sonnet-20240620", messages=JARGON) == 129


def test_names_and_tool_calls_are_counted():
    plain = [{"role": "user", "content": "hi"}]
    named = [{"role": "user", "name": "bob", "content": "hi"}]
    # "bob" is one token, plus one for the name field itself.
    assert polyrelay.token_counter(model="gpt-4o", messages=named) == polyrelay.token_counter(
        model="gpt-4o", messages=plain) + 2
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_current_weather",
                                                          "arguments": '{"location": "Paris"}'}}]}
    assert polyrelay.token_counter(model="gpt-4o", messages=plain + [call]) > \
        polyrelay.token_counter(model="gpt-4o", messages=plain) + 3


def test_tool_forms_and_estimates():
    bare_function = WEATHER_TOOL["function"]  # legacy functions= entries have no wrapper
    assert tokens.count_tools([bare_function], "gpt-4o") == tokens.count_tools([WEATHER_TOOL], "gpt-4o")
    assert tokens.count_tools(None, "gpt-4o") == tokens.count_tools([], "gpt-4o") == 0
    nested = {"type": "function", "function": {
        "name": "book", "description": "Book a trip.",
        "parameters": {"type": "object", "properties": {
            "traveller": {"type": "object", "description": "Who travels",
                          "properties": {"name": {"type": "string", "description": "Full name"}}},
        }}}}
    flat = {"type": "function", "function": {
        "name": "book", "description": "Book a trip.",
        "parameters": {"type": "object", "properties": {
            "traveller": {"type": "object", "description": "Who travels"}}}}}
    assert tokens.count_tools([nested], "gpt-4o") > tokens.count_tools([flat], "gpt-4o")
    two = tokens.count_tools([WEATHER_TOOL, WEATHER_TOOL], "gpt-4o")
    assert two == 2 * tokens.count_tools([WEATHER_TOOL], "gpt-4o") - tokens.TOOL_OVERHEADS["o200k_base"].closing
    assert polyrelay.token_counter(model="gpt-4o", text="hi", tools=[WEATHER_TOOL]) == \
        1 + tokens.count_tools([WEATHER_TOOL], "gpt-4o")


def test_tables_load_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("token counting tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(tokens, "_loaded", {})  # load both tables again, now with no network
    assert polyrelay.token_counter(model="gpt-4o", text="offline") == 1
    assert polyrelay.token_counter(model="gpt-4", text="offline") >= 1
    assert set(tokens._loaded) == {"o200k_base", "cl100k_base"}


def test_preload_loads_a_table_once_off_the_loop(monkeypatch):
    import asyncio
    import threading

    loads = []
    real_load = tokens._load

    def counting_load(name):
        loads.append((name, threading.current_thread() is threading.main_thread()))
        return real_load(name)

    monkeypatch.setattr(tokens, "_loaded", {})
    monkeypatch.setattr(tokens, "_load", counting_load)

    async def main():
        await asyncio.gather(*(tokens.preload("gpt-4o-mini") for _ in range(5)))
        await tokens.preload("gpt-4o")  # same table: nothing to do

    asyncio.run(main())
    assert loads == [("o200k_base", False)]  # loaded once, on a worker thread
    assert tokens.count_text("hello world", "gpt-4o") == 2
