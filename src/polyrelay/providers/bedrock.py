"""AWS Bedrock's Converse API (``bedrock/<model id>``).

``POST /model/{modelId}/converse`` (and ``/converse-stream``) on
``bedrock-runtime.{region}.amazonaws.com``, signed with SigV4 (service
``bedrock``) by botocore, imported only here and only when a request is
built, so the SDK works without it (``pip install 'polyrelay[bedrock]'``).
A Bedrock API key (``api_key=`` or ``AWS_BEARER_TOKEN_BEDROCK``) is sent as
a bearer token instead of signing.

ConverseStream answers in AWS's binary event-stream framing; the
transport splits the frames (framing ``"aws-eventstream"``) and hands over
each payload with its ``:event-type`` (messageStart, contentBlockStart,
contentBlockDelta, contentBlockStop, messageStop, metadata), or, for an
exception frame, its exception type. Embeddings use Titan's (or Cohere's)
``/model/{modelId}/invoke``.

``bedrock/invoke/<model id>`` sends the family's native body to InvokeModel
(bedrock_invoke.py); which family a name means, cross-region profiles and
ARNs included, and what each cannot take, is bedrock_models.py. Bedrock's
guardrail (``guardrailConfig``, ``guarded_text`` parts) rides in the
Converse body, or in InvokeModel's headers.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import orjson

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PolyrelayError,
    RateLimitError,
    ServiceUnavailableError,
    error_for_status,
)
from ..usage_checks import count
from . import _convert as cv
from ._aws import AWS_ARGS, endpoint, secret_values
from . import bedrock_invoke as invoke
from .bedrock_models import bare_id, check_family, family, guardrail_config, without_route
from .base import CHAT, EMBEDDING, Adapter, Call, HTTPRequest, StreamEvent, StreamState

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
# x-amzn-ErrorType (or a stream's exception type) -> (class, status).
_ERRORS: dict[str, tuple[type[PolyrelayError], int]] = {
    "validationexception": (BadRequestError, 400),
    "accessdeniedexception": (PermissionDeniedError, 403),
    "unrecognizedclientexception": (AuthenticationError, 401),
    "invalidsignatureexception": (AuthenticationError, 401),
    "expiredtokenexception": (AuthenticationError, 401),
    "resourcenotfoundexception": (NotFoundError, 404),
    "throttlingexception": (RateLimitError, 429),
    "servicequotaexceededexception": (RateLimitError, 429),
    "modelnotreadyexception": (ServiceUnavailableError, 503),
    "serviceunavailableexception": (ServiceUnavailableError, 503),
    "internalserverexception": (InternalServerError, 500),
    "modelstreamerrorexception": (InternalServerError, 500),
    "modelerrorexception": (InternalServerError, 500),
}
_CONTEXT_MARKERS = ("too long", "input is too long", "too many input tokens", "context window")
_CONSUMED = frozenset({
    "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "tools",
    "tool_choice",
    # The end-user id: Converse has no field for it, and it is ours to track.
    "user",
})
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                  "image/webp": "webp"}


class BedrockAdapter(Adapter):
    name = "bedrock"
    kinds = frozenset({CHAT, EMBEDDING})
    api_key_env = ("AWS_BEARER_TOKEN_BEDROCK",)
    api_base_env = ("BEDROCK_API_BASE",)
    credential_args = AWS_ARGS
    unsupported_params = frozenset({
        "n", "seed", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
        "response_format", "parallel_tool_calls", "functions", "function_call", "modalities", "audio",
        "prediction", "store", "service_tier", "web_search_options", "verbosity", "reasoning_effort",
    })

    def unsupported_params_for(self, model: str) -> frozenset[str]:
        route, _ = without_route(model)
        if route == "invoke" and bare_id(model).startswith("anthropic."):
            return invoke.ANTHROPIC_UNSUPPORTED  # Claude's own body: Anthropic's params
        if route == "invoke" and bare_id(model).startswith("openai."):
            return frozenset()  # gpt-oss takes OpenAI's body: every OpenAI param goes as it is
        if not family(model).tools:
            return self.unsupported_params | {"tools", "tool_choice"}
        return self.unsupported_params

    def build_request(self, call: Call) -> HTTPRequest:
        base, region = endpoint(call, "bedrock", "bedrock-runtime")
        route, model_id = without_route(call.model)
        guardrail = None
        # The model id holds ':' (…-v1:0) and an ARN '/': both must be percent-encoded in the path.
        root = f"{base}/model/{quote(model_id, safe='')}"
        if call.kind == EMBEDDING:
            url, body = root + "/invoke", _embedding_body(call)
        elif route == "invoke":
            kind = invoke.family_of(call, bare_id(call.model))
            url = root + ("/invoke-with-response-stream" if call.stream else "/invoke")
            guardrail = call.params.get("guardrailConfig")
            if guardrail is not None:
                call = _without(call, "guardrailConfig")
            body = invoke.request_body(call, kind)
        else:
            check_family(call)
            url = root + ("/converse-stream" if call.stream else "/converse")
            body = _converse_body(call)
        headers = {"Content-Type": "application/json",
                   "Accept": "application/vnd.amazon.eventstream" if call.stream else "application/json"}
        if guardrail is not None:  # InvokeModel's guardrail: headers, signed with the rest
            headers.update(invoke.guardrail_headers(call, guardrail_config(call, guardrail)))
        headers.update(call.creds.extra_headers)
        headers = self._authorize(call, region, url, headers, body)
        return HTTPRequest("POST", url, headers, body, stream=call.stream, framing="aws-eventstream")

    def _authorize(self, call: Call, region: str, url: str, headers: dict[str, str], body: Any) -> dict[str, str]:
        if call.creds.api_key:
            return {**headers, "Authorization": f"Bearer {call.creds.api_key}"}
        given = call.creds.extra
        access = given.get("aws_access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID")
        secret = given.get("aws_secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
        token = given.get("aws_session_token") or os.environ.get("AWS_SESSION_TOKEN")
        if not (access and secret):
            raise AuthenticationError(
                "No AWS credentials for bedrock: pass aws_access_key_id= and aws_secret_access_key= "
                "(or set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or a Bedrock API key as api_key=",
                llm_provider=self.name, model=call.model)
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
        except ImportError as exc:
            raise ImportError("bedrock/ models need botocore to sign requests: "
                              "pip install 'polyrelay[bedrock]'") from exc
        # The transport sends orjson.dumps(request.json): sign exactly those bytes.
        signed = AWSRequest(method="POST", url=url, data=orjson.dumps(body), headers=headers)
        SigV4Auth(Credentials(access, secret, token), "bedrock", region).add_auth(signed)
        return dict(signed.headers.items())

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        return self.parse_reply(call, data, {})

    def parse_reply(self, call: Call, data: Any, headers: dict[str, str]) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequestError("bedrock answered with an unexpected body", llm_provider=self.name,
                                  model=call.model, status_code=502)
        route, _ = without_route(call.model)
        if call.kind != EMBEDDING and route == "invoke":
            return invoke.parse(call, invoke.family_of(call, bare_id(call.model)), data, headers)
        if call.kind == EMBEDDING:
            vectors = data["embeddings"] if "embeddings" in data else [data.get("embedding") or []]
            prompt = data.get("inputTextTokenCount")
            return {"object": "list", "model": call.model,
                    "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                    "usage": {"prompt_tokens": int(prompt), "completion_tokens": 0, "total_tokens": int(prompt)}
                    if prompt is not None else None}
        return self.converse_answer(call, data)

    @staticmethod
    def converse_answer(call: Call, data: dict[str, Any]) -> dict[str, Any]:
        """A Converse answer (and Nova's invoke answer, which has its shape) in OpenAI's."""
        blocks = ((data.get("output") or {}).get("message") or {}).get("content") or []
        text = "".join(b["text"] for b in blocks if "text" in b)
        tools = [{"id": use.get("toolUseId") or cv.call_id(), "type": "function",
                  "function": {"name": use.get("name"), "arguments": cv.arguments_text(use.get("input"))}}
                 for use in (b["toolUse"] for b in blocks if "toolUse" in b)]
        message: dict[str, Any] = {"role": "assistant", "content": text if (text or not tools) else None,
                                   "tool_calls": tools or None}
        reasoning = "".join(((b["reasoningContent"].get("reasoningText") or {}).get("text") or "")
                            for b in blocks if "reasoningContent" in b)
        if reasoning:
            message["reasoning_content"] = reasoning
        finish = _FINISH.get(data.get("stopReason") or "", "stop")
        answer = cv.response(call, [{"index": 0, "message": message, "finish_reason": finish}],
                             _usage(data.get("usage")))
        if data.get("trace"):
            # The guardrail's assessment (guardrailConfig trace "enabled"): response.trace, as LiteLLM has it.
            answer["trace"] = data["trace"]
        return answer

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        kind = event.event or ""
        if kind.lower().endswith(("exception", "error")):
            raise self._error(state.call, kind, 0, event.data.encode(), {})
        route, _ = without_route(state.call.model)
        if route == "invoke":
            if kind != "chunk":
                return []
            return invoke.parse_chunk(state, invoke.family_of(state.call, bare_id(state.call.model)), event)
        data = orjson.loads(event.data) if event.data else {}
        return self.converse_event(state, kind, data)

    @staticmethod
    def converse_event(state: StreamState, kind: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """One ConverseStream event (or the same object inside a Nova invoke chunk) as chunks."""
        blocks: dict[int, int] = state.extra.setdefault("blocks", {})  # contentBlockIndex -> tool index
        if kind == "messageStart":
            return [cv.chunk(state, {"content": ""})]
        if kind == "contentBlockStart":
            tool = (data.get("start") or {}).get("toolUse")
            if not tool:
                return []
            index = blocks[data.get("contentBlockIndex", 0)] = len(blocks)
            return [cv.chunk(state, {"tool_calls": [{"index": index, "id": tool.get("toolUseId") or cv.call_id(),
                                                     "type": "function",
                                                     "function": {"name": tool.get("name"), "arguments": ""}}]})]
        if kind == "contentBlockDelta":
            delta = data.get("delta") or {}
            if delta.get("text"):
                return [cv.chunk(state, {"content": delta["text"]})]
            if "toolUse" in delta:
                index = blocks.get(data.get("contentBlockIndex", 0), 0)
                piece = delta["toolUse"].get("input") or ""
                return [cv.chunk(state, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]})]
            thought = (delta.get("reasoningContent") or {}).get("text")
            return [cv.chunk(state, {"reasoning_content": thought})] if thought else []
        if kind == "messageStop":
            return [cv.chunk(state, {}, _FINISH.get(data.get("stopReason") or "", "stop"))]
        if kind == "metadata":
            # Always the last event: usage for the whole request.
            state.usage = _usage(data.get("usage"))
            state.finished = True
            if data.get("trace"):
                # The guardrail trace comes after the finish: one more empty chunk carries it, where
                # LiteLLM's stream puts it (provider_specific_fields), and as ``trace`` like the answer's.
                found = cv.chunk(state, {})
                found["trace"] = data["trace"]
                found["provider_specific_fields"] = {"trace": data["trace"]}
                return [found]
        return []

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        lowered = {k.lower(): v for k, v in headers.items()}
        kind = lowered.get("x-amzn-errortype", "").split(":", 1)[0]
        return self._error(call, kind, status, body, headers)

    def _error(self, call: Call, kind: str, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        try:
            parsed = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        message = ""
        if isinstance(parsed, dict):
            message = str(parsed.get("message") or parsed.get("Message") or "")
        message = message or body.decode("utf-8", "replace")[:2000] or f"bedrock answered HTTP {status}"
        if kind:
            message = f"{kind}: {message}"
        cls, known_status = _ERRORS.get(kind.lower(), (None, 0))
        if cls is BadRequestError and any(m in message.lower() for m in _CONTEXT_MARKERS):
            cls = ContextWindowExceededError
        elif cls is BadRequestError and "content filter" in message.lower():
            cls = ContentPolicyViolationError
        fields = dict(llm_provider=self.name, model=call.model, body=parsed, headers=headers, code=kind or None,
                      secrets=secret_values(call))
        original = parsed.get("originalStatusCode") if isinstance(parsed, dict) else None
        if kind.lower() == "modelerrorexception" and isinstance(original, int) and 400 <= original <= 599:
            # InvokeModel's HTTP 424: the model itself failed, and its own status says whose fault it was.
            if original < 500 and any(m in message.lower() for m in _CONTEXT_MARKERS):
                return ContextWindowExceededError(message, status_code=400, **fields)
            return error_for_status(original, message, **fields)
        if cls is None:
            return super().map_error(call, status or 500, body, headers)
        return cls(message, status_code=known_status, **fields)


def _without(call: Call, name: str) -> Call:
    return replace(call, params={k: v for k, v in call.params.items() if k != name})



def _converse_body(call: Call) -> dict[str, Any]:
    params = call.params
    system, messages = _messages(call, params.get("messages") or [])
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    config: dict[str, Any] = {}
    if cv.max_tokens(params) is not None:
        config["maxTokens"] = cv.max_tokens(params)
    if params.get("temperature") is not None:
        config["temperature"] = params["temperature"]
    if params.get("top_p") is not None:
        config["topP"] = params["top_p"]
    if params.get("stop") is not None:
        config["stopSequences"] = cv.stop_list(params["stop"])
    if config:
        body["inferenceConfig"] = config
    tools = [t.get("function") or {} for t in params.get("tools") or []]
    choice = params.get("tool_choice")
    if tools and choice != "none":
        specs = [{"toolSpec": {"name": f.get("name"), "description": f.get("description") or f.get("name"),
                               "inputSchema": {"json": f.get("parameters") or {"type": "object", "properties": {}}}}}
                 for f in tools]
        body["toolConfig"] = {"tools": specs}
        if choice == "required":
            body["toolConfig"]["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
            body["toolConfig"]["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
        elif choice not in (None, "auto"):
            raise cv.unsupported(call, "tool_choice", f"value {choice!r}")
    elif choice == "none" and any(m.get("tool_calls") for m in params.get("messages") or []):
        # Converse needs toolConfig whenever the history holds tool calls, and has no "none".
        raise cv.unsupported(call, "tool_choice", "'none' when the conversation holds tool calls")
    # Model-specific fields (top_k, thinking, ...) travel in additionalModelRequestFields.
    extra = cv.passthrough(params, _CONSUMED)
    for key in ("additionalModelRequestFields", "guardrailConfig", "performanceConfig", "promptVariables",
                "requestMetadata"):
        if key in extra:
            body[key] = extra.pop(key)
    if "guardrailConfig" in body:
        body["guardrailConfig"] = guardrail_config(call, body["guardrailConfig"])
    if extra:
        body["additionalModelRequestFields"] = {**body.get("additionalModelRequestFields", {}), **extra}
    return body


def _messages(call: Call, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, messages). Converse wants user and assistant turns to
    alternate, so consecutive turns of one role (tool results, then a user
    message) are merged into one."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": p.get("text") or ""} for p in cv.parts(message.get("content")) if p.get("text"))
            continue
        if role == "tool":
            turn, blocks = "user", [{"toolResult": {"toolUseId": message.get("tool_call_id"),
                                                    "content": [{"text": cv.text(message.get("content"))}]}}]
        elif role == "assistant":
            turn = "assistant"
            blocks = [{"text": p["text"]} for p in cv.parts(message.get("content")) if p.get("text")]
            for tool_call in message.get("tool_calls") or []:
                function = tool_call.get("function") or {}
                blocks.append({"toolUse": {"toolUseId": tool_call.get("id"), "name": function.get("name"),
                                           "input": cv.arguments_object(call, function.get("arguments"))}})
        else:
            turn, blocks = "user", [_block(call, p) for p in cv.parts(message.get("content"))]
        if out and out[-1]["role"] == turn:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": turn, "content": blocks})
    return system, out


def _block(call: Call, part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type", "text")
    if kind == "text":
        return {"text": part.get("text") or ""}
    if kind == "guarded_text":
        # LiteLLM's part type: only this text is assessed by the request's guardrail.
        return {"guardContent": {"text": {"text": part.get("text") or ""}}}
    if kind == "image_url":
        inline = cv.split_data_url(cv.image_url(part))
        if inline is None or inline[0] not in _IMAGE_FORMATS:
            # Converse takes image bytes only, and an adapter fetches nothing itself.
            raise BadRequestError("bedrock takes images as base64 data: URLs (png, jpeg, gif or webp) only",
                                  llm_provider="bedrock", model=call.model, param="messages")
        return {"image": {"format": _IMAGE_FORMATS[inline[0]], "source": {"bytes": inline[1]}}}
    raise BadRequestError(f"bedrock cannot take content parts of type {kind!r}", llm_provider="bedrock",
                          model=call.model, param="messages")


def _embedding_body(call: Call) -> dict[str, Any]:
    params = call.params
    value = params.get("input")
    texts = value if isinstance(value, list) else [value]
    extra = cv.passthrough(params, frozenset({*AWS_ARGS, "input", "dimensions", "encoding_format", "user"}))
    if bare_id(call.model).startswith("cohere.embed"):
        return {"texts": texts, "input_type": "search_document", **extra}
    # Titan embeds one text per request; a batch would be several calls.
    if len(texts) != 1 or not isinstance(texts[0], str):
        raise BadRequestError(f"{call.model} embeds one text per request: pass a single string",
                              llm_provider="bedrock", model=call.model, param="input")
    body = {"inputText": texts[0], **extra}
    if params.get("dimensions") is not None:
        body["dimensions"] = params["dimensions"]
    return body


def _usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """Converse's inputTokens leaves out cache reads and writes; prompt_tokens
    counts them all (OpenAI's definition), and cached_tokens the reads."""
    if not usage:
        return None
    read = count(usage.get("cacheReadInputTokens"), "bedrock", "cacheReadInputTokens")
    write = count(usage.get("cacheWriteInputTokens"), "bedrock", "cacheWriteInputTokens")
    prompt = count(usage.get("inputTokens"), "bedrock", "inputTokens") + read + write
    completion = count(usage.get("outputTokens"), "bedrock", "outputTokens")
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                           "total_tokens": prompt + completion}
    if "cacheReadInputTokens" in usage or "cacheWriteInputTokens" in usage:
        out["prompt_tokens_details"] = {"cached_tokens": read}
        out["cache_read_input_tokens"] = read
        out["cache_creation_input_tokens"] = write
    return out


