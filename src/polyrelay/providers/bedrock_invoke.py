"""Bedrock's InvokeModel API (``bedrock/invoke/<model id>``): each family's own body.

``POST /model/{modelId}/invoke`` takes and returns the model vendor's native
JSON; ``/invoke-with-response-stream`` answers in AWS's event-stream framing,
one ``chunk`` event per piece whose payload is ``{"bytes": <base64 of the
vendor's JSON chunk>}``. The last chunk carries
``amazon-bedrock-invocationMetrics`` (inputTokenCount, outputTokenCount), and
a non-streamed answer carries the same counts in the
``x-amzn-bedrock-input-token-count`` / ``-output-token-count`` headers: those
are the usage for the families whose body has none (Mistral, Cohere).

Bodies, from the Bedrock user guide's "Inference request parameters and
response fields for foundation models":

- Anthropic Claude: the Messages API body with ``anthropic_version:
  "bedrock-2023-05-31"`` instead of a model field or a version header.
- Meta Llama: ``prompt`` (the chat template written out), ``max_gen_len``.
- Mistral (7B, Mixtral, Large/Small 2402): ``prompt`` in ``[INST]`` form, ``max_tokens``.
- Amazon Titan Text: ``inputText`` and ``textGenerationConfig``.
- Amazon Nova: ``schemaVersion: "messages-v1"``, Converse-like messages.
- Cohere Command R / R+: ``message``, ``chat_history``, ``preamble``.
- OpenAI gpt-oss: OpenAI's Chat Completions body and answer, as they are.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

import orjson

from ..errors import BadRequestError
from . import _convert as cv
from .anthropic import UNSUPPORTED as ANTHROPIC_UNSUPPORTED
from .anthropic import AnthropicAdapter
from .base import Call, StreamEvent, StreamState

ANTHROPIC_VERSION = "bedrock-2023-05-31"
_ANTHROPIC = AnthropicAdapter()
_METRICS = "amazon-bedrock-invocationMetrics"
_TITAN_FINISH = {"FINISH": "stop", "LENGTH": "length", "CONTENT_FILTERED": "content_filter",
                 "STOP_CRITERIA_MET": "stop"}
_COHERE_FINISH = {"COMPLETE": "stop", "MAX_TOKENS": "length", "ERROR_TOXIC": "content_filter",
                  "STOP_SEQUENCE": "stop"}
# bare-id prefix -> the family whose native body /invoke takes.
_FAMILIES = (("anthropic.claude", "anthropic"), ("meta.llama2", "llama2"), ("meta.llama", "llama3"),
             ("mistral.mistral-7b", "mistral"), ("mistral.mixtral", "mistral"),
             ("mistral.mistral-large-2402", "mistral"), ("mistral.mistral-small-2402", "mistral"),
             ("amazon.titan-text", "titan"), ("amazon.nova", "nova"), ("cohere.command-r", "cohere"),
             ("openai.gpt-oss", "openai"))
_PROMPT_FAMILIES = ("llama2", "llama3", "mistral", "titan", "cohere")


def family_of(call: Call, bare: str) -> str:
    for prefix, name in _FAMILIES:
        if bare.startswith(prefix):
            return name
    known = ", ".join(sorted({p for p, _ in _FAMILIES}))
    raise BadRequestError(f"bedrock/invoke/ does not know the native body of {bare!r} (it knows {known}); "
                          f"use bedrock/{bare} (the Converse API) instead", llm_provider="bedrock",
                          model=call.model, param="model")


def request_body(call: Call, kind: str) -> dict[str, Any]:
    params = call.params
    if kind == "anthropic":
        # The end-user id is ours to track: Bedrock's Claude body has no metadata field to carry it.
        body = _ANTHROPIC.request_body(replace(call, params={k: v for k, v in params.items() if k != "user"}))
        body.pop("model", None)  # the model is in the URL
        body.pop("stream", None)  # the URL says whether to stream
        return {"anthropic_version": ANTHROPIC_VERSION, **body}
    if kind in _PROMPT_FAMILIES:
        for name in ("tools", "tool_choice"):
            if params.get(name) is not None:
                raise cv.unsupported(call, name, f"on bedrock/invoke/ for {kind} models (use the Converse route)")
    if kind == "nova":
        return _nova_body(call)
    if kind == "openai":
        # gpt-oss takes OpenAI's Chat Completions body as it is; model and stream come from the URL.
        return {k: v for k, v in params.items() if k not in ("model", "stream", "stream_options")}
    system, turns = _turns(call)
    limit, stop = cv.max_tokens(params), cv.stop_list(params.get("stop"))
    sampling = {k: params[k] for k in ("temperature", "top_p") if params.get(k) is not None}
    extra = cv.passthrough(params, frozenset({"messages", "max_tokens", "max_completion_tokens", "temperature",
                                              "top_p", "stop", "user", "tools", "tool_choice"}))
    if kind in ("llama2", "llama3"):
        body: dict[str, Any] = {"prompt": (_llama3 if kind == "llama3" else _llama2)(system, turns), **sampling}
        if limit is not None:
            body["max_gen_len"] = limit
        if stop:
            raise cv.unsupported(call, "stop", "on Meta Llama's invoke body (it has no stop sequences)")
        return {**body, **extra}
    if kind == "mistral":
        body = {"prompt": _mistral(system, turns), **sampling}
        if limit is not None:
            body["max_tokens"] = limit
        if stop:
            body["stop"] = stop
        return {**body, **extra}
    if kind == "titan":
        config: dict[str, Any] = {"temperature": params.get("temperature"), "topP": params.get("top_p"),
                                  "maxTokenCount": limit, "stopSequences": stop or None}
        prompt = "\n".join(([system] if system else []) +
                           [f"{'User' if role == 'user' else 'Bot'}: {text}" for role, text in turns]) + "\nBot:"
        return {"inputText": prompt, "textGenerationConfig": {k: v for k, v in config.items() if v is not None},
                **extra}
    # cohere: the last user turn is the message, the turns before it the history.
    if not turns or turns[-1][0] != "user":
        raise BadRequestError("Cohere Command R on bedrock/invoke/ needs the conversation to end with a user message",
                              llm_provider="bedrock", model=call.model, param="messages")
    body = {"message": turns[-1][1],
            "chat_history": [{"role": "USER" if r == "user" else "CHATBOT", "message": t} for r, t in turns[:-1]]}
    if system:
        body["preamble"] = system
    if limit is not None:
        body["max_tokens"] = limit
    if params.get("temperature") is not None:
        body["temperature"] = params["temperature"]
    if params.get("top_p") is not None:
        body["p"] = params["top_p"]
    if stop:
        body["stop_sequences"] = stop
    return {**body, **extra}


def _turns(call: Call) -> tuple[str, list[tuple[str, str]]]:
    """(system text, [(role, text)]) of a text-only conversation."""
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for message in call.params.get("messages") or []:
        role = message.get("role")
        if role == "tool" or message.get("tool_calls"):
            raise cv.unsupported(call, "messages", "with tool calls on bedrock/invoke/ for prompt-based models")
        text = cv.text_only(call, message.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        else:
            turns.append(("assistant" if role == "assistant" else "user", text))
    return "\n".join(system), turns


def _llama3(system: str, turns: list[tuple[str, str]]) -> str:
    """Llama 3's chat template, ending with the assistant header for the model to answer after."""
    out = ["<|begin_of_text|>"]
    for role, text in ([("system", system)] if system else []) + turns:
        out.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{text}<|eot_id|>")
    out.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return "".join(out)


def _llama2(system: str, turns: list[tuple[str, str]]) -> str:
    out, pending_system = [], f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system else ""
    for role, text in turns:
        if role == "user":
            out.append(f"<s>[INST] {pending_system}{text} [/INST]")
            pending_system = ""
        else:
            out.append(f" {text} </s>")
    return "".join(out)


def _mistral(system: str, turns: list[tuple[str, str]]) -> str:
    """Mistral's instruct format: the system text goes in front of the first instruction."""
    out, pending = ["<s>"], f"{system}\n" if system else ""
    for role, text in turns:
        if role == "user":
            out.append(f"[INST] {pending}{text} [/INST]")
            pending = ""
        else:
            out.append(f"{text}</s>")
    return "".join(out)


def _nova_body(call: Call) -> dict[str, Any]:
    from .bedrock import _messages  # Nova's invoke messages are Converse's

    params = call.params
    system, messages = _messages(call, params.get("messages") or [])
    body: dict[str, Any] = {"schemaVersion": "messages-v1", "messages": messages}
    if system:
        body["system"] = system
    config = {"max_new_tokens": cv.max_tokens(params), "temperature": params.get("temperature"),
              "top_p": params.get("top_p"), "stopSequences": cv.stop_list(params.get("stop")) or None}
    config = {k: v for k, v in config.items() if v is not None}
    if config:
        body["inferenceConfig"] = config
    tools = [t.get("function") or {} for t in params.get("tools") or []]
    choice = params.get("tool_choice")
    if tools and choice != "none":
        body["toolConfig"] = {"tools": [{"toolSpec": {
            "name": f.get("name"), "description": f.get("description") or f.get("name"),
            "inputSchema": {"json": f.get("parameters") or {"type": "object", "properties": {}}}}} for f in tools]}
        if choice == "required":
            body["toolConfig"]["toolChoice"] = {"any": {}}
        elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
            body["toolConfig"]["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
        elif choice not in (None, "auto"):
            raise cv.unsupported(call, "tool_choice", f"value {choice!r}")
    extra = cv.passthrough(params, frozenset({"messages", "max_tokens", "max_completion_tokens", "temperature",
                                              "top_p", "stop", "user", "tools", "tool_choice"}))
    return {**body, **extra}


def guardrail_headers(call: Call, config: dict[str, Any]) -> dict[str, str]:
    """InvokeModel takes a guardrail as headers, not in the (vendor's) body;
    they are signed with the rest."""
    if "streamProcessingMode" in config:
        raise BadRequestError("guardrailConfig.streamProcessingMode is ConverseStream's: InvokeModel has no such "
                              "setting (use the Converse route, bedrock/<model id>)", llm_provider="bedrock",
                              model=call.model, param="guardrailConfig")
    headers = {"X-Amzn-Bedrock-GuardrailIdentifier": str(config["guardrailIdentifier"]),
               "X-Amzn-Bedrock-GuardrailVersion": str(config["guardrailVersion"])}
    if config.get("trace"):
        headers["X-Amzn-Bedrock-Trace"] = str(config["trace"]).upper()  # ENABLED | DISABLED | ENABLED_FULL
    return headers


# -- answers -------------------------------------------------------------------


def parse(call: Call, kind: str, data: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    answer = _parse(call, kind, data, headers)
    # A guardrail given as headers answers in the body: its action, and its trace when asked for.
    if data.get("amazon-bedrock-guardrailAction") == "INTERVENED":
        for choice in answer.get("choices") or []:
            choice["finish_reason"] = "content_filter"
    if data.get("amazon-bedrock-trace"):
        answer["trace"] = data["amazon-bedrock-trace"]
    return answer


def _parse(call: Call, kind: str, data: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    if kind == "anthropic":
        return _ANTHROPIC.parse_response(call, data)
    if kind == "nova":
        from .bedrock import BedrockAdapter  # Nova answers in Converse's shape

        return BedrockAdapter.converse_answer(call, data)
    if kind == "openai":
        if not data.get("usage"):
            data = {**data, "usage": _header_usage(headers)}
        return data  # OpenAI's own chat completion object
    counted = _header_usage(headers)
    if kind in ("llama2", "llama3"):
        text, finish = data.get("generation") or "", "length" if data.get("stop_reason") == "length" else "stop"
        usage = _usage(data.get("prompt_token_count"), data.get("generation_token_count")) or counted
    elif kind == "mistral":
        output = (data.get("outputs") or [{}])[0]
        text, finish = output.get("text") or "", "length" if output.get("stop_reason") == "length" else "stop"
        usage = counted
    elif kind == "titan":
        result = (data.get("results") or [{}])[0]
        text, finish = result.get("outputText") or "", _TITAN_FINISH.get(result.get("completionReason") or "", "stop")
        usage = _usage(data.get("inputTextTokenCount"), result.get("tokenCount")) or counted
    else:  # cohere
        text, finish = data.get("text") or "", _COHERE_FINISH.get(data.get("finish_reason") or "", "stop")
        usage = counted
    message = {"role": "assistant", "content": text}
    return cv.response(call, [{"index": 0, "message": message, "finish_reason": finish}], usage)


def parse_chunk(state: StreamState, kind: str, event: StreamEvent) -> list[dict[str, Any]]:
    """One ``chunk`` event of /invoke-with-response-stream."""
    wrapper = orjson.loads(event.data) if event.data else {}
    data = orjson.loads(base64.b64decode(wrapper.get("bytes") or b"")) if wrapper.get("bytes") else {}
    metrics = data.get(_METRICS) or {}
    if kind == "anthropic":
        out = _ANTHROPIC.parse_stream_event(state, StreamEvent(orjson.dumps(data).decode(), data.get("type")))
    elif kind == "nova":
        from .bedrock import BedrockAdapter

        out = []
        for name in ("messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop",
                     "metadata"):
            if name in data:
                out += BedrockAdapter.converse_event(state, name, data[name])
    elif kind == "openai":
        if data.get("usage"):
            state.usage = data["usage"]
        out = [{k: v for k, v in data.items() if k != _METRICS}] if data.get("choices") else []
    else:
        out = _prompt_chunk(state, kind, data)
    if metrics and state.usage is None:
        state.usage = _usage(metrics.get("inputTokenCount"), metrics.get("outputTokenCount"))
    if metrics:
        state.finished = True  # the last chunk of every family carries the metrics
    return out


def _prompt_chunk(state: StreamState, kind: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    if kind in ("llama2", "llama3"):
        text, reason = data.get("generation"), data.get("stop_reason")
        finish = None if reason is None else ("length" if reason == "length" else "stop")
    elif kind == "mistral":
        output = (data.get("outputs") or [{}])[0]
        text, reason = output.get("text"), output.get("stop_reason")
        finish = None if reason is None else ("length" if reason == "length" else "stop")
    elif kind == "titan":
        text, reason = data.get("outputText"), data.get("completionReason")
        finish = None if reason is None else _TITAN_FINISH.get(reason, "stop")
    else:  # cohere: text-generation events, then stream-end with the finish reason
        event = data.get("event_type")
        text = data.get("text") if event == "text-generation" else None
        finish = _COHERE_FINISH.get(data.get("finish_reason") or "", "stop") if event == "stream-end" else None
    out = [cv.chunk(state, {"content": text})] if text else []
    if finish:
        out.append(cv.chunk(state, {}, finish))
    return out


def _usage(prompt: Any, completion: Any) -> dict[str, Any] | None:
    if prompt is None or completion is None:
        return None
    prompt, completion = int(prompt), int(completion)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _header_usage(headers: dict[str, str]) -> dict[str, Any] | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        return _usage(lowered.get("x-amzn-bedrock-input-token-count"),
                      lowered.get("x-amzn-bedrock-output-token-count"))
    except ValueError:
        return None
