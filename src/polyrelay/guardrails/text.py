"""Where the text is in requests, answers and stream chunks (wire-shaped dicts).

Each function yields ``(container, key)`` pairs whose ``container[key]`` is a
string, so a guardrail can read it and, to mask, write it back in place.
"""

from __future__ import annotations

from typing import Any, Iterator

Slot = tuple[Any, Any]


def request_slots(data: dict[str, Any]) -> Iterator[Slot]:
    """Message contents (plain or text parts), ``prompt`` and ``input`` strings."""
    messages = data.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            if isinstance(content, str):
                yield message, "content"
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        yield part, "text"
    documents = data.get("documents")  # rerank
    if isinstance(documents, list):
        for i, document in enumerate(documents):
            if isinstance(document, str):
                yield documents, i
            elif isinstance(document, dict) and isinstance(document.get("text"), str):
                yield document, "text"
    for name in ("prompt", "input", "query"):
        value = data.get(name)
        if isinstance(value, str):
            yield data, name
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, str):
                    yield value, i


def response_slots(data: dict[str, Any]) -> Iterator[Slot]:
    """Chat answers' message contents and text completions' ``text``; a transcript's
    ``text``, images' ``revised_prompt``, the documents rerank results return."""
    if isinstance(data.get("text"), str):
        yield data, "text"
    for item in data.get("data") or () if isinstance(data.get("data"), list) else ():
        if isinstance(item, dict) and isinstance(item.get("revised_prompt"), str):
            yield item, "revised_prompt"
    for result in data.get("results") or () if isinstance(data.get("results"), list) else ():
        document = result.get("document") if isinstance(result, dict) else None
        if isinstance(document, dict) and isinstance(document.get("text"), str):
            yield document, "text"
    for choice in data.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            yield message, "content"
        if isinstance(choice.get("text"), str):
            yield choice, "text"


def chunk_pieces(chunk: dict[str, Any]) -> Iterator[tuple[int, str]]:
    """(choice index, new text) of one stream chunk."""
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        if isinstance(text, str) and text:
            yield choice.get("index") or 0, text
