import pickle

import httpx
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


# ---------------------------------------------------------------- LiteLLM's constructors
@pytest.mark.parametrize(("cls", "args", "status"), [
    (errors.AuthenticationError, ("bad key", "openai", "gpt-4o"), 401),
    (errors.PermissionDeniedError, ("no", "openai", "gpt-4o"), 403),
    (errors.RateLimitError, ("slow down", "openai", "gpt-4o"), 429),
    (errors.InternalServerError, ("boom", "openai", "gpt-4o"), 500),
    (errors.ServiceUnavailableError, ("down", "openai", "gpt-4o"), 503),
    (errors.APIConnectionError, ("no route", "openai", "gpt-4o"), 500),
    (errors.UnsupportedParamsError, ("no such param", "openai", "gpt-4o"), 400),
    # These take the model before the provider, as LiteLLM's do.
    (errors.NotFoundError, ("no model", "gpt-4o", "openai"), 404),
    (errors.BadRequestError, ("bad", "gpt-4o", "openai"), 400),
    (errors.ContextWindowExceededError, ("too long", "gpt-4o", "openai"), 400),
    (errors.ContentPolicyViolationError, ("refused", "gpt-4o", "openai"), 400),
    (errors.UnprocessableEntityError, ("unprocessable", "gpt-4o", "openai"), 422),
    (errors.Timeout, ("too slow", "gpt-4o", "openai"), 408),
])
def test_litellm_positional_constructors(cls, args, status):
    exc = cls(*args)
    assert (exc.llm_provider, exc.model, exc.status_code) == ("openai", "gpt-4o", status)
    assert exc.message == args[0] and exc.litellm_debug_info is None and exc.num_retries is None
    assert exc.response.status_code == status and exc.code == str(status)


def test_litellm_keyword_constructor_with_a_real_response():
    reply = httpx.Response(429, headers={"retry-after": "3"},
                           request=httpx.Request("POST", "https://api.openai.com/v1/chat/completions"))
    exc = errors.RateLimitError(message="Rate limit reached", llm_provider="openai", model="gpt-4o",
                                response=reply, litellm_debug_info="attempt 2", max_retries=3, num_retries=2)
    assert isinstance(exc, openai.RateLimitError) and isinstance(exc, openai.APIStatusError)
    assert exc.response is reply and exc.request.url.host == "polyrelay.invalid"
    assert (exc.litellm_debug_info, exc.max_retries, exc.num_retries) == ("attempt 2", 3, 2)
    assert errors.should_retry(exc)
    back = pickle.loads(pickle.dumps(exc))
    assert back.litellm_debug_info == "attempt 2" and back.response.status_code == 429


def test_api_error_takes_the_status_first():
    exc = errors.APIError(502, "bad gateway", "openai", "gpt-4o")
    assert (exc.status_code, exc.message, exc.llm_provider, exc.model) == (502, "bad gateway", "openai", "gpt-4o")
    exc = errors.APIError(status_code=409, message="conflict", llm_provider="azure", model="gpt-4o")
    assert (exc.status_code, exc.message) == (409, "conflict")
    assert errors.APIError("plain", llm_provider="x").status_code == 500


def test_code_comes_from_the_argument_then_the_body_then_the_status():
    assert errors.BadRequestError("x", code="invalid_value").code == "invalid_value"
    body = {"error": {"message": "x", "type": "invalid_request_error", "code": "context_length_exceeded"}}
    assert errors.BadRequestError("x", body=body).code == "context_length_exceeded"
    assert errors.RateLimitError("x").code == "429"


def test_litellm_extras_are_kept_and_positional_misuse_is_refused():
    exc = errors.ContentPolicyViolationError(message="refused", model="m", llm_provider="azure",
                                             provider_specific_fields={"innererror": {"code": "ResponsibleAIPolicy"}})
    assert exc.provider_specific_fields["innererror"]["code"] == "ResponsibleAIPolicy"
    with pytest.raises(TypeError):
        errors.RateLimitError("x", "openai", llm_provider="openai")
    with pytest.raises(TypeError):
        errors.RateLimitError("x", "a", "b", None, None, None, None, "one too many")


def test_a_mocked_litellm_error_drives_user_retry_code():
    # The pattern users' test suites use: raise LiteLLM's error from a mock.
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) < 2:
            raise errors.RateLimitError("rate limited", llm_provider="openai", model=kwargs["model"])
        return "ok"

    def with_retry(**kwargs):
        for _ in range(3):
            try:
                return flaky(**kwargs)
            except openai.RateLimitError as exc:
                assert exc.status_code == 429 and exc.response.status_code == 429
        raise AssertionError("never succeeded")

    assert with_retry(model="gpt-4o") == "ok" and len(calls) == 2


def test_exceptions_module_has_litellms_names():
    from polyrelay import exceptions

    assert exceptions.RateLimitError is errors.RateLimitError
    assert issubclass(errors.BadGatewayError, openai.APIStatusError) and errors.BadGatewayError("x").status_code == 502
    assert all(isinstance(cls("x"), exceptions.OpenAIError) for cls in exceptions.LITELLM_EXCEPTION_TYPES)
