"""Chat completion chunks -> Anthropic's stream events, one request at a time.

Anthropic's stream is a sequence of content blocks, each opened, filled by
deltas and closed, with the message around them::

    message_start, ping,
    content_block_start(thinking|text|tool_use), content_block_delta(...)*, content_block_stop,
    ... more blocks ...
    message_delta(stop_reason, usage), message_stop

Chat chunks interleave reasoning, text and tool-call pieces freely; a new
kind of piece closes the open block and opens the next. Usage arrives in
the last chunk (the route asks for ``include_usage``), so ``message_delta``
carries the whole count, input included (the ``anthropic`` SDK takes it
from there).
"""

from __future__ import annotations

from typing import Any

import orjson

from .anthropic_messages import STOP_REASONS, error_body, message_id, usage_from_chat


def event(name: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return name, data


def encode(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    """Server-sent events as Anthropic frames them: ``event:`` and ``data:`` lines."""
    return b"".join(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n" for name, data in events)


class MessageEvents:
    """Turns one stream's chat chunks (wire dicts) into Anthropic SSE bytes."""

    def __init__(self, model: str | None) -> None:
        self.model = model
        self.started = False
        self.index = -1  # the open block's index; -1: none open
        self.open_kind: str | None = None  # "thinking" | "text" | "tool:<chat index>"
        self.stop_reason = "end_turn"
        self.usage: dict[str, Any] | None = None
        self.finished = False

    def chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        return encode(self.events(chunks))

    def end(self) -> bytes:
        """The closing events, once the chat stream has ended."""
        return encode(self.end_events())

    def events(self, chunks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        for chunk in chunks:
            if not self.started:
                out.extend(self._start(chunk))
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue  # Anthropic has one answer per message
                self._delta(choice.get("delta") or {}, out)
                if choice.get("finish_reason"):
                    self.stop_reason = STOP_REASONS.get(choice["finish_reason"], "end_turn")
        return out

    def end_events(self) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        if not self.started:
            out.extend(self._start({}))
        self._close(out)
        out.append(event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": self.stop_reason, "stop_sequence": None},
                                           "usage": usage_from_chat(self.usage)}))
        out.append(event("message_stop", {"type": "message_stop"}))
        self.finished = True
        return out

    @staticmethod
    def error(body: dict[str, Any], status: int) -> bytes:
        """An error after the stream began (``body`` in OpenAI's shape, as the gateway makes it)."""
        return encode([event("error", error_body(status, str((body.get("error") or {}).get("message") or "")))])

    # -- steps -------------------------------------------------------------

    def _start(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        self.started = True
        message = {"id": message_id(chunk.get("id")), "type": "message", "role": "assistant",
                   "model": chunk.get("model") or self.model, "content": [], "stop_reason": None,
                   "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0,
                             "cache_read_input_tokens": 0}}
        return [event("message_start", {"type": "message_start", "message": message}),
                event("ping", {"type": "ping"})]

    def _open(self, kind: str, block: dict[str, Any], out: list) -> None:
        self._close(out)
        self.index += 1
        self.open_kind = kind
        out.append(event("content_block_start", {"type": "content_block_start", "index": self.index,
                                                 "content_block": block}))

    def _close(self, out: list) -> None:
        if self.open_kind is not None:
            out.append(event("content_block_stop", {"type": "content_block_stop", "index": self.index}))
            self.open_kind = None

    def _emit(self, delta: dict[str, Any], out: list) -> None:
        out.append(event("content_block_delta", {"type": "content_block_delta", "index": self.index,
                                                 "delta": delta}))

    def _delta(self, delta: dict[str, Any], out: list) -> None:
        reasoning = delta.get("reasoning_content")
        if reasoning:
            if self.open_kind != "thinking":
                self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            self._emit({"type": "thinking_delta", "thinking": reasoning}, out)
        for block in delta.get("thinking_blocks") or ():
            # A signature (or a redacted block) closes Anthropic's own thinking block.
            if block.get("type") == "thinking" and block.get("signature") and self.open_kind == "thinking":
                self._emit({"type": "signature_delta", "signature": block["signature"]}, out)
        text = delta.get("content")
        if text:
            if self.open_kind != "text":
                self._open("text", {"type": "text", "text": ""}, out)
            self._emit({"type": "text_delta", "text": text}, out)
        for call in delta.get("tool_calls") or ():
            kind = f"tool:{call.get('index', 0)}"
            function = call.get("function") or {}
            if self.open_kind != kind:
                self._open(kind, {"type": "tool_use", "id": call.get("id") or f"toolu_{self.index + 1}",
                                  "name": function.get("name") or "", "input": {}}, out)
            if function.get("arguments"):
                self._emit({"type": "input_json_delta", "partial_json": function["arguments"]}, out)
