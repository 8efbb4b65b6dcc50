"""Chat completion chunks -> the Responses API's stream events.

Each output item is announced, filled and closed::

    response.created, response.in_progress,
    response.output_item.added(message), response.content_part.added,
    response.output_text.delta*, response.output_text.done, response.content_part.done,
    response.output_item.done,
    response.output_item.added(function_call), response.function_call_arguments.delta*,
    response.function_call_arguments.done, response.output_item.done,
    response.completed (the whole Response, with usage)

Every event carries a ``sequence_number``. An error after the stream began
ends it with ``response.failed``. ``on_done`` receives the finished
Response (to store it for ``previous_response_id`` and GET).
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from .responses import finish, function_item, message_item, new_id, reasoning_item


def encode(events: list[dict[str, Any]]) -> bytes:
    """Server-sent events as OpenAI frames them: ``event:`` and ``data:`` lines, no [DONE]."""
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


class ResponseEvents:
    def __init__(self, response: dict[str, Any], on_done: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.response = response
        self.on_done = on_done
        self.sequence = 0
        self.started = False
        self.output: list[dict[str, Any]] = []
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.open_key: str | None = None  # "text" | "reasoning" | "tool:<chat index>"
        self.usage: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def _event(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        data = {"type": kind, **data, "sequence_number": self.sequence}
        self.sequence += 1
        return data

    def _start(self, out: list[dict[str, Any]], model: str | None = None) -> None:
        self.started = True
        if model:
            self.response["model"] = model
        out.append(self._event("response.created", {"response": self.response}))
        out.append(self._event("response.in_progress", {"response": self.response}))

    def chunks(self, chunks: list[dict[str, Any]]) -> bytes:
        return encode(self.events(chunks))

    def end(self) -> bytes:
        return encode(self.end_events())

    def events(self, chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for chunk in chunks:
            if not self.started:
                self._start(out, chunk.get("model"))
            if chunk.get("usage"):
                self.usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                self._delta(choice.get("delta") or {}, out)
                if choice.get("finish_reason"):
                    self.finish_reason = choice["finish_reason"]
        return out

    def end_events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.started:
            self._start(out)
        self._close(out)
        response = finish(self.response, self.output, self.usage, self.finish_reason)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        out.append(self._event(kind, {"response": response}))
        if self.on_done is not None:
            self.on_done(response)
        return out

    def error(self, body: dict[str, Any], status: int) -> bytes:
        error = body.get("error") or {}
        self.response.update(status="failed", output=self.output,
                             error={"code": error.get("code") or error.get("type") or "server_error",
                                    "message": error.get("message") or ""})
        return encode([self._event("response.failed", {"response": self.response})])

    # -- items -------------------------------------------------------------

    def _open_item(self, key: str, item: dict[str, Any], out: list[dict[str, Any]]) -> None:
        self._close(out)
        self.open, self.open_key = item, key
        out.append(self._event("response.output_item.added", {"output_index": len(self.output), "item": item}))
        if item["type"] == "message":
            out.append(self._event("response.content_part.added", {
                "item_id": item["id"], "output_index": len(self.output), "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}))

    def _close(self, out: list[dict[str, Any]]) -> None:
        item = self.open
        if item is None:
            return
        index = len(self.output)
        item["status"] = "completed"
        if item["type"] == "message":
            part = item["content"][0]
            out.append(self._event("response.output_text.done", {"item_id": item["id"], "output_index": index,
                                                                 "content_index": 0, "text": part["text"],
                                                                 "logprobs": []}))
            out.append(self._event("response.content_part.done", {"item_id": item["id"], "output_index": index,
                                                                  "content_index": 0, "part": part}))
        elif item["type"] == "function_call":
            out.append(self._event("response.function_call_arguments.done", {
                "item_id": item["id"], "output_index": index, "name": item["name"],
                "arguments": item["arguments"]}))
        elif item["type"] == "reasoning":
            summary = item["summary"][0]
            out.append(self._event("response.reasoning_summary_text.done", {
                "item_id": item["id"], "output_index": index, "summary_index": 0, "text": summary["text"]}))
        out.append(self._event("response.output_item.done", {"output_index": index, "item": item}))
        self.output.append(item)
        self.open = self.open_key = None

    def _delta(self, delta: dict[str, Any], out: list[dict[str, Any]]) -> None:
        reasoning = delta.get("reasoning_content")
        if reasoning:
            if self.open_key != "reasoning":
                self._open_item("reasoning", reasoning_item(""), out)
            assert self.open is not None
            self.open["summary"][0]["text"] += reasoning
            out.append(self._event("response.reasoning_summary_text.delta", {
                "item_id": self.open["id"], "output_index": len(self.output), "summary_index": 0,
                "delta": reasoning}))
        text = delta.get("content")
        if text:
            if self.open_key != "text":
                self._open_item("text", message_item("", status="in_progress"), out)
            assert self.open is not None
            self.open["content"][0]["text"] += text
            out.append(self._event("response.output_text.delta", {
                "item_id": self.open["id"], "output_index": len(self.output), "content_index": 0, "delta": text,
                "logprobs": []}))
        for call in delta.get("tool_calls") or ():
            key = f"tool:{call.get('index', 0)}"
            function = call.get("function") or {}
            if self.open_key != key:
                self._open_item(key, function_item(call.get("id") or new_id("call"), function.get("name") or "", "",
                                                   status="in_progress"), out)
            assert self.open is not None
            if function.get("arguments"):
                self.open["arguments"] += function["arguments"]
                out.append(self._event("response.function_call_arguments.delta", {
                    "item_id": self.open["id"], "output_index": len(self.output),
                    "delta": function["arguments"]}))
