"""The ``s3`` logging callback against a real S3 implementation (moto's
server, which checks our SigV4 signatures): one JSON object per call, the
standard logging payload, named as LiteLLM names them, read back with boto3."""

from __future__ import annotations

import datetime
import json
import uuid
from pathlib import Path

import pytest

import polyrelay
from fakeserver import Reply
from polyrelay.observe import DISPATCHER

FIXTURES = Path(__file__).parent.parent / "providers" / "fixtures" / "openai"
MESSAGES = [{"role": "user", "content": "Tell me a secret recipe"}]
KEY = "sk-test-abcdefghijklmnop1234"


@pytest.fixture(autouse=True)
def clean_s3_params():
    yield
    polyrelay.s3_callback_params = None


def chat(fake, **kwargs):
    return polyrelay.completion(model="openai/gpt-4o", messages=MESSAGES, api_base=fake.url, api_key=KEY, **kwargs)


def answer_json():
    return json.loads((FIXTURES / "chat_completion.json").read_text())


def test_each_call_is_one_json_object_in_the_bucket(fake, s3_server, monkeypatch):
    prefix = f"logs-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("TEST_S3_SECRET", s3_server.secret_key)
    polyrelay.s3_callback_params = s3_server.params(s3_path=prefix + "/",
                                                    s3_aws_secret_access_key="os.environ/TEST_S3_SECRET")
    polyrelay.success_callback = ["s3"]
    polyrelay.failure_callback = ["s3"]
    fake.default = Reply(json=answer_json())
    chat(fake, metadata={"tags": ["kitchen"]})
    chat(fake)
    fake.default = Reply(500, json={"error": {"message": "boom", "type": "server_error"}})
    with pytest.raises(polyrelay.InternalServerError):
        chat(fake, num_retries=0)
    assert DISPATCHER.flush(20)
    objects = s3_server.objects(prefix + "/")
    assert len(objects) == 3
    logged = {key: json.loads(body) for key, body in objects.items()}
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    for key, std in logged.items():
        assert key.startswith(f"{prefix}/{today}/time-") and key.endswith(f"_{std['id']}.json")
    by_status = sorted(logged.values(), key=lambda s: s["status"])
    assert [s["status"] for s in by_status] == ["failure", "success", "success"]
    ok = next(s for s in by_status if s["request_tags"] == ["kitchen"])
    assert ok["messages"] == MESSAGES and ok["total_tokens"] == 29 and ok["response_cost"] > 0
    assert ok["response"]["choices"][0]["message"]["content"] == answer_json()["choices"][0]["message"]["content"]
    assert "boom" in by_status[0]["error_str"]
    assert DISPATCHER.dropped["s3"] == 0


def test_message_logging_off_keeps_text_out_of_the_bucket(fake, s3_server):
    prefix = f"quiet-{uuid.uuid4().hex[:8]}"
    polyrelay.s3_callback_params = s3_server.params(s3_path=prefix)
    polyrelay.success_callback = ["s3_v2"]  # LiteLLM's newer name for the same logger
    polyrelay.turn_off_message_logging = True
    fake.default = Reply(json=answer_json())
    chat(fake)
    assert DISPATCHER.flush(20)
    (body,) = s3_server.objects(prefix + "/").values()
    assert b"secret recipe" not in body and answer_json()["choices"][0]["message"]["content"].encode() not in body
    std = json.loads(body)
    assert std["messages"] == "redacted-by-polyrelay" and std["total_tokens"] == 29


def test_a_bucket_that_refuses_changes_nothing_for_callers(fake, s3_server, monkeypatch):
    from polyrelay.observe.sinks.s3 import S3Sink

    monkeypatch.setattr(S3Sink, "retries", 1)
    polyrelay.s3_callback_params = s3_server.params(s3_aws_secret_access_key="not-the-secret")  # 403 on each PUT
    polyrelay.success_callback = ["s3"]
    fake.default = Reply(json=answer_json())
    dropped = DISPATCHER.dropped["s3"]
    answers = [chat(fake) for _ in range(2)]
    assert all(a.choices[0].message.content for a in answers)
    assert DISPATCHER.flush(20)
    assert DISPATCHER.dropped["s3"] - dropped == 2  # counted, never raised


@pytest.mark.parametrize("params, message", [
    (None, "s3_callback_params"),
    ({"s3_region_name": "us-east-1"}, "needs s3_bucket_name"),
    ({"s3_bucket_name": "b", "s3_aws_role_name": "r"}, "s3_aws_role_name not supported"),
    ({"s3_bucket_name": "b", "s3_aws_access_key_id": "AKIA"}, "give both"),
    ({"s3_bucket_name": "b", "s3_aws_secret_access_key": "os.environ/NOT_SET_ANYWHERE_42"}, "NOT_SET_ANYWHERE_42"),
    ({"s3_bucket_name": "b", "s3_batch_size": 0}, "s3_batch_size must be a number above 0"),
])
def test_bad_settings_are_refused_by_name(fake, params, message):
    polyrelay.s3_callback_params = params
    polyrelay.success_callback = ["s3"]
    fake.default = Reply(json=answer_json())
    with pytest.raises(ValueError, match=message):
        chat(fake)
