"""AWS Bedrock Converse (SigV4, binary event-stream), end to end against a fake server."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path

import pytest

import polyrelay
from fakeserver import Reply

pytest.importorskip("botocore")

FIXTURES = Path(__file__).parent / "fixtures" / "bedrock"
MODEL = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"
MODEL_PATH = "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0"
MESSAGES = [{"role": "user", "content": "Name 3 pop songs from the UK."}]
ACCESS, SECRET, TOKEN = "AKIDEXAMPLE12345678", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-abcdefgh"
EVENTSTREAM = {"Content-Type": "application/vnd.amazon.eventstream"}
TOOL = {"type": "function", "function": {"name": "top_song", "description": "Get the most popular song",
                                         "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}}}}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def fixture_json(name: str):
    return json.loads((FIXTURES / name).read_text())


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length (1 byte), name, value type 7 = string, value length (2 bytes), value
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One application/vnd.amazon.eventstream message: prelude (total and
    headers length) + prelude CRC32, headers, payload, message CRC32."""
    encoded = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    body = head + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(kind: str, payload: dict) -> bytes:
    return frame({":event-type": kind, ":content-type": "application/json", ":message-type": "event"},
                 json.dumps(payload).encode())


def exception(kind: str, message: str) -> bytes:
    return frame({":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"},
                 json.dumps({"message": message}).encode())


def stream_fixture(name: str) -> list[bytes]:
    return [event(kind, payload) for kind, payload in fixture_json(name)]


def chat(fake, **kwargs):
    kwargs.setdefault("messages", MESSAGES)
    kwargs.setdefault("aws_region_name", "us-west-2")
    return polyrelay.completion(model=kwargs.pop("model", MODEL), api_base=fake.url, aws_access_key_id=ACCESS,
                                aws_secret_access_key=SECRET, aws_session_token=TOKEN, **kwargs)


def assert_signed(fake, sent, region="us-west-2"):
    """The Authorization header has SigV4's shape, and its signature is right
    for the bytes and path that actually arrived."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = sent.headers["authorization"]
    found = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=(\S+)/(\d{8})/([\w-]+)/bedrock/aws4_request, "
                         r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", auth)
    assert found, auth
    assert (found.group(1), found.group(3)) == (ACCESS, region)
    signed = found.group(4).split(";")
    assert {"host", "x-amz-date", "x-amz-security-token", "content-type"} <= set(signed)
    assert sent.headers["x-amz-security-token"] == TOKEN
    request = AWSRequest(method="POST", url=fake.url + sent.path, data=sent.body,
                         headers={h: sent.headers[h] for h in signed if h != "host"})
    request.context["timestamp"] = sent.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS, SECRET, TOKEN), "bedrock", region)
    assert signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request) == found.group(5)


def test_converse_request_signing_and_response(fake):
    fake.reply(Reply(json=fixture_json("converse.json")))
    response = chat(fake, messages=[{"role": "system", "content": "You are a DJ."}, *MESSAGES], max_tokens=512,
                    temperature=0.5, top_p=0.9, stop=["END"], top_k=40)
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", MODEL_PATH + "/converse")
    assert_signed(fake, sent)
    assert sent.json == {
        "messages": [{"role": "user", "content": [{"text": "Name 3 pop songs from the UK."}]}],
        "system": [{"text": "You are a DJ."}],
        "inferenceConfig": {"maxTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
        "additionalModelRequestFields": {"top_k": 40},  # model-specific: passed through
    }
    assert not any(k.startswith("aws_") for k in sent.json)
    assert response.choices[0].message.content.startswith("Here is a list of 3 pop songs")
    assert response.choices[0].finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (125, 60, 185)
    assert response._hidden_params["custom_llm_provider"] == "bedrock"


def test_env_credentials_and_region(fake, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    fake.reply(Reply(json=fixture_json("converse.json")))
    polyrelay.completion(model=MODEL, messages=MESSAGES, api_base=fake.url)
    assert_signed(fake, fake.requests[0], region="eu-central-1")


def test_default_endpoint_from_region(monkeypatch):
    from polyrelay.providers import ADAPTERS
    from polyrelay.providers.base import Call, Credentials

    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    call = Call("chat", "bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0",
                {"messages": MESSAGES},
                Credentials(extra={"aws_region_name": "ap-south-1", "aws_access_key_id": ACCESS,
                                   "aws_secret_access_key": SECRET}))
    request = ADAPTERS["bedrock"].build_request(call)
    assert request.url == f"https://bedrock-runtime.ap-south-1.amazonaws.com{MODEL_PATH}/converse"


def test_missing_credentials(fake, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(polyrelay.AuthenticationError):
        polyrelay.completion(model=MODEL, messages=MESSAGES, api_base=fake.url, aws_region_name="us-east-1")


def test_bedrock_api_key_is_bearer(fake):
    fake.reply(Reply(json=fixture_json("converse.json")))
    polyrelay.completion(model=MODEL, messages=MESSAGES, api_base=fake.url, api_key="bedrock-api-key-123456789")
    assert fake.requests[0].headers["authorization"] == "Bearer bedrock-api-key-123456789"


def test_cached_tokens(fake):
    fake.reply(Reply(json=fixture_json("converse_cached.json")))
    usage = chat(fake).usage
    assert usage.prompt_tokens == 1520  # 20 uncached + 1000 read + 500 written
    assert usage.prompt_tokens_details.cached_tokens == 1000
    assert usage.total_tokens == 1525
    dumped = usage.model_dump()
    assert (dumped["cache_read_input_tokens"], dumped["cache_creation_input_tokens"]) == (1000, 500)


def test_tool_use_round_trip_and_image(fake):
    fake.reply(Reply(json=fixture_json("converse_tool_use.json")), Reply(json=fixture_json("converse.json")))
    response = chat(fake, tools=[TOOL], tool_choice="required")
    assert fake.requests[0].json["toolConfig"] == {"tools": [{"toolSpec": {
        "name": "top_song", "description": "Get the most popular song",
        "inputSchema": {"json": TOOL["function"]["parameters"]}}}], "toolChoice": {"any": {}}}
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", {"sign": "WZPZ"})

    history = [{"role": "user", "content": [{"type": "text", "text": "What is this station's top song?"},
                                            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
               choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "Elemental Hotel"},
               {"role": "user", "content": "Thanks!"}]
    chat(fake, messages=history, tools=[TOOL], tool_choice={"type": "function", "function": {"name": "top_song"}})
    sent = fake.requests[1].json
    assert sent["messages"] == [
        {"role": "user", "content": [{"text": "What is this station's top song?"},
                                     {"image": {"format": "png", "source": {"bytes": PNG}}}]},
        {"role": "assistant", "content": [{"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song",
                                                       "input": {"sign": "WZPZ"}}}]},
        # The tool result and the next user message share one user turn: Converse wants turns to alternate.
        {"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                                                     "content": [{"text": "Elemental Hotel"}]}}, {"text": "Thanks!"}]},
    ]
    assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": "top_song"}}


def test_max_tokens_finish(fake):
    body = fixture_json("converse.json")
    body["stopReason"] = "max_tokens"
    fake.reply(Reply(json=body))
    assert chat(fake).choices[0].finish_reason == "length"


def test_stream(fake):
    fake.reply(Reply(stream=stream_fixture("converse_stream_events.json"), headers=EVENTSTREAM, piece_delay=0.01))
    chunks = list(chat(fake, stream=True))
    sent = fake.requests[0]
    assert sent.path == MODEL_PATH + "/converse-stream"
    assert sent.headers["accept"] == "application/vnd.amazon.eventstream"
    assert_signed(fake, sent)
    assert [c.choices[0].delta.content for c in chunks] == ["", "Hello", "! How can I help?", None]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_include_usage_and_split_frames(fake):
    whole = b"".join(stream_fixture("converse_stream_events.json"))
    fake.reply(Reply(stream=[whole[i:i + 10] for i in range(0, len(whole), 10)], headers=EVENTSTREAM))
    chunks = list(chat(fake, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! How can I help?"
    assert chunks[-1].choices == []
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (12, 8)


def test_stream_tool_call_with_cached_usage(fake):
    fake.reply(Reply(stream=stream_fixture("converse_stream_tool_events.json"), headers=EVENTSTREAM))
    chunks = list(chat(fake, stream=True, tools=[TOOL], stream_options={"include_usage": True}))
    built = polyrelay.stream_chunk_builder(chunks)
    message = built.choices[0].message
    assert message.content == "Let me check."
    assert (message.tool_calls[0].id, message.tool_calls[0].function.name) == ("tooluse_abc123", "top_song")
    assert json.loads(message.tool_calls[0].function.arguments) == {"sign": "WZPZ"}
    assert built.choices[0].finish_reason == "tool_calls"
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.prompt_tokens_details.cached_tokens) == (475, 100)


def test_stream_exception_frame_raises(fake):
    frames = stream_fixture("converse_stream_events.json")[:2] + [exception("throttlingException", "Too many requests")]
    fake.reply(Reply(stream=frames, headers=EVENTSTREAM))
    with pytest.raises(polyrelay.RateLimitError) as caught:
        list(chat(fake, stream=True))
    assert "Too many requests" in caught.value.message


def test_cut_stream_raises(fake):
    fake.reply(Reply(stream=stream_fixture("converse_stream_events.json")[:3], headers=EVENTSTREAM))
    with pytest.raises(polyrelay.APIConnectionError):
        list(chat(fake, stream=True))


@pytest.mark.parametrize(("kind", "status", "message", "cls"), [
    ("ValidationException", 400, "Malformed input request", polyrelay.BadRequestError),
    ("ValidationException", 400, "Input is too long for requested model.", polyrelay.ContextWindowExceededError),
    ("AccessDeniedException", 403, "You don't have access to the model with the specified model ID.",
     polyrelay.PermissionDeniedError),
    ("ResourceNotFoundException", 404, "Could not resolve the foundation model", polyrelay.NotFoundError),
    ("ThrottlingException", 429, "Too many requests, please wait before trying again.", polyrelay.RateLimitError),
    ("ModelNotReadyException", 429, "Model is not ready", polyrelay.ServiceUnavailableError),
    ("ServiceUnavailableException", 503, "Service is unavailable", polyrelay.ServiceUnavailableError),
    ("InternalServerException", 500, "Internal server error", polyrelay.InternalServerError),
    ("UnrecognizedClientException", 403, "The security token included in the request is invalid.",
     polyrelay.AuthenticationError),
])
def test_errors(fake, kind, status, message, cls):
    error_type = f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    fake.reply(Reply(status, json={"message": message}, headers={"x-amzn-ErrorType": error_type}))
    with pytest.raises(cls) as caught:
        chat(fake)
    exc = caught.value
    assert type(exc) is cls
    assert (exc.llm_provider, exc.code) == ("bedrock", kind)
    assert message in exc.message
    for secret in (SECRET, TOKEN):
        assert secret not in str(exc)


def test_secret_echoed_in_error_is_scrubbed(fake):
    fake.reply(Reply(400, json={"message": f"bad signature for {SECRET}"},
                     headers={"x-amzn-ErrorType": "ValidationException"}))
    with pytest.raises(polyrelay.BadRequestError) as caught:
        chat(fake)
    assert SECRET not in str(caught.value) and SECRET not in caught.value.message


def test_titan_embedding(fake):
    fake.reply(Reply(json=fixture_json("titan_embed.json")))
    response = polyrelay.embedding(model="bedrock/amazon.titan-embed-text-v2:0", input="Hello world", dimensions=256,
                                   api_base=fake.url, aws_region_name="us-east-1", aws_access_key_id=ACCESS,
                                   aws_secret_access_key=SECRET, aws_session_token=TOKEN)
    sent = fake.requests[0]
    assert sent.path == "/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert sent.json == {"inputText": "Hello world", "dimensions": 256}
    assert_signed(fake, sent, region="us-east-1")
    assert response.data[0].embedding[0] == pytest.approx(0.0213623)
    assert response.usage.prompt_tokens == 7


def test_aws_credentials_never_travel_in_params(monkeypatch):
    from polyrelay.params import plan

    planned = plan("chat", "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", {"messages": MESSAGES},
                   {"aws_access_key_id": ACCESS, "aws_secret_access_key": SECRET, "aws_region_name": "eu-west-1"})
    assert not any(k.startswith("aws_") for k in planned.call.params)
    assert SECRET in planned.call.creds.secrets() and "eu-west-1" not in planned.call.creds.secrets()
