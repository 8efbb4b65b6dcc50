"""Small LiteLLM habits that must keep working: client objects, httpx
timeouts, float token counts, AWS_REGION_NAME, stream_chunk_builder's
edges, and token_counter's images, tools and fine-tuned model names."""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

import polyrelay as litellm
from fakeserver import Reply, sse

MESSAGES = [{"role": "user", "content": "Hello!"}]
OK = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
      "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}],
      "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}
KEY = "sk-test-0123456789abcd"


def test_client_argument_stays_out_of_the_request_body(fake):
    fake.reply(Reply(json=OK), Reply(json=OK))
    litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY,
                       client=openai.OpenAI(api_key=KEY, base_url=fake.url))
    litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY,
                       client=httpx.Client())
    for sent in fake.requests:
        assert set(sent.json) == {"model", "messages"}


def test_httpx_timeout_object(fake):
    fake.reply(Reply(json=OK, delay=2))
    with pytest.raises(litellm.Timeout):
        litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY,
                           timeout=httpx.Timeout(10.0, read=0.2))
    fake.reply(Reply(json=OK))
    response = litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY,
                                  timeout=httpx.Timeout(5.0))
    assert response.choices[0].message.content == "Hi"


def test_cost_per_token_takes_float_counts():
    assert litellm.cost_per_token(model="gpt-4o", prompt_tokens=10.0, completion_tokens=20.0) == \
        litellm.cost_per_token(model="gpt-4o", prompt_tokens=10, completion_tokens=20)
    prompt_cost, _ = litellm.cost_per_token(model="gpt-4o", prompt_tokens=10.5, completion_tokens=0)
    assert prompt_cost == pytest.approx(10.5 * 2.5e-06)


def test_bedrock_reads_aws_region_name(monkeypatch):
    from polyrelay.providers import get_adapter
    from polyrelay.providers.base import CHAT, Call, Credentials

    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION_NAME", "eu-west-3")
    call = Call(kind=CHAT, provider="bedrock", model="anthropic.claude-3-haiku-20240307-v1:0",
                params={"messages": MESSAGES},
                creds=Credentials(extra={"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret"}))
    request = get_adapter("bedrock").build_request(call)
    assert request.url.startswith("https://bedrock-runtime.eu-west-3.amazonaws.com/")


def test_stream_chunk_builder_none_raises_clearly():
    with pytest.raises(litellm.APIError, match="list of chunks"):
        litellm.stream_chunk_builder(None)
    assert litellm.stream_chunk_builder([]) is None


def test_stream_chunk_builder_keeps_the_providers_usage(fake):
    provider_usage = {"prompt_tokens": 1234, "completion_tokens": 56, "total_tokens": 1290,
                      "prompt_tokens_details": {"cached_tokens": 1024}}
    base = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o"}
    fake.reply(Reply(headers={"content-type": "text/event-stream"}, stream=sse(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": provider_usage})))
    chunks = list(litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY,
                                     stream=True, stream_options={"include_usage": True}))
    rebuilt = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    assert rebuilt.choices[0].message.content == "Hi"
    assert (rebuilt.usage.prompt_tokens, rebuilt.usage.completion_tokens, rebuilt.usage.total_tokens) == (1234, 56, 1290)
    assert rebuilt.usage.prompt_tokens_details.cached_tokens == 1024


def test_stream_chunk_builder_merges_usage_spread_over_chunks():
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "claude-3-5-sonnet-20240620"}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}],
         "usage": {"prompt_tokens": 40, "completion_tokens": 0, "total_tokens": 40}},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 0, "completion_tokens": 7, "total_tokens": 7}},
    ]
    usage = litellm.stream_chunk_builder(chunks).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (40, 7, 47)


def _png(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", width, height)
    return "data:image/png;base64," + base64.b64encode(header + b"\x08\x02\x00\x00\x00\x00\x00\x00\x00").decode()


def _with_image(url: str, detail: str | None = None):
    image = {"url": url} if detail is None else {"url": url, "detail": detail}
    return [{"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                         {"type": "image_url", "image_url": image}]}]


@pytest.mark.parametrize("width,height,detail,image_tokens", [
    (4096, 4096, "low", 85),  # low detail: flat
    (1024, 1024, "high", 765),  # OpenAI's example: 768x768, 4 tiles
    (2048, 4096, "high", 1105),  # OpenAI's example: 1024x2048 -> 768x1536, 6 tiles
    (512, 512, None, 255),  # auto; small images are not enlarged: 1 tile
])
def test_token_counter_counts_images_by_openais_tile_rule(width, height, detail, image_tokens):
    text_only = litellm.token_counter(model="gpt-4o", messages=[{"role": "user", "content": "What is in this image?"}])
    assert litellm.token_counter(model="gpt-4o", messages=_with_image(_png(width, height), detail)) == \
        text_only + image_tokens


def test_token_counter_counts_jpeg_and_unknown_url_images():
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000") + \
        bytes.fromhex("ffc0001108") + struct.pack(">HH", 600, 800) + b"\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    url = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
    text_only = litellm.token_counter(model="gpt-4o", messages=[{"role": "user", "content": "What is in this image?"}])
    # 800x600: shortest side already under 768, 2x2 tiles
    assert litellm.token_counter(model="gpt-4o", messages=_with_image(url)) == text_only + 85 + 4 * 170
    # a URL is never fetched: counted as a 1024x1024 image
    assert litellm.token_counter(model="gpt-4o", messages=_with_image("https://example.com/cat.png")) == \
        text_only + 765


def test_token_counter_counts_tools_and_tool_choice():
    tool = {"type": "function", "function": {"name": "get_current_weather", "description": "Get the weather",
                                             "parameters": {"type": "object", "properties": {
                                                 "location": {"type": "string", "description": "The city"}}}}}
    plain = litellm.token_counter(model="gpt-4o", messages=MESSAGES)
    with_tools = litellm.token_counter(model="gpt-4o", messages=MESSAGES, tools=[tool])
    assert with_tools > plain
    assert litellm.token_counter(model="gpt-4o", messages=MESSAGES, tools=[tool], tool_choice="auto") == with_tools
    assert litellm.token_counter(model="gpt-4o", messages=MESSAGES, tools=[tool], tool_choice="none") == \
        with_tools + 1
    named = {"type": "function", "function": {"name": "get_current_weather"}}
    name_tokens = litellm.token_counter(model="gpt-4o", text="get_current_weather")
    assert litellm.token_counter(model="gpt-4o", messages=MESSAGES, tools=[tool], tool_choice=named) == \
        with_tools + name_tokens + 4


def test_token_counter_uses_o200k_for_fine_tuned_gpt_4o():
    text = "Fine-tuned models count with their base model's tokenizer: 日本語のテキスト"
    assert litellm.token_counter(model="ft:gpt-4o-mini-2024-07-18:my-org::abc123", text=text) == \
        litellm.token_counter(model="gpt-4o-mini", text=text) != litellm.token_counter(model="gpt-4", text=text)
