"""Module-level settings, set the way LiteLLM users set them (``litellm.x = ...``)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys

import pytest

import polyrelay as litellm
from fakeserver import Reply

MESSAGES = [{"role": "user", "content": "Hello!"}]
OK = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
      "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hi"}}],
      "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}}
RATE_LIMITED = Reply(status=429, json={"error": {"message": "slow down", "type": "rate_limit_error"}},
                     headers={"retry-after": "0"})


def test_api_key_and_api_base(fake, module_settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment-0000")
    litellm.api_key = "sk-module-level-key-1234"
    litellm.api_base = fake.url
    fake.reply(Reply(json=OK))
    litellm.completion(model="gpt-4o", messages=MESSAGES)
    assert fake.requests[0].headers["authorization"] == "Bearer sk-module-level-key-1234"


def test_per_call_arguments_win_over_module_settings(fake, module_settings):
    litellm.api_key = "sk-module-level-key-1234"
    litellm.api_base = "http://127.0.0.1:9/never"
    fake.reply(Reply(json=OK))
    litellm.completion(model="gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-per-call-key-5678")
    assert fake.requests[0].headers["authorization"] == "Bearer sk-per-call-key-5678"


def test_num_retries(fake, module_settings):
    litellm.num_retries = 2
    fake.reply(RATE_LIMITED, RATE_LIMITED, Reply(json=OK))
    response = litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-test-1234")
    assert response.choices[0].message.content == "Hi"
    assert len(fake.requests) == 3


def test_request_timeout(fake, module_settings):
    litellm.request_timeout = 0.2
    fake.reply(Reply(json=OK, delay=2))
    with pytest.raises(litellm.Timeout):
        litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-test-1234")


def test_drop_params(fake, module_settings):
    with pytest.raises(litellm.UnsupportedParamsError):
        litellm.completion(model="anthropic/claude-3-5-sonnet-20241022", messages=MESSAGES, logit_bias={"1": 1},
                           mock_response="x")
    litellm.drop_params = True
    response = litellm.completion(model="anthropic/claude-3-5-sonnet-20241022", messages=MESSAGES,
                                  logit_bias={"1": 1}, mock_response="dropped")
    assert response.choices[0].message.content == "dropped"


def test_set_verbose_prints_each_call_without_the_key(fake, module_settings, capsys):
    logging.getLogger("polyrelay.verbose").handlers.clear()  # as in a fresh process
    litellm.set_verbose = True
    fake.reply(Reply(json=OK))
    litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url,
                       api_key="sk-secret-key-abcdef123456")
    err = capsys.readouterr().err
    assert "POST " + fake.url + "/chat/completions" in err
    assert "Hello!" in err and "answered in" in err
    assert "sk-secret-key-abcdef123456" not in err


def test_verbose_off_prints_nothing(fake, module_settings, capsys):
    logging.getLogger("polyrelay.verbose").handlers.clear()
    fake.reply(Reply(json=OK))
    litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-test-1234")
    assert capsys.readouterr().err == ""


def test_verbose_lines_follow_stderr_when_it_is_replaced_later(fake, module_settings):
    logging.getLogger("polyrelay.verbose").handlers.clear()
    litellm.set_verbose = True
    first, later = io.StringIO(), io.StringIO()
    for stream in (first, later):  # the handler is made during the first call
        fake.reply(Reply(json=OK))
        with contextlib.redirect_stderr(stream):
            litellm.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key="sk-test-1234")
    assert "POST " + fake.url + "/chat/completions" in first.getvalue()
    assert "POST " + fake.url + "/chat/completions" in later.getvalue()


@pytest.mark.parametrize("env, printed", [({"LITELLM_LOG": "DEBUG"}, True), ({"POLYRELAY_LOG": "debug"}, True),
                                          ({"POLYRELAY_LOG": "INFO", "LITELLM_LOG": "DEBUG"}, False),
                                          ({"LITELLM_LOG": "WARNING"}, False)])
def test_debug_from_the_environment_is_read_as_the_log_level_is(env, printed):
    # The first of POLYRELAY_LOG / LITELLM_LOG set is the level (observe/diagnostics.py);
    # verbose printing follows it rather than reading DEBUG in either.
    code = ("import polyrelay as litellm\n"
            "litellm.completion(model='mock/gpt-4o', messages=[{'role': 'user', 'content': 'hi'}])\n")
    clean = {k: v for k, v in os.environ.items() if k not in ("POLYRELAY_LOG", "LITELLM_LOG")}
    result = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert ("polyrelay: " in result.stderr) is printed
