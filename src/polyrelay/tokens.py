"""Token counting with OpenAI's BPE tables, offline.

The two tables (cl100k_base, o200k_base) ship inside the package as gzip
files and are checked against the SHA-256 sums tiktoken itself expects, so
no tokenizer is ever fetched at run time. Chat messages are counted the way
OpenAI's cookbook counts them: a fixed overhead per message and per name,
plus three tokens that prime the reply. Tool definitions are counted with
the overheads the same cookbook measured for OpenAI's tool format; that is
exact for flat parameter lists on the models it was measured on and an
estimate elsewhere (nested schemas, other models).

Only OpenAI publishes its tokenizers. For every other provider (Claude,
Gemini, Llama, Mistral, ...) counts use cl100k_base as an approximation:
close for English text, often 10-20% off elsewhere. Use the provider's own
usage (which polyrelay reports whenever the provider does) for billing.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import threading
from importlib import resources
from dataclasses import dataclass
from typing import Any, Iterable

import tiktoken

from .image_tokens import image_part_tokens
from .messages import as_message_dicts, plain

# From tiktoken_ext/openai_public.py: the sums of the published files.
_TABLES = {
    "cl100k_base": (
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
         "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    ),
    "o200k_base": (
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "|".join([
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]),
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
}

# Model-name prefixes on the newer table; everything else OpenAI-like uses cl100k.
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss", "omni-")

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


@dataclass(frozen=True, slots=True)
class ToolOverheads:
    """Tokens OpenAI's tool format adds around the text of tool definitions."""

    per_function: int
    properties_block: int
    per_property: int
    enum_block: int
    per_enum_value: int
    closing: int


# Measured against the API in OpenAI's cookbook ("How to count tokens with
# tiktoken", section 7): gpt-4o / gpt-4o-mini (o200k_base) and gpt-3.5-turbo /
# gpt-4 (cl100k_base). Other models reuse the figures of their table.
TOOL_OVERHEADS = {
    "o200k_base": ToolOverheads(per_function=7, properties_block=3, per_property=3, enum_block=-3,
                                per_enum_value=3, closing=12),
    "cl100k_base": ToolOverheads(per_function=10, properties_block=3, per_property=3, enum_block=-3,
                                 per_enum_value=3, closing=12),
}


_loaded: dict[str, tiktoken.Encoding] = {}
_loading = threading.Lock()  # one load per table, even when threads race for it


def get_encoding(name: str) -> tiktoken.Encoding:
    found = _loaded.get(name)
    if found is not None:
        return found
    with _loading:
        if name not in _loaded:
            _loaded[name] = _load(name)
    return _loaded[name]


def _load(name: str) -> tiktoken.Encoding:
    """Build an encoding from its shipped table: 0.2-1 s and 45-75 MB, so
    tables load on first use, never at import."""
    expected_sha256, pattern, special = _TABLES[name]
    raw = gzip.decompress(
        resources.files("polyrelay.catalog.tokenizers").joinpath(f"{name}.tiktoken.gz").read_bytes()
    )
    if hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise RuntimeError(f"tokenizer table {name} is damaged (checksum mismatch); reinstall polyrelay")
    ranks = {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in raw.splitlines() if line)}
    encoding = tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)
    # The Rust core keeps its own copy of the ranks; tiktoken reads the Python
    # dict only to pickle an Encoding, which we never do. Dropping it saves ~28 MB.
    encoding._mergeable_ranks = {}
    return encoding


async def preload(model: str | None) -> None:
    """Load ``model``'s table on a thread if it is not loaded yet, so an
    event loop never stalls on the first count (servers await this before
    counting)."""
    name = encoding_name_for(model)
    if name not in _loaded:
        await asyncio.to_thread(get_encoding, name)


def encoding_name_for(model: str | None) -> str:
    bare = (model or "").rsplit("/", 1)[-1].lower()
    if bare.startswith("ft:"):
        bare = bare[3:]  # a fine-tune (ft:gpt-4o-mini-2024-07-18:org::id) uses its base model's table
    return "o200k_base" if bare.startswith(_O200K_PREFIXES) else "cl100k_base"


def encoding_for(model: str | None) -> tiktoken.Encoding:
    return get_encoding(encoding_name_for(model))


def count_text(text: str, model: str | None = None) -> int:
    if not text:
        return 0
    return len(encoding_for(model).encode(text, disallowed_special=()))


def content_text(content: Any) -> str:
    """The text of a message's content: a string or a list of content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def count_messages(messages: Iterable[dict[str, Any]], model: str | None = None,
                   tools: list[dict[str, Any]] | None = None, tool_choice: Any = None) -> int:
    enc = encoding_for(model)
    total = REPLY_PRIMING_TOKENS + count_tools(tools, model) + count_tool_choice(tool_choice, model)
    for message in as_message_dicts(messages):  # response objects too; a list of dicts as it is
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "content":
                text = content_text(value)
                if isinstance(value, list):
                    total += sum(image_part_tokens(part) for part in value
                                 if isinstance(part, dict) and part.get("type") == "image_url")
            elif key == "tool_calls" and value:
                text = "".join(
                    (call.get("function") or {}).get("name", "") + (call.get("function") or {}).get("arguments", "")
                    for call in value
                )
            elif isinstance(value, str):
                text = value
            else:
                continue
            total += len(enc.encode(text, disallowed_special=()))
            if key == "name":
                total += TOKENS_PER_NAME
    return total


def _strip_period(text: str) -> str:
    # OpenAI's rendering drops one trailing full stop from descriptions.
    return text[:-1] if text.endswith(".") else text


def _count_properties(enc: tiktoken.Encoding, properties: dict[str, Any], costs: ToolOverheads) -> int:
    total = costs.properties_block
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        total += costs.per_property
        if "enum" in spec:
            total += costs.enum_block
            for value in spec.get("enum") or []:
                total += costs.per_enum_value + len(enc.encode(str(value), disallowed_special=()))
        kind = spec.get("type", "")
        kind = ",".join(map(str, kind)) if isinstance(kind, list) else str(kind)
        line = f"{name}:{kind}:{_strip_period(str(spec.get('description', '')))}"
        total += len(enc.encode(line, disallowed_special=()))
        # Nested objects (directly or as array items): counted by the same rule, an estimate.
        nested = spec.get("properties") or (spec.get("items") or {}).get("properties")
        if isinstance(nested, dict) and nested:
            total += _count_properties(enc, nested, costs)
    return total


def count_tools(tools: list[dict[str, Any]] | None, model: str | None = None) -> int:
    """Tokens that tool definitions (``tools=``, or legacy ``functions=``) add to the prompt."""
    if not tools:
        return 0
    name = encoding_name_for(model)
    enc, costs = get_encoding(name), TOOL_OVERHEADS[name]
    total = costs.closing
    for tool in tools:
        function = tool.get("function", tool) if isinstance(tool, dict) else {}
        line = f"{function.get('name', '')}:{_strip_period(str(function.get('description', '')))}"
        total += costs.per_function + len(enc.encode(line, disallowed_special=()))
        properties = (function.get("parameters") or {}).get("properties")
        if isinstance(properties, dict) and properties:
            total += _count_properties(enc, properties, costs)
    return total


def count_tool_choice(tool_choice: Any, model: str | None = None) -> int:
    """Tokens a ``tool_choice`` adds, as measured by hmarr/openai-chat-tokens against
    the API: ``"none"`` one, a named function its name plus four; ``"auto"`` and
    ``"required"`` nothing measurable."""
    if tool_choice == "none":
        return 1
    if isinstance(tool_choice, dict):
        function = tool_choice.get("function") if isinstance(tool_choice.get("function"), dict) else tool_choice
        return count_text(str(function.get("name") or ""), model) + 4
    return 0


def token_counter(model: str = "", messages: Any = None, text: str | list[str] | None = None,
                  tools: list[Any] | None = None, tool_choice: Any = None, **_: Any) -> int:
    """LiteLLM's ``token_counter``: tokens in ``messages`` (chat format: dicts or
    response message objects, with images, ``tools`` and ``tool_choice``) or in ``text``."""
    tools = plain(tools) if tools else None
    if messages is not None:
        return count_messages(messages, model, tools=tools, tool_choice=plain(tool_choice))
    extra = count_tools(tools, model) + count_tool_choice(plain(tool_choice), model)
    if isinstance(text, list):
        return sum(count_text(t, model) for t in text) + extra
    return count_text(text or "", model) + extra
