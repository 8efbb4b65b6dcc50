"""Guardrails are the gateway's: an SDK call that asks for some is refused by name, not sent on unapplied."""

from __future__ import annotations

import pytest

import polyrelay


def test_sdk_call_with_guardrails_is_refused():
    with pytest.raises(polyrelay.BadRequestError) as caught:
        polyrelay.completion(model="mock/m", messages=[{"role": "user", "content": "hi"}], guardrails=["no-pii"],
                             mock_response="hello")
    assert "guardrails run on the gateway" in caught.value.message
    # An empty list asks for nothing.
    assert polyrelay.completion(model="mock/m", messages=[{"role": "user", "content": "hi"}], guardrails=[],
                                mock_response="hello").choices[0].message.content == "hello"
