"""``polyrelay_wire=True``: the answer as the OpenAI wire dict, equal to
what the response model would dump (the gateway's fast path)."""

from __future__ import annotations

import asyncio

import polyrelay
from polyrelay.types import WireResponse


def test_wire_answer_equals_the_dumped_model():
    messages = [{"role": "user", "content": "hello there"}]
    model = polyrelay.completion("mock/demo", messages, mock_response="hi")
    wire = asyncio.run(polyrelay.acompletion("mock/demo", messages, mock_response="hi", polyrelay_wire=True))
    assert isinstance(wire, WireResponse) and wire._hidden_params["custom_llm_provider"] == "mock"
    dumped = model.model_dump()
    for volatile in ("id", "created"):
        dumped.pop(volatile), wire.pop(volatile)
    # The models add None for every optional field; the wire dict keeps the ones OpenAI sends.
    assert wire["choices"][0]["logprobs"] is None and wire["system_fingerprint"] is None
    message = dumped["choices"][0]["message"]
    assert {k: v for k, v in message.items() if v is not None} == wire["choices"][0]["message"]
    assert wire["usage"] == {k: v for k, v in dumped["usage"].items() if v is not None}
    assert "polyrelay_wire" not in str(wire)
