"""Google AI Studio's Gemini API (``gemini/<model>``).

Chat goes to ``models/{model}:generateContent`` (streams:
``:streamGenerateContent?alt=sse``, one whole ``GenerateContentResponse``
per SSE event and no end marker: the stream ends when the connection
closes). Embeddings go to ``:embedContent`` / ``:batchEmbedContents``.
The key travels in ``x-goog-api-key``, never in the URL, so it cannot leak
through logged URLs.
"""

from __future__ import annotations

import mimetypes
from typing import Any

import orjson

from ..errors import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    PolyrelayError,
)
from ..types import new_id, now
from ..usage_checks import count
from . import _convert as cv
from .base import OPENAI_ONLY_PARAMS, CHAT, EMBEDDING, Adapter, Call, HTTPRequest, StreamEvent, StreamState

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "BLOCKLIST": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
# OpenAI chat params this adapter translates; anything else the caller
# passes that is not an OpenAI param goes into the body as given.
_CONSUMED = frozenset({
    "messages", "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens", "seed",
    "presence_penalty", "frequency_penalty", "tools", "tool_choice", "response_format",
    # The end-user id: Gemini has no field for it, and it is ours to track, not the provider's.
    "user",
})
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# JSON-schema keywords outside the OpenAPI subset Gemini accepts (it answers 400 on them).
_SCHEMA_DROP = frozenset({"$schema", "additionalProperties", "strict", "$id", "$defs", "definitions"})
_CONTEXT_MARKERS = ("exceeds the maximum number of tokens", "input token count", "context length")


class GeminiAdapter(Adapter):
    name = "gemini"
    kinds = frozenset({CHAT, EMBEDDING})
    default_api_base = "https://generativelanguage.googleapis.com"
    api_key_env = ("GEMINI_API_KEY",)
    api_base_env = ("GEMINI_API_BASE",)
    unsupported_params = OPENAI_ONLY_PARAMS

    # -- requests -----------------------------------------------------------

    def build_request(self, call: Call) -> HTTPRequest:
        creds = call.creds
        base = self.api_base(call)
        model = call.model.removeprefix("models/")
        headers = {"Content-Type": "application/json"}
        if creds.api_key:
            headers["x-goog-api-key"] = creds.api_key
        headers.update(creds.extra_headers)
        root = f"{base}/v1beta/models/{model}"
        if call.kind == EMBEDDING:
            return self._embedding_request(call, root, model, headers)
        body = self._chat_body(call)
        if call.stream:
            return HTTPRequest("POST", root + ":streamGenerateContent?alt=sse", headers, body, stream=True)
        return HTTPRequest("POST", root + ":generateContent", headers, body)

    def _chat_body(self, call: Call) -> dict[str, Any]:
        params = call.params
        system, contents = _contents(call, params.get("messages") or [])
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        config: dict[str, Any] = {}
        for ours, theirs in (("temperature", "temperature"), ("top_p", "topP"), ("n", "candidateCount"),
                             ("seed", "seed"), ("presence_penalty", "presencePenalty"),
                             ("frequency_penalty", "frequencyPenalty")):
            if params.get(ours) is not None:
                config[theirs] = params[ours]
        if cv.max_tokens(params) is not None:
            config["maxOutputTokens"] = cv.max_tokens(params)
        if params.get("stop") is not None:
            config["stopSequences"] = cv.stop_list(params["stop"])
        config.update(_response_format(params.get("response_format")))
        if config:
            body["generationConfig"] = config
        tools = [t.get("function") or {} for t in params.get("tools") or [] if t.get("type", "function") == "function"]
        if tools:
            body["tools"] = [{"functionDeclarations": [_declaration(f) for f in tools]}]
        choice = params.get("tool_choice")
        if choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _tool_choice(call, choice)}
        extra = cv.passthrough(params, _CONSUMED)
        # generationConfig / safetySettings / cachedContent given by the caller win.
        if "generationConfig" in extra and "generationConfig" in body:
            extra["generationConfig"] = {**body["generationConfig"], **extra["generationConfig"]}
        body.update(extra)
        return body

    def _embedding_request(self, call: Call, root: str, model: str, headers: dict[str, str]) -> HTTPRequest:
        params = call.params
        value = params.get("input")
        texts = value if isinstance(value, list) else [value]
        if not all(isinstance(t, str) for t in texts):
            raise BadRequestError("gemini embeds text only (token-id lists are not accepted)",
                                  llm_provider=self.name, model=call.model, param="input")
        extra = cv.passthrough(params, frozenset({"input", "dimensions", "encoding_format", "user"}))
        if params.get("dimensions") is not None:
            extra["outputDimensionality"] = params["dimensions"]

        def one(text: str) -> dict[str, Any]:
            return {"model": f"models/{model}", "content": {"parts": [{"text": text}]}, **extra}

        if isinstance(value, list):
            return HTTPRequest("POST", root + ":batchEmbedContents", headers, {"requests": [one(t) for t in texts]})
        return HTTPRequest("POST", root + ":embedContent", headers, one(value))

    # -- answers ------------------------------------------------------------

    def parse_response(self, call: Call, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise BadRequestError("gemini answered with an unexpected body", llm_provider=self.name,
                                  model=call.model, status_code=502)
        if call.kind == EMBEDDING:
            found = data.get("embeddings") or [data.get("embedding") or {}]
            return {"object": "list", "model": call.model,
                    "data": [{"object": "embedding", "index": i, "embedding": e.get("values") or []}
                             for i, e in enumerate(found)]}
        self._check_blocked(call, data)
        choices = []
        for position, candidate in enumerate(data.get("candidates") or []):
            text, tools = _candidate_parts(candidate)
            reason = candidate.get("finishReason")
            if reason == "SAFETY" and not text and not tools:
                raise self._refused(call, f"gemini stopped the answer for safety ({_ratings(candidate)})", data)
            finish = _FINISH.get(reason or "", "stop")
            if tools and finish == "stop":
                finish = "tool_calls"
            message = {"role": "assistant", "content": text if (text or not tools) else None,
                       "tool_calls": [_tool_call(part) for part in tools] or None}
            choices.append({"index": candidate.get("index", position), "message": message, "finish_reason": finish})
        return cv.response(call, choices, _usage(data.get("usageMetadata")), id=data.get("responseId"),
                           model=data.get("modelVersion"))

    def parse_stream_event(self, state: StreamState, event: StreamEvent) -> list[dict[str, Any]]:
        data = orjson.loads(event.data)
        call = state.call
        if "error" in data and "candidates" not in data:
            error = data["error"] if isinstance(data["error"], dict) else {}
            status = error.get("code") if isinstance(error.get("code"), int) else 500
            raise self.map_error(call, status, event.data.encode(), {})
        self._check_blocked(call, data)
        if data.get("usageMetadata"):
            # Each event carries the running totals; the last one is the request's.
            state.usage = _usage(data["usageMetadata"])
        state.id = state.id or data.get("responseId") or new_id("chatcmpl")
        state.model = state.model or data.get("modelVersion")
        state.created = state.created or now()
        wrote: dict[int, bool] = state.extra.setdefault("wrote", {})  # choice -> any text or tool call yet
        tool_counts: dict[int, int] = state.extra.setdefault("tools", {})
        chunks = []
        # No end marker: the stream ends with the connection, after the last finishReason.
        for position, candidate in enumerate(data.get("candidates") or []):
            index = candidate.get("index", position)
            text, tools = _candidate_parts(candidate)
            reason = candidate.get("finishReason")
            if reason == "SAFETY" and not text and not tools and not wrote.get(index):
                raise self._refused(call, f"gemini stopped the answer for safety ({_ratings(candidate)})", data)
            delta: dict[str, Any] = {}
            if text:
                delta["content"] = text
            if tools:
                first = tool_counts.get(index, 0)
                delta["tool_calls"] = [{"index": first + i, **_tool_call(part)} for i, part in enumerate(tools)]
                tool_counts[index] = first + len(tools)
            wrote[index] = wrote.get(index, False) or bool(text or tools)
            finish = None
            if reason:
                finish = _FINISH.get(reason, "stop")
                if tool_counts.get(index) and finish == "stop":
                    finish = "tool_calls"
            if delta or finish:
                chunks.append(cv.chunk(state, delta, finish, index))
        return chunks

    def _check_blocked(self, call: Call, data: dict[str, Any]) -> None:
        feedback = data.get("promptFeedback") or {}
        if feedback.get("blockReason") and not data.get("candidates"):
            detail = f" - {feedback['blockReasonMessage']}" if feedback.get("blockReasonMessage") else ""
            raise self._refused(call, f"gemini blocked the prompt: {feedback['blockReason']}{detail}", data)

    def _refused(self, call: Call, message: str, data: Any) -> ContentPolicyViolationError:
        return ContentPolicyViolationError(message, llm_provider=self.name, model=call.model, body=data,
                                           code="content_filter", secrets=call.creds.secrets())

    def map_error(self, call: Call, status: int, body: bytes, headers: dict[str, str]) -> PolyrelayError:
        exc = super().map_error(call, status, body, headers)
        error = (exc.body or {}).get("error") if isinstance(exc.body, dict) else None
        if isinstance(error, dict) and error.get("status"):
            exc.code = str(error["status"])  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...
        text = exc.message.lower()
        cls: type[PolyrelayError] | None = None
        bad_key = "api_key_invalid" in body.decode("utf-8", "replace").lower() or "api key not valid" in text
        if status == 400 and bad_key:
            cls = AuthenticationError  # Google answers a bad key with 400, not 401
        elif status == 400 and any(m in text for m in _CONTEXT_MARKERS):
            cls = ContextWindowExceededError
        if cls is None:
            return exc
        return cls(exc.message, llm_provider=self.name, model=call.model, body=exc.body, headers=headers,
                   code=exc.code, secrets=call.creds.secrets())


# -- request pieces -----------------------------------------------------------


def _contents(call: Call, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(systemInstruction parts, contents). Tool results that follow one
    another become one turn: Gemini wants every functionResponse for a
    model turn's calls together."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name (functionResponse needs the name)
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": p.get("text") or ""} for p in cv.parts(message.get("content"))
                          if p.get("type", "text") == "text")
            continue
        if role == "tool" or role == "function":
            name = message.get("name") or names.get(message.get("tool_call_id") or "", "")
            part = {"functionResponse": {"name": name, "response": _tool_result(message.get("content"))}}
            if contents and contents[-1]["role"] == "user" and "functionResponse" in contents[-1]["parts"][-1]:
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
            continue
        if role == "assistant":
            out = [{"text": p["text"]} for p in cv.parts(message.get("content")) if p.get("text")]
            for tool_call in message.get("tool_calls") or []:
                function = tool_call.get("function") or {}
                names[tool_call.get("id") or ""] = function.get("name") or ""
                out.append({"functionCall": {"name": function.get("name"),
                                             "args": cv.arguments_object(call, function.get("arguments"))}})
            contents.append({"role": "model", "parts": out or [{"text": ""}]})
            continue
        contents.append({"role": "user", "parts": [_part(call, p) for p in cv.parts(message.get("content"))]})
    return system, contents


def _part(call: Call, part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("type", "text")
    if kind == "text":
        return {"text": part.get("text") or ""}
    if kind == "image_url":
        url = cv.image_url(part)
        inline = cv.split_data_url(url)
        if inline:
            return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
        mime = (part.get("image_url") or {}).get("format") if isinstance(part.get("image_url"), dict) else None
        return {"fileData": {"mimeType": mime or mimetypes.guess_type(url)[0] or "image/jpeg", "fileUri": url}}
    raise BadRequestError(f"gemini cannot take content parts of type {kind!r}", llm_provider="gemini",
                          model=call.model, param="messages")


def _tool_result(content: Any) -> dict[str, Any]:
    """functionResponse.response must be an object: JSON objects go as they are."""
    text = cv.text(content)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


def _clean_schema(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _clean_schema(v) for k, v in schema.items() if k not in _SCHEMA_DROP}
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    return schema


def _declaration(function: dict[str, Any]) -> dict[str, Any]:
    out = {"name": function.get("name")}
    if function.get("description"):
        out["description"] = function["description"]
    parameters = function.get("parameters")
    # Gemini rejects an object schema with no properties; a no-argument function omits it.
    if parameters and (parameters.get("properties") or parameters.get("type") != "object"):
        out["parameters"] = _clean_schema(parameters)
    return out


def _tool_choice(call: Call, choice: Any) -> dict[str, Any]:
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"mode": _TOOL_MODES[choice]}
    if isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        return {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}
    raise cv.unsupported(call, "tool_choice", f"value {choice!r}")


def _response_format(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") in (None, "text"):
        return {}
    out: dict[str, Any] = {"responseMimeType": "application/json"}
    schema = (value.get("json_schema") or {}).get("schema") if value.get("type") == "json_schema" else None
    schema = schema or value.get("response_schema")
    if schema:
        out["responseSchema"] = _clean_schema(schema)
    return out


# -- answer pieces ------------------------------------------------------------


def _candidate_parts(candidate: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """(answer text, functionCall parts). Thought summaries are not the answer."""
    parts = (candidate.get("content") or {}).get("parts") or []
    text = "".join(p.get("text") or "" for p in parts if "text" in p and not p.get("thought"))
    return text, [p for p in parts if "functionCall" in p]


def _tool_call(part: dict[str, Any]) -> dict[str, Any]:
    function = part["functionCall"]
    return {"id": function.get("id") or cv.call_id(), "type": "function",
            "function": {"name": function.get("name"), "arguments": cv.arguments_text(function.get("args"))}}


def _ratings(candidate: dict[str, Any]) -> str:
    flagged = [r.get("category", "") for r in candidate.get("safetyRatings") or []
               if r.get("blocked") or r.get("probability") in ("MEDIUM", "HIGH")]
    return ", ".join(flagged) or "no category given"


def _usage(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """promptTokenCount already includes cached tokens (OpenAI's definition);
    thinking tokens are billed as output, so they count as completion; the
    results of tools Gemini ran itself (``toolUsePromptTokenCount``: search
    grounding, code execution) are fed back as input and billed as input, so
    they count as prompt. totalTokenCount is the sum of all four."""
    if not meta:
        return None
    tool_use = count(meta.get("toolUsePromptTokenCount"), "gemini", "toolUsePromptTokenCount")
    prompt = count(meta.get("promptTokenCount"), "gemini", "promptTokenCount") + tool_use
    thoughts = count(meta.get("thoughtsTokenCount"), "gemini", "thoughtsTokenCount")
    completion = count(meta.get("candidatesTokenCount"), "gemini", "candidatesTokenCount") + thoughts
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion}
    if tool_use:
        usage["tool_use_prompt_tokens"] = tool_use
    if meta.get("cachedContentTokenCount") is not None:
        usage["prompt_tokens_details"] = {
            "cached_tokens": count(meta["cachedContentTokenCount"], "gemini", "cachedContentTokenCount")}
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage
