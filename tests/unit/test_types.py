import polyrelay
from polyrelay.types import ModelResponse


def make():
    return ModelResponse.from_dict({
        "id": "x", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3, "vendor_field": 5},
    })


def test_reads_as_attributes_and_dict():
    r = make()
    assert r.usage.total_tokens == r["usage"]["total_tokens"] == 3
    assert r["choices"][0]["message"]["content"] == "hi"
    assert r.get("system_fingerprint", "none") == "none"
    assert "usage" in r and "system_fingerprint" not in r
    assert r.usage.vendor_field == 5 and r.usage["vendor_field"] == 5


def test_json_is_a_dict_like_litellm_and_model_dump_round_trips():
    r = make()
    assert r.json() == r.model_dump()
    assert r.json()["object"] == "chat.completion"
    assert ModelResponse.from_dict(r.model_dump()) == r


def test_hidden_params_do_not_leak_into_the_body():
    r = make()
    r._hidden_params = {"response_cost": 1.0, "api_base": "http://x"}
    assert "_hidden_params" not in r.model_dump() and "response_cost" not in str(r.model_dump_json())


def test_public_api_is_exactly_all():
    import types

    # Names are bound on first use (PEP 562); dir() lists them all the same.
    public = {name for name in dir(polyrelay)
              if not name.startswith("_") and not isinstance(getattr(polyrelay, name), types.ModuleType)}
    settings = {"api_base", "api_key", "drop_params", "num_retries", "request_timeout", "set_verbose"}
    assert public - settings == set(polyrelay.__all__)
