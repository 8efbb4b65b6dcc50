import pickle

import openai
import pytest

from polyrelay import errors
from polyrelay.redact import scrub


def test_every_class_is_an_openai_class_and_carries_fields():
    exc = errors.error_for_status(429, "slow down", llm_provider="groq", model="llama", headers={"retry-after": "2"})
    assert isinstance(exc, errors.RateLimitError) and isinstance(exc, openai.RateLimitError)
    assert (exc.status_code, exc.llm_provider, exc.model, exc.message) == (429, "groq", "llama", "slow down")
    assert errors.retry_after_seconds(exc) == 2.0
    assert exc.to_openai_body()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(("status", "retry"), [(400, False), (401, False), (403, False), (404, False), (408, True),
                                               (409, True), (422, False), (429, True), (500, True), (502, True),
                                               (503, True), (529, True)])
def test_should_retry(status, retry):
    assert errors.should_retry(errors.error_for_status(status, "x")) is retry


def test_unmapped_statuses_keep_their_code():
    assert type(errors.error_for_status(502, "x")) is errors.InternalServerError
    assert errors.error_for_status(502, "x").status_code == 502
    assert type(errors.error_for_status(409, "x")) is errors.APIError
    assert isinstance(errors.error_for_status(529, "x"), errors.ServiceUnavailableError)


def test_exceptions_pickle():
    exc = errors.ContextWindowExceededError("too long", llm_provider="openai", model="gpt-4o")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is errors.ContextWindowExceededError and back.message == "too long" and back.model == "gpt-4o"


def test_scrub_masks_known_and_key_shaped_secrets():
    assert "supersecretvalue" not in scrub("bad key supersecretvalue", ("supersecretvalue",))
    text = scrub("Incorrect API key provided: sk-proj-abcdefghijklmnop; Authorization: Bearer abcdefghijkl; "
                 "url?key=AIzaSyA1234567890abcdefghijk")
    assert "abcdefghijklmnop" not in text and "Bearer abcdefghijkl" not in text and "AIzaSyA1234567890" not in text
    assert "mnop" in text  # the last four stay, so a user can tell which key it was


def test_messages_are_scrubbed_on_construction():
    exc = errors.AuthenticationError("key my-private-token-xyz refused", secrets=("my-private-token-xyz",))
    assert "my-private-token-xyz" not in str(exc)
