"""LiteLLM's documented examples (../shared/seeds/), run unchanged but for
``import polyrelay as litellm`` and the environment pointing at a fake
OpenAI/DeepSeek server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest

from fakeserver import Reply

CHAT = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-3.5-turbo-0125",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "I'm well, thanks!"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 13, "completion_tokens": 6, "total_tokens": 19}}


def stream_pieces(text_pieces, usage):
    out = []
    for i, piece in enumerate(text_pieces):
        delta = {"role": "assistant", "content": piece} if i == 0 else {"content": piece}
        out.append({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    out.append({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o", "choices": [],
                "usage": usage})
    return [f"data: {json.dumps(o)}\n\n".encode() for o in out] + [b"data: [DONE]\n\n"]


@pytest.fixture
def openai_env(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_BASE", fake.url)
    return fake


def test_usage_quick_start(openai_env, capsys):
    openai_env.reply(Reply(json=CHAT))
    # usage.md, "Quick Start"
    from polyrelay import completion
    import os

    os.environ["OPENAI_API_KEY"] = "your-api-key"
    response = completion(model="gpt-3.5-turbo", messages=[{"content": "Hello, how are you?", "role": "user"}])
    print(response.usage)
    assert "total_tokens=19" in capsys.readouterr().out
    assert openai_env.requests[0].headers["authorization"] == "Bearer your-api-key"


def test_streaming_usage(openai_env, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-000000")
    openai_env.reply(Reply(stream=stream_pieces(["Hi", " there"], {"prompt_tokens": 20, "completion_tokens": 2,
                                                                      "total_tokens": 22})))
    # usage.md, "Streaming Usage"
    from polyrelay import completion

    completion = completion(
        model="gpt-4o",
        messages=[{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Hello!"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = []
    for chunk in completion:
        chunks.append(chunk)
        print(chunk.choices[0].delta if chunk.choices else chunk.usage)
    out = capsys.readouterr().out
    assert "content='Hi'" in out and "total_tokens=22" in out
    assert chunks[-1].choices == [] and all(c.usage is None for c in chunks[:-1])


def test_streaming_dict_access_and_async_completion(openai_env, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-000000")
    openai_env.reply(Reply(stream=stream_pieces(["a", "b"], {"prompt_tokens": 1, "completion_tokens": 2,
                                                             "total_tokens": 3})), Reply(json=CHAT))
    # streaming-and-async.md, "Streaming Responses"
    import polyrelay as litellm

    messages = [{"content": "Hello, how are you?", "role": "user"}]
    response = litellm.completion(model="gpt-3.5-turbo", messages=messages, stream=True)
    for chunk in response:
        print(chunk["choices"][0]["delta"])

    # streaming-and-async.md, "Async Completion"
    from polyrelay import acompletion

    async def test_get_response():
        user_message = "Hello, how are you?"
        messages = [{"content": user_message, "role": "user"}]
        response = await acompletion(model="gpt-3.5-turbo", messages=messages)
        return response

    response = asyncio.run(test_get_response())
    print(response)
    out = capsys.readouterr().out
    assert "content='a'" in out and "I'm well, thanks!" in out


def test_text_completion_example(openai_env, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-000000")
    openai_env.reply(Reply(json={"id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", "object": "text_completion", "created": 1589478378,
                                 "model": "gpt-3.5-turbo-instruct", "system_fingerprint": "fp_44709d6fcb",
                                 "choices": [{"text": "\n\nThis is indeed a test", "index": 0, "logprobs": None,
                                              "finish_reason": "length"}],
                                 "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}))
    # text-completion.txt, "LiteLLM Python SDK"
    from polyrelay import text_completion

    response = text_completion(model="gpt-3.5-turbo-instruct", prompt="Say this is a test", max_tokens=7)
    assert openai_env.requests[0].path == "/completions"
    assert openai_env.requests[0].json == {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test",
                                           "max_tokens": 7}
    assert response.object == "text_completion" and response.choices[0].text == "\n\nThis is indeed a test"
    assert response.usage.total_tokens == 12 and response.choices[0].finish_reason == "length"


def test_deepseek_prompt_caching_example(fake, monkeypatch, capsys):
    monkeypatch.setenv("DEEPSEEK_API_BASE", fake.url)
    first = {"prompt_tokens": 120, "completion_tokens": 8, "total_tokens": 128,
             "prompt_cache_hit_tokens": 0, "prompt_cache_miss_tokens": 120}
    second = {"prompt_tokens": 110, "completion_tokens": 7, "total_tokens": 117,
              "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 46}
    for usage in (first, second):
        fake.reply(Reply(json={**CHAT, "model": "deepseek-chat", "usage": usage}))
    # usage-prompt-caching.txt, "Deepeek Example" (messages shortened)
    import polyrelay as litellm
    import os

    os.environ["DEEPSEEK_API_KEY"] = "sk-deepseek-test-0000"
    litellm.set_verbose = True
    model_name = "deepseek/deepseek-chat"
    messages_1 = [{"role": "system", "content": "You are a history expert."},
                  {"role": "user", "content": "Who was the founding emperor of the Qing Dynasty?"}]
    message_2 = [{"role": "system", "content": "You are a history expert."},
                 {"role": "user", "content": "When did the Shang Dynasty fall?"}]
    response_1 = litellm.completion(model=model_name, messages=messages_1)
    response_2 = litellm.completion(model=model_name, messages=message_2)
    print(response_2.usage)
    assert fake.requests[0].path == "/chat/completions"
    assert response_1.usage.prompt_tokens_details.cached_tokens == 0
    assert response_2.usage.prompt_tokens_details.cached_tokens == 64
    assert response_2.usage.prompt_cache_hit_tokens == 64 and response_2.usage.prompt_cache_miss_tokens == 46
    assert "prompt_cache_hit_tokens=64" in capsys.readouterr().out
