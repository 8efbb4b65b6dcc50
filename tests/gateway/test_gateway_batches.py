"""Files and batches through a real gateway process with the openai SDK:
ids bound to the key that made them, and the batch's cost recorded against
the key when the poller sees it complete, at the batch discount."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

import polyrelay
from fakeserver import FakeServer, Reply
from gateway_process import GatewayProcess

MASTER = "sk-master-batches-1234"
ADMIN = {"Authorization": f"Bearer {MASTER}"}
CONFIG = """
model_list:
  - model_name: gpt-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: %(base)s/v1, api_key: sk-upstream}
  - model_name: local
    litellm_params: {model: mock/local}
general_settings:
  master_key: %(master)s
"""
INPUT = b'{"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}\n'
OUTPUT = "\n".join(json.dumps({"id": f"batch_req_{i}", "custom_id": str(i), "error": None, "response": {
    "status_code": 200, "request_id": f"r{i}", "body": {"model": "gpt-4o-mini-2024-07-18", "object": "chat.completion",
                                                         "usage": {"prompt_tokens": 1000, "completion_tokens": 500,
                                                                   "total_tokens": 1500}}}}) for i in range(2))


def batch(status: str, **extra) -> dict:
    return {"id": "batch_up1", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-up1",
            "completion_window": "24h", "status": status, "created_at": 1700000000, **extra}


FILE = {"id": "file-up1", "object": "file", "bytes": len(INPUT), "created_at": 1700000000, "filename": "in.jsonl",
        "purpose": "batch", "status": "processed"}


@pytest.fixture(scope="module")
def upstream():
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(upstream):
    process = GatewayProcess(CONFIG % {"base": upstream.url, "master": MASTER},
                             env={"POLYRELAY_BATCH_POLL_SECONDS": "0.3"}).start()
    yield process
    process.stop()


def new_key(gw, **fields) -> str:
    return httpx.post(gw.url + "/key/generate", json=fields, headers=ADMIN, timeout=10).json()["key"]


def test_a_batch_from_upload_to_recorded_cost(gateway, upstream):
    key = new_key(gateway, models=["gpt-mini"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    upstream.reply(Reply(json=FILE))
    uploaded = client.files.create(file=("in.jsonl", INPUT), purpose="batch")
    sent = upstream.requests[-1]
    assert sent.path == "/v1/files" and sent.headers["authorization"] == "Bearer sk-upstream"
    assert INPUT in sent.body and b'name="purpose"\r\n\r\nbatch' in sent.body
    assert uploaded.id.startswith("file-up1.") and uploaded.filename == "in.jsonl"

    upstream.reply(Reply(json=FILE))
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert upstream.requests[-1].path == "/v1/files/file-up1"
    stranger = openai.OpenAI(base_url=gateway.url + "/v1", api_key=new_key(gateway), max_retries=0)
    with pytest.raises(openai.NotFoundError):
        stranger.files.retrieve(uploaded.id)  # another key's file does not exist for it

    upstream.reply(Reply(json=batch("validating")),
                   Reply(json=batch("completed", output_file_id="file-out1")),
                   Reply(body=OUTPUT.encode(), headers={"Content-Type": "application/octet-stream"}))
    created = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                     completion_window="24h")
    assert upstream.requests[-1].json == {"input_file_id": "file-up1", "endpoint": "/v1/chat/completions",
                                          "completion_window": "24h"}
    assert created.input_file_id == uploaded.id and created.id.startswith("batch_up1.")

    deadline = time.monotonic() + 15
    rows = []
    while time.monotonic() < deadline and not rows:
        rows = httpx.get(gateway.url + "/spend/logs", params={"request_id": created.id}, headers=ADMIN).json()
        time.sleep(0.2)
    assert rows, "the completed batch was never recorded"
    full = sum(polyrelay.cost_per_token(model="gpt-4o-mini", prompt_tokens=2000, completion_tokens=1000))
    assert rows[0]["call_type"] == "batch" and rows[0]["spend"] == pytest.approx(full / 2)
    assert rows[0]["prompt_tokens"] == 2000 and rows[0]["model_group"] == "gpt-mini"
    paths = [r.path for r in upstream.requests[-2:]]
    assert paths == ["/v1/batches/batch_up1", "/v1/files/file-out1/content"]

    # Reading it again shows the provider's answer with our ids, and records nothing twice.
    upstream.reply(Reply(json=batch("completed", output_file_id="file-out1")))
    again = client.batches.retrieve(created.id)
    assert again.status == "completed" and again.output_file_id.startswith("file-out1.")
    time.sleep(0.5)
    info = httpx.get(gateway.url + "/key/info", params={"key": key}, headers=ADMIN).json()["info"]
    assert info["spend"] == pytest.approx(full / 2)


def test_a_key_without_the_model_cannot_batch_on_it(gateway, upstream):
    key = new_key(gateway, models=["local"])
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.files.create(file=("in.jsonl", INPUT), purpose="batch")
    assert "no group of this key can hold files" in caught.value.message
    with pytest.raises(openai.PermissionDeniedError):
        client.files.create(file=("in.jsonl", INPUT), purpose="batch", extra_body={"model": "gpt-mini"})


def test_unknown_ids_and_unbuilt_listing(gateway):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=MASTER, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_made_up")
    listing = httpx.get(gateway.url + "/v1/batches", headers=ADMIN)
    assert listing.status_code == 501 and listing.json()["error"]["code"] == "not_implemented"
