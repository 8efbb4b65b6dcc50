"""Amazon SageMaker real-time endpoints (``sagemaker/<endpoint>``, ``sagemaker_chat/<endpoint>``).

``POST https://runtime.sagemaker.{region}.amazonaws.com/endpoints/{endpoint}/invocations``
signed with SigV4 (service ``sagemaker``) by botocore, with AWS credentials
taken as Bedrock takes them (``aws_access_key_id``, ``aws_secret_access_key``,
``aws_session_token``, ``aws_region_name``, else the ``AWS_*`` variables).

- ``sagemaker/`` speaks Hugging Face TGI's generate protocol, the format of
  SageMaker's LLM containers: ``{"inputs": prompt, "parameters": {...}}``,
  answered ``[{"generated_text": ..., "details": {...}}]``. The prompt is the
  messages' text joined with newlines (LiteLLM's default when no chat template
  is known); ``details`` is asked for so the completion count is the model's.
- ``sagemaker_chat/`` sends OpenAI's chat body to containers that serve the
  Messages API (TGI >= 1.4, vLLM/LMI) and reads OpenAI's answer back.

Streams use ``/invocations-response-stream``: AWS's event-stream framing
(the transport splits it, as for Bedrock) with ``PayloadPart`` events whose
bytes are the container's own SSE stream, cut wherever the container
flushed; the adapter joins the pieces into lines. ``ModelStreamError`` and
``InternalStreamFailure`` frames are errors.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

import orjson

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PolyrelayError,
    RateLimitError,
    ServiceUnavailableError,
    error_for_status,
)
from ..redact import scrub
from ..usage_checks import count
from . import _convert as cv
from ._aws import AWS_ARGS, endpoint, secret_values
from . import _relay
from .base import CHAT, EMBEDDING, Adapter, Call, HTTPRequest, StreamEvent, StreamState

# TGI's details.finish_reason -> OpenAI's.
_FINISH = {"length": "length", "eos_token": "stop", "stop_sequence": "stop"}
# x-amzn-ErrorType (or a stream's exception type) -> (class, status), from the InvokeEndpoint API reference.
_ERRORS: dict[str, tuple[type[PolyrelayError], int]] = {
    "validationerror": (BadRequestError, 400),
    "validationexception": (BadRequestError, 400),
    "accessdeniedexception": (PermissionDeniedError, 403),
    "unrecognizedclientexception": (AuthenticationError, 401),
    "invalidsignatureexception": (AuthenticationError, 401),
    "incompletesignature": (AuthenticationError, 401),
    "expiredtokenexception": (AuthenticationError, 401),
    "throttlingexception": (RateLimitError, 429),
    "modelnotreadyexception": (ServiceUnavailableError, 503),
    "serviceunavailable": (ServiceUnavailableError, 503),
    "internalfailure": (InternalServerError, 500),
    "internaldependencyexception": (InternalServerError, 500),
    "internalstreamfailure": (InternalServerError, 500),
    "modelstreamerror": (InternalServerError, 500),
}
_CONTEXT_MARKERS = ("must have less than", "must be <=", "maximum context length", "context length", "too long")
# OpenAI parameters TGI's generate API takes under the same name.
_TGI_PARAMS = ("temperature", "top_p", "seed", "frequency_penalty")


class SageMakerAdapter(Adapter):
    kinds = frozenset({CHAT, EMBEDDING})
    api_base_env = ("SAGEMAKER_API_BASE",)
    credential_args = AWS_ARGS

    def __init__(self, name: str) -> None:
        self.name = name
        self.chat_api = name == "sagemaker_chat"
        # TGI's generate API has none of these; the Messages API takes OpenAI's set minus OpenAI-only ones.
        self.unsupported_params = frozenset({"tools", "tool_choice", "parallel_tool_calls", "functions",
                                             "function_call", "response_format", "n", "logit_bias", "logprobs",
                                             "top_logprobs", "presence_penalty"}) if not self.chat_api else \
            frozenset({"parallel_tool_calls", "functions", "function_call", "modalities", "audio", "prediction",
                       "store", "service_tier", "web_search_options", "verbosity", "reasoning_effort"})
        self.streams_usage = self.chat_api
        if self.chat_api:
            self.kinds = frozenset({CHAT})

    def build_request(self, call: Call) -> HTTPRequest:
        base, region = endpoint(call, "sagemaker", "runtime.sagemaker")
        path = "/invocations-response-stream" if call.stream else "/invocations"
        url = f"{base}/endpoints/{quote(call.model, safe='')}{path}"
        if call.kind == EMBEDDING:
            body = _embedding_body(call)
        else:
            body = _chat_body(call) if self.chat_api else _tgi_body(call)
        headers = {"Content-Type": "application/json",
                   "Accept": "application/vnd.amazon.eventstream" if call.stream else "application/json"}
        headers.update(call.creds.extra_headers)
        headers = _signed(call, self.name, region, url, headers, body)
        request = HTTPRequest("POST", url, headers, body, stream=call.stream, framing="aws-eventstream")
        return request if call.stream or (self.chat_api and call.kind == CHAT) else \
            _relay.array_as_object(call, request)

    # -- answers --------------------------------------------------------------------------------

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if call.kind == EMBEDDING:
            return _embeddings(call, data)
        if self.chat_api:
            if not isinstance(data, dict) or "choices" not in data:
                raise BadRequestError("sagemaker_chat answered with a body that is not a chat completion",
                                      llm_provider=self.name, model=call.model, status_code=502)
            data.setdefault("model", call.model)
            return data
        items = data.get(_relay.ITEMS) if isinstance(data, dict) and _relay.ITEMS in data else [data]
        first = items[0] if items and isinstance(items[0], dict) else {}
        if "generated_text" not in first:
            raise BadRequestError("sagemaker answered without generated_text (is the endpoint a TGI container? "
                                  "use sagemaker_chat/ for OpenAI-format containers)", llm_provider=self.name,
                                  model=call.model, status_code=502)
        text = str(first.get("generated_text") or "")
        details = first.get("details") or {}
        finish = _FINISH.get(str(details.get("finish_reason") or ""), "stop")
        message = {"role": "assistant", "content": text}
        return cv.response(call, [{"index": 0, "message": message, "finish_reason": finish}],
                           _tgi_usage(call, details))

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        kind = event.event or ""
        if kind != "PayloadPart":
            if kind.lower().endswith(("exception", "error", "failure")):
                raise self._error(state.call, kind, 0, event.data.encode(), {})
            return []
        # A PayloadPart is a slice of the container's SSE stream: keep the unfinished line for the next one.
        pending = state.extra.get("pending", "") + event.data
        *lines, state.extra["pending"] = pending.split("\n")
        out: list[dict[str, Any]] = []
        for line in lines:
            line = line.strip()
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                state.finished = True
                continue
            chunk = orjson.loads(data)
            out.extend(self._chat_chunk(state, chunk) if self.chat_api else self._tgi_chunk(state, chunk))
        return out

    def _chat_chunk(self, state: StreamState, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if "error" in chunk and "choices" not in chunk:
            raise self._error(state.call, "ModelStreamError", 0, orjson.dumps(chunk), {})
        if chunk.get("usage"):
            state.usage = chunk["usage"]
        chunk.setdefault("model", state.call.model)
        return [chunk]

    def _tgi_chunk(self, state: StreamState, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        if "error" in chunk:
            raise self._error(state.call, "ModelStreamError", 0, orjson.dumps({"message": chunk["error"]}), {})
        token = chunk.get("token") or {}
        out = []
        if token.get("text") and not token.get("special"):
            out.append(cv.chunk(state, {"content": token["text"]}))
        details = chunk.get("details")
        if isinstance(details, dict):  # the last event of a TGI stream
            state.usage = _tgi_usage(state.call, details)
            state.finished = True
            out.append(cv.chunk(state, {}, _FINISH.get(str(details.get("finish_reason") or ""), "stop")))
        return out

    # -- errors ---------------------------------------------------------------------------------

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        lowered = {k.lower(): v for k, v in headers.items()}
        kind = lowered.get("x-amzn-errortype", "").split(":", 1)[0]
        return self._error(call, kind, status, body, headers)

    def _error(self, call: Call, kind: str, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        secrets = secret_values(call)
        body = scrub(body.decode("utf-8", "replace"), secrets).encode()
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        message = ""
        if isinstance(parsed, dict):
            message = str(parsed.get("message") or parsed.get("Message") or parsed.get("error") or "")
        message = message or body.decode("utf-8", "replace")[:2000] or f"sagemaker answered HTTP {status}"
        fields = dict(llm_provider=self.name, model=call.model, body=parsed, headers=headers, code=kind or None,
                      secrets=secrets)
        if kind.lower() == "modelerror" and isinstance(parsed, dict):
            # The container answered an error (HTTP 424): its own status says whose fault it was.
            original = parsed.get("OriginalStatusCode")
            inner = str(parsed.get("OriginalMessage") or message)
            if isinstance(original, int) and 400 <= original <= 599:
                if original in (400, 413, 422) and any(m in inner.lower() for m in _CONTEXT_MARKERS):
                    return ContextWindowExceededError(f"ModelError: {inner}", status_code=400, **fields)
                return error_for_status(original, f"ModelError: {inner}", **fields)
        if kind.lower() == "modelerror":
            return InternalServerError(f"ModelError: {message}", status_code=status or 500, **fields)
        cls, known = _ERRORS.get(kind.lower(), (None, 0))
        if cls is None and status == 404:
            cls, known = NotFoundError, 404
        if cls is None:
            return error_for_status(status or 500, f"{kind}: {message}" if kind else message, **fields)
        if cls is BadRequestError and any(m in message.lower() for m in _CONTEXT_MARKERS):
            cls = ContextWindowExceededError
        return cls(f"{kind}: {message}" if kind else message, status_code=known, **fields)


def _tgi_body(call: Call) -> dict[str, Any]:
    params = call.params
    prompt = "\n".join(cv.text_only(call, m.get("content")) for m in params.get("messages") or [])
    # details: TGI's own count of generated tokens; decoder_input_details (refused by TGI on streams):
    # the prompt's tokens as "prefill", so the prompt count is the model's too.
    parameters: dict[str, Any] = {"details": True} if call.stream else {"details": True,
                                                                        "decoder_input_details": True}
    limit = cv.max_tokens(params)
    if limit is not None:
        parameters["max_new_tokens"] = limit
    for name in _TGI_PARAMS:
        if params.get(name) is not None:
            parameters[name] = params[name]
    if parameters.get("temperature") == 0:
        # TGI refuses 0 ("must be strictly positive"); greedy decoding, what 0 asks for, is its default.
        del parameters["temperature"]
    if params.get("stop") is not None:
        parameters["stop"] = cv.stop_list(params["stop"])
    consumed = frozenset({"messages", "max_tokens", "max_completion_tokens", "stop", "user", *_TGI_PARAMS})
    parameters.update(cv.passthrough(params, consumed))  # TGI's own (top_k, do_sample, ...) as given
    body: dict[str, Any] = {"inputs": prompt, "parameters": parameters}
    if call.stream:
        body["stream"] = True
    return body


def _embedding_body(call: Call) -> dict[str, Any]:
    """Hugging Face embedding containers (TEI, the inference toolkit) take ``{"inputs": [...]}``."""
    value = call.params.get("input")
    inputs = value if isinstance(value, list) else [value]
    if not inputs or not all(isinstance(i, str) for i in inputs):
        raise BadRequestError("sagemaker embeddings take text (a string or a list of strings)",
                              llm_provider=call.provider, model=call.model, param="input")
    return {"inputs": inputs, **cv.passthrough(call.params, frozenset({"input", "encoding_format", "user"}))}


def _embeddings(call: Call, data: Any) -> dict[str, Any]:
    """TEI answers a bare array of vectors; the inference toolkit ``{"embedding": [...]}`` (as LiteLLM reads it).
    Neither counts tokens: usage is left to the tokenizer."""
    vectors = data.get(_relay.ITEMS, data.get("embedding")) if isinstance(data, dict) else None
    if not isinstance(vectors, list):
        raise BadRequestError("sagemaker answered embeddings in no shape polyrelay knows (an array of vectors or "
                              "{\"embedding\": [...]})", llm_provider=call.provider, model=call.model, status_code=502)
    if vectors and not isinstance(vectors[0], list):
        vectors = [vectors]
    return {"object": "list", "model": call.model, "usage": None,
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]}


def _chat_body(call: Call) -> dict[str, Any]:
    body = {"model": call.model, **call.params}
    if call.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _tgi_usage(call: Call, details: dict[str, Any]) -> dict[str, Any] | None:
    """TGI's counts: ``generated_tokens``, and the prompt as ``prefill`` (asked for on
    plain calls). Without both, usage is None: polyrelay then counts it with the
    tokenizer and marks it ``usage_estimated``, rather than mixing a guess into a count."""
    prefill = details.get("prefill")
    if "generated_tokens" not in details or not isinstance(prefill, list) or not prefill:
        return None
    completion = count(details.get("generated_tokens"), "sagemaker", "generated_tokens")
    prompt = len(prefill)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _signed(call: Call, name: str, region: str, url: str, headers: dict[str, str], body: Any) -> dict[str, str]:
    given = call.creds.extra
    access = given.get("aws_access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = given.get("aws_secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    token = given.get("aws_session_token") or os.environ.get("AWS_SESSION_TOKEN")
    if not (access and secret):
        raise AuthenticationError(
            f"No AWS credentials for {name}: pass aws_access_key_id= and aws_secret_access_key= "
            "(or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)", llm_provider=name, model=call.model)
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
    except ImportError as exc:
        raise ImportError(f"{name}/ models need botocore to sign requests: pip install 'polyrelay[bedrock]'") from exc
    # The transport sends orjson.dumps(request.json): sign exactly those bytes.
    signed = AWSRequest(method="POST", url=url, data=orjson.dumps(body), headers=headers)
    SigV4Auth(Credentials(access, secret, token), "sagemaker", region).add_auth(signed)
    return dict(signed.headers.items())


