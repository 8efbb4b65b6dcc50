"""SageMaker endpoints (SigV4, TGI and OpenAI containers, event-stream responses) against a fake server.

Wire shapes from the InvokeEndpoint / InvokeEndpointWithResponseStream API
reference and Hugging Face TGI's generate API: the fake checks the SigV4
signature by recomputing it with botocore over the bytes that arrived."""

from __future__ import annotations

import json
import re
import struct
import zlib

import pytest

import polyrelay
from fakeserver import Reply

pytest.importorskip("botocore")

ACCESS, SECRET, TOKEN = "AKIDEXAMPLE12345678", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-abcdefgh"
MESSAGES = [{"role": "user", "content": "What is Deep Learning?"}]
EVENTSTREAM = {"Content-Type": "application/vnd.amazon.eventstream"}


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One application/vnd.amazon.eventstream message (prelude, prelude CRC, headers, payload, CRC)."""
    encoded = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + encoded + payload
    return body + struct.pack(">I", zlib.crc32(body))


def part(data: bytes) -> bytes:
    """A PayloadPart event: its payload is the container's bytes (the Bytes blob, as the event payload)."""
    return frame({":event-type": "PayloadPart", ":content-type": "application/octet-stream",
                  ":message-type": "event"}, data)


def call(fake, model="sagemaker/my-tgi-endpoint", **kwargs):
    kwargs.setdefault("messages", MESSAGES)
    return polyrelay.completion(model=model, api_base=fake.url, aws_access_key_id=ACCESS,
                                aws_secret_access_key=SECRET, aws_session_token=TOKEN,
                                aws_region_name="us-west-2", **kwargs)


def assert_signed(fake, sent, region="us-west-2"):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    found = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=(\S+)/(\d{8})/([\w-]+)/sagemaker/aws4_request, "
                         r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", sent.headers["authorization"])
    assert found, sent.headers["authorization"]
    assert (found.group(1), found.group(3)) == (ACCESS, region)
    signed = found.group(4).split(";")
    request = AWSRequest(method="POST", url=fake.url + sent.path, data=sent.body,
                         headers={h: sent.headers[h] for h in signed if h != "host"})
    request.context["timestamp"] = sent.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS, SECRET, TOKEN), "sagemaker", region)
    assert signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request) == found.group(5)


def test_tgi_invocation_signed_and_read(fake):
    prefill = [{"id": i, "text": "t", "logprob": None} for i in range(6)]  # the prompt's tokens
    fake.reply(Reply(json=[{"generated_text": "Deep learning is a subset of machine learning.",
                            "details": {"finish_reason": "length", "generated_tokens": 9, "seed": None,
                                        "prefill": prefill, "tokens": []}}]))
    response = call(fake, max_tokens=9, temperature=0.2, top_p=0.9, stop=["\n\n"], top_k=50)
    sent = fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/endpoints/my-tgi-endpoint/invocations")
    assert_signed(fake, sent)
    assert sent.json == {"inputs": "What is Deep Learning?",
                         "parameters": {"details": True, "decoder_input_details": True, "max_new_tokens": 9,
                                        "temperature": 0.2, "top_p": 0.9, "stop": ["\n\n"], "top_k": 50}}
    assert response.choices[0].message.content == "Deep learning is a subset of machine learning."
    assert response.choices[0].finish_reason == "length"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (6, 9)  # the model's own counts
    assert "usage_estimated" not in response._hidden_params
    assert response._hidden_params["custom_llm_provider"] == "sagemaker"


def test_temperature_zero_is_greedy_default(fake):
    fake.reply(Reply(json=[{"generated_text": "x", "details": {"finish_reason": "length", "generated_tokens": 1}}]))
    call(fake, temperature=0, frequency_penalty=0.5)
    assert "temperature" not in fake.requests[0].json["parameters"]
    assert fake.requests[0].json["parameters"]["frequency_penalty"] == 0.5


def test_without_prefill_usage_is_counted_and_marked(fake):
    # A container that ignores decoder_input_details: no prompt count, so no half-guessed usage either.
    fake.reply(Reply(json=[{"generated_text": "Hi", "details": {"finish_reason": "eos_token", "generated_tokens": 1}}]))
    response = call(fake)
    assert response.usage.completion_tokens == 1 and response.usage.prompt_tokens > 0
    assert response._hidden_params["usage_estimated"] is True
    assert response.choices[0].finish_reason == "stop"


def test_default_endpoint_from_region(monkeypatch):
    from polyrelay.params import credentials
    from polyrelay.providers import ADAPTERS
    from polyrelay.providers.base import CHAT, Call

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION_NAME", "eu-west-1")
    adapter = ADAPTERS["sagemaker"]
    request = adapter.build_request(Call(CHAT, "sagemaker", "jumpstart-dft-llama", {"messages": MESSAGES},
                                         credentials(adapter, {})))
    assert request.url == "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/jumpstart-dft-llama/invocations"
    assert "/eu-west-1/sagemaker/aws4_request" in request.headers["Authorization"]


def test_region_that_is_not_a_region_is_refused(fake):
    with pytest.raises(polyrelay.BadRequestError, match="not a region"):
        polyrelay.completion(model="sagemaker/e", messages=MESSAGES, aws_region_name="x.evil.com/",
                             aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)


def test_missing_credentials(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(polyrelay.AuthenticationError, match="No AWS credentials"):
        polyrelay.completion(model="sagemaker/e", messages=MESSAGES, aws_region_name="us-east-1")


def test_tgi_stream_across_split_payload_parts(fake):
    lines = [
        b'data:{"token":{"id":1,"text":"Deep","logprob":-0.1,"special":false},"generated_text":null,"details":null}\n\n',
        b'data:{"token":{"id":2,"text":" learning","logprob":-0.1,"special":false},"generated_text":null,'
        b'"details":null}\n\n',
        b'data:{"token":{"id":3,"text":"</s>","logprob":-0.1,"special":true},"generated_text":"Deep learning",'
        b'"details":{"finish_reason":"eos_token","generated_tokens":3,"seed":null}}\n\n',
    ]
    raw = b"".join(lines)
    # The container's bytes arrive cut at arbitrary places, one PayloadPart per flush.
    pieces = [part(raw[:30]), part(raw[30:150]), part(raw[150:])]
    fake.reply(Reply(headers=EVENTSTREAM, stream=pieces))
    chunks = list(call(fake, stream=True, stream_options={"include_usage": True}))
    sent = fake.requests[0]
    assert sent.path == "/endpoints/my-tgi-endpoint/invocations-response-stream"
    assert sent.json["stream"] is True
    assert_signed(fake, sent)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Deep learning"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert "decoder_input_details" not in sent.json["parameters"]  # TGI refuses it on streams
    # TGI streams no prompt count: usage is the tokenizer's, and says so.
    assert chunks[-1].usage.completion_tokens == 2  # "Deep learning"


def test_chat_container_stream_with_usage(fake):
    def sse(obj):
        return f"data: {json.dumps(obj)}\n\n".encode()

    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "tgi"}
    raw = (sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"},
                                     "finish_reason": None}]})
           + sse({**base, "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]})
           + sse({**base, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2,
                                                    "total_tokens": 14}})
           + b"data: [DONE]\n\n")
    fake.reply(Reply(headers=EVENTSTREAM, stream=[part(raw[:70]), part(raw[70:])]))
    stream = call(fake, model="sagemaker_chat/my-openai-endpoint", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    sent = fake.requests[0]
    assert sent.json["messages"] == MESSAGES and sent.json["stream_options"] == {"include_usage": True}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert chunks[-1].usage.total_tokens == 14


def test_chat_container_plain(fake):
    fake.reply(Reply(json={"id": "x", "object": "chat.completion", "created": 1, "model": "tgi",
                           "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}))
    response = call(fake, model="sagemaker_chat/my-openai-endpoint", max_tokens=4)
    sent = fake.requests[0]
    assert sent.path == "/endpoints/my-openai-endpoint/invocations"
    assert sent.json == {"model": "my-openai-endpoint", "messages": MESSAGES, "max_tokens": 4}
    assert response.usage.total_tokens == 6


def test_stream_model_error_frame_raises(fake):
    error = frame({":exception-type": "ModelStreamError", ":content-type": "application/json",
                   ":message-type": "exception"}, json.dumps({"Message": "container crashed",
                                                              "ErrorCode": "ModelStreamError"}).encode())
    fake.reply(Reply(headers=EVENTSTREAM, stream=[part(b'data:{"token":{"text":"a","special":false}}\n\n'), error]))
    with pytest.raises(polyrelay.InternalServerError, match="container crashed"):
        list(call(fake, stream=True))


@pytest.mark.parametrize("kind,status,body,cls", [
    ("ValidationError", 400, {"message": "Endpoint my-tgi-endpoint of account 123 not found."},
     polyrelay.BadRequestError),
    ("ThrottlingException", 400, {"message": "Rate exceeded"}, polyrelay.RateLimitError),
    ("UnrecognizedClientException", 403, {"message": "The security token included in the request is invalid."},
     polyrelay.AuthenticationError),
    ("ModelError", 424, {"ErrorCode": "CLIENT_ERROR_FROM_MODEL", "OriginalStatusCode": 422,
                         "OriginalMessage": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
                                            "4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`",
                         "Message": "Received client error (422) from primary"},
     polyrelay.ContextWindowExceededError),
    ("ModelError", 424, {"ErrorCode": "SERVER_ERROR_FROM_MODEL", "OriginalStatusCode": 500,
                         "OriginalMessage": "CUDA out of memory", "Message": "Received server error (500)"},
     polyrelay.InternalServerError),
])
def test_errors(fake, kind, status, body, cls):
    fake.reply(Reply(status=status, json=body, headers={"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/"}))
    with pytest.raises(cls) as caught:
        call(fake, num_retries=0)
    assert caught.value.llm_provider == "sagemaker"
    assert SECRET not in str(caught.value) and TOKEN not in str(caught.value)


def test_secret_echoed_in_error_is_scrubbed(fake):
    fake.reply(Reply(status=400, json={"message": f"bad signature for {SECRET}"},
                     headers={"x-amzn-ErrorType": "ValidationError"}))
    with pytest.raises(polyrelay.BadRequestError) as caught:
        call(fake, num_retries=0)
    assert SECRET not in str(caught.value) and SECRET not in json.dumps(caught.value.body)


def test_verbose_log_holds_no_secret(fake, capfd):
    fake.reply(Reply(json=[{"generated_text": "ok", "details": {"finish_reason": "length", "generated_tokens": 1}}]),
               Reply(status=400, json={"message": f"echo {SECRET} {TOKEN}"},
                     headers={"x-amzn-ErrorType": "ValidationError"}))
    call(fake, verbose=True)
    with pytest.raises(polyrelay.BadRequestError):
        call(fake, verbose=True, num_retries=0)
    logged = capfd.readouterr().err
    assert "/endpoints/my-tgi-endpoint/invocations" in logged  # the log is on
    assert SECRET not in logged and TOKEN not in logged


def test_image_parts_are_refused_by_name(fake):
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(polyrelay.BadRequestError, match="image_url"):
        call(fake, messages=[{"role": "user", "content": [{"type": "text", "text": "what is this?"}, image]}])
    assert fake.requests == []


def test_multibyte_character_split_across_payload_parts(fake):
    raw = ('data:{"token":{"text":"café ☕","special":false}}\n\n'
           'data:{"token":{"text":"!","special":false},"details":{"finish_reason":"eos_token",'
           '"generated_tokens":2}}\n\n').encode()
    cut = raw.index("☕".encode()) + 1  # inside the 3-byte character
    fake.reply(Reply(headers=EVENTSTREAM, stream=[part(raw[:cut]), part(raw[cut:])]))
    chunks = list(call(fake, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "café ☕!"


@pytest.mark.parametrize("answer", [
    [[0.1, 0.2], [0.3, 0.4]],  # TEI's container: a bare array
    {"embedding": [[0.1, 0.2], [0.3, 0.4]]},  # the Hugging Face inference toolkit's shape
])
def test_embeddings(fake, answer):
    fake.reply(Reply(json=answer))
    response = polyrelay.embedding(model="sagemaker/my-embedding-endpoint", input=["hello", "world"],
                                   api_base=fake.url, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET,
                                   aws_session_token=TOKEN, aws_region_name="us-west-2")
    sent = fake.requests[0]
    assert (sent.path, sent.json) == ("/endpoints/my-embedding-endpoint/invocations", {"inputs": ["hello", "world"]})
    assert_signed(fake, sent)
    assert [d["embedding"] for d in response.data] == [[0.1, 0.2], [0.3, 0.4]]
    assert response.usage.prompt_tokens == 2 and response._hidden_params["usage_estimated"] is True
