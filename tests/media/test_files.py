"""Files and batches in the SDK against fake OpenAI and Azure servers, and batch pricing."""

from __future__ import annotations

import json

import pytest

import polyrelay
from fakeserver import FakeServer, Reply
from polyrelay.media.files import batch_output_cost


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.stop()


def test_openai_files_and_batches_wire_format(fake):
    fake.reply(Reply(json={"id": "file-1", "object": "file"}), Reply(json={"id": "batch_1", "status": "validating"}),
               Reply(json={"id": "batch_1", "status": "in_progress"}), Reply(json={"id": "batch_1",
                                                                                  "status": "cancelling"}))
    created = polyrelay.create_file(file=("in.jsonl", b'{"custom_id": "1"}\n'), purpose="batch", api_key="sk",
                                    api_base=fake.url + "/v1")
    batch = polyrelay.create_batch(input_file_id=created["id"], endpoint="/v1/chat/completions",
                                   completion_window="24h", metadata={"team": "a"}, api_key="sk",
                                   api_base=fake.url + "/v1")
    assert created.id == "file-1" and batch.status == "validating"  # typed access, as the openai objects
    polyrelay.retrieve_batch(batch["id"], api_key="sk", api_base=fake.url + "/v1")
    polyrelay.cancel_batch(batch["id"], api_key="sk", api_base=fake.url + "/v1")
    upload, create, get, cancel = fake.requests
    assert upload.path == "/v1/files" and b'name="purpose"\r\n\r\nbatch' in upload.body
    assert create.path == "/v1/batches" and create.json == {"input_file_id": "file-1",
                                                            "endpoint": "/v1/chat/completions",
                                                            "completion_window": "24h", "metadata": {"team": "a"}}
    assert (get.method, get.path) == ("GET", "/v1/batches/batch_1")
    assert (cancel.method, cancel.path) == ("POST", "/v1/batches/batch_1/cancel")
    assert all(r.headers["authorization"] == "Bearer sk" for r in fake.requests)


def test_azure_files_paths(fake):
    fake.reply(Reply(json={"id": "file-a"}), Reply(body=b"line\n"))
    polyrelay.create_file(file=b"{}\n", purpose="batch", custom_llm_provider="azure", api_key="az",
                          api_base=fake.url, api_version="2024-10-21")
    content = polyrelay.file_content("file-a", custom_llm_provider="azure", api_key="az", api_base=fake.url)
    upload, download = fake.requests
    assert upload.path == "/openai/files" and upload.query == {"api-version": ["2024-10-21"]}
    assert upload.headers["api-key"] == "az"
    assert download.path == "/openai/files/file-a/content" and content == b"line\n"


def test_file_errors_are_mapped(fake):
    fake.reply(Reply(404, json={"error": {"message": "No such File object: file-x", "type": "invalid_request_error"}}))
    with pytest.raises(polyrelay.NotFoundError):
        polyrelay.file_retrieve("file-x", api_key="sk", api_base=fake.url)


def test_other_providers_are_refused():
    with pytest.raises(polyrelay.BadRequestError, match="openai and azure only"):
        polyrelay.create_batch(input_file_id="f", custom_llm_provider="anthropic")


def test_batch_output_priced_at_half():
    lines = [{"response": {"body": {"model": "gpt-4o", "usage": {"prompt_tokens": 100, "completion_tokens": 10}}}},
             {"response": {"body": {"model": "gpt-4o", "usage": {"prompt_tokens": 300, "completion_tokens": 30}}}},
             {"error": {"code": "bad"}, "response": None}]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    cost, counts = batch_output_cost(content, "openai")
    full = sum(polyrelay.cost_per_token(model="gpt-4o", prompt_tokens=400, completion_tokens=40))
    assert cost == pytest.approx(full / 2)
    assert counts == {"prompt_tokens": 400, "completion_tokens": 40, "total_tokens": 440, "requests": 3}
