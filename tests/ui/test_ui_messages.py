"""general_settings.store_prompts_in_spend_logs: a request's messages and
its answer kept on the spend record and shown on the request's page;
never with turn_off_message_logging, and not by default."""

from __future__ import annotations

import openai
import pytest

from uihelp import MASTER, sign_in, start_gateway, wait_for_logs

SECRETISH = "<b>bold</b> & my question"


def one_call(gw) -> dict:
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key=MASTER, max_retries=0)
    client.chat.completions.create(model="cheap", messages=[{"role": "system", "content": "Be brief."},
                                                            {"role": "user", "content": SECRETISH}],
                                   extra_body={"mock_response": "The <i>answer</i>.", "cache": {"no-cache": True}})
    return wait_for_logs(gw, 1)[0]


@pytest.mark.parametrize("settings,kept", [
    ("  store_prompts_in_spend_logs: true", True),
    ("", False),
])
def test_messages_kept_only_when_asked(settings, kept):
    gw = start_gateway(general=settings)
    try:
        record = one_call(gw)
        client = sign_in(gw)
        page = client.get(f"/ui/logs/{record['request_id']}").text
        if kept:
            assert record["messages"] == [{"role": "system", "content": "Be brief."},
                                          {"role": "user", "content": SECRETISH}]
            assert record["response"][0]["message"]["content"] == "The <i>answer</i>."
            assert "&lt;b&gt;bold&lt;/b&gt; &amp; my question" in page and "The &lt;i&gt;answer&lt;/i&gt;." in page
        else:
            assert record.get("messages") is None and record.get("response") is None
            assert "store_prompts_in_spend_logs: true" in page and "my question" not in page
    finally:
        gw.stop()


def test_turn_off_message_logging_wins():
    gw = start_gateway(general="  store_prompts_in_spend_logs: true", litellm="  turn_off_message_logging: true")
    try:
        record = one_call(gw)
        assert record.get("messages") is None and record.get("response") is None
        page = sign_in(gw).get(f"/ui/logs/{record['request_id']}").text
        assert "my question" not in page and "answer</i>" not in page
    finally:
        gw.stop()
