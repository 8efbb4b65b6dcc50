"""Cache(type="s3") against a real S3 implementation (moto's server, which
checks our SigV4 signatures): entries shared by every Cache on the bucket,
expiry kept in the object's metadata, a bucket that refuses is bypassed."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

import polyrelay
from fakeserver import Reply
from polyrelay.caching import Cache

KEY = "sk-test-secret-0000"
ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"},
                       "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


@pytest.fixture(autouse=True)
def no_cache_left():
    yield
    polyrelay.cache = None


def chat(fake, text="hi", **kwargs):
    return polyrelay.completion(model="openai/gpt-4o-mini", messages=[{"role": "user", "content": text}],
                                api_base=fake.url, api_key=KEY, **kwargs)


def s3_cache(server, prefix, **more):
    # default_in_memory_ttl tiny: every read goes to the bucket, not this process's front copy
    return Cache(type="s3", default_in_memory_ttl=0.001, **server.params(s3_path=prefix, **more))


def test_entries_live_in_the_bucket_and_serve_every_cache_on_it(fake, s3_server):
    fake.default = Reply(json=ANSWER)
    prefix = f"cache-{uuid.uuid4().hex[:8]}"
    polyrelay.cache = s3_cache(s3_server, prefix, ttl=600)
    first = chat(fake)
    polyrelay.cache = s3_cache(s3_server, prefix)  # another instance, same bucket and prefix
    second = chat(fake)
    assert len(fake.requests) == 1
    assert first._hidden_params["cache_hit"] is False and second._hidden_params["cache_hit"] is True
    assert second.choices[0].message.content == "hello there" and second._hidden_params["response_cost"] == 0.0
    key = first._hidden_params["cache_key"]
    stored = s3_server.client().head_object(Bucket=s3_server.bucket, Key=f"{prefix}/{key}")
    assert float(stored["Metadata"]["polyrelay-expires"]) > time.time() + 500  # the ttl, kept with the object
    assert asyncio.run(polyrelay.cache.delete([key])) == 1
    assert chat(fake)._hidden_params["cache_hit"] is False and len(fake.requests) == 2


def test_an_expired_entry_is_a_miss_and_is_removed(fake, s3_server):
    fake.default = Reply(json=ANSWER)
    prefix = f"ttl-{uuid.uuid4().hex[:8]}"
    cache = polyrelay.cache = s3_cache(s3_server, prefix)
    key = chat(fake, "expiring")._hidden_params["cache_key"]
    raw = s3_server.objects(prefix + "/")[f"{prefix}/{key}"]

    async def expire_then_read():
        await cache.backend.set(key, raw, 0.001)
        await asyncio.sleep(0.01)
        found = await cache.backend.get(key)
        await asyncio.gather(*cache.backend._reaping)
        return found

    assert asyncio.run(expire_then_read()) is None
    assert f"{prefix}/{key}" not in s3_server.objects(prefix + "/")


def test_a_bucket_that_refuses_is_bypassed(fake, s3_server):
    fake.default = Reply(json=ANSWER)
    cache = polyrelay.cache = s3_cache(s3_server, "denied", s3_aws_secret_access_key="wrong-secret")
    assert chat(fake).choices[0].message.content == "hello there"
    assert chat(fake)._hidden_params["cache_hit"] is False
    assert len(fake.requests) == 2 and cache.counters["errors"] >= 2
    with pytest.raises(Exception, match="403"):
        asyncio.run(cache.ping())
