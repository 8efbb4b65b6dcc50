"""What each field of an LLM request may hold: types, ranges and sizes,
checked at the edge so bad input is a 400 naming the field — never a
500 from deep inside, a negative reservation, or a record that cannot be
stored.

A rule is a callable taking the value and returning ``None`` when it is
acceptable, else a short description of what was expected. Rules run only
on the fields a request carries, once each: plain ``isinstance`` checks on
the hot path, with the walks (messages, free-form objects) bounded by the
limits below.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..errors import BadRequestError

Rule = Callable[[Any], "str | None"]

# An identifier a caller chooses (end user, model group, tag...): stored in
# spend records and used as a state key, so it is bounded.
MAX_ID_CHARS = 256
# Free-form objects (metadata, user_config, extra_headers): small and shallow.
MAX_FREEFORM_DEPTH = 12
MAX_FREEFORM_ITEMS = 2_000  # values in all, across every level
MAX_RETRIES = 10
MAX_N = 128  # OpenAI's own limit for n
MAX_TOKENS_LIMIT = 10_000_000  # no model takes more; larger values only inflate reservations
MESSAGE_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def invalid(param: str, what: str, value: Any) -> BadRequestError:
    shown = repr(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else json_type(value)
    return BadRequestError(f"Invalid value for {param!r}: expected {what}, got {shown}.", param=param.split(".")[0]
                           .split("[")[0], code="invalid_value")


# --- scalar rules -----------------------------------------------------------

def typed(kinds: type | tuple[type, ...], what: str) -> Rule:
    def rule(value: Any) -> str | None:
        if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
            return what
        return None if isinstance(value, kinds) else what
    return rule


def integer(low: int | None = None, high: int | None = None) -> Rule:
    what = _range_text("an integer", low, high)

    def rule(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return what
        if (low is not None and value < low) or (high is not None and value > high):
            return what
        return None
    return rule


def number(low: float | None = None, high: float | None = None, above: float | None = None) -> Rule:
    what = _range_text("a number", low, high, above)

    def rule(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return what
        if (low is not None and value < low) or (high is not None and value > high):
            return what
        if above is not None and value <= above:
            return what
        return None
    return rule


def _range_text(kind: str, low: float | None, high: float | None, above: float | None = None) -> str:
    if above is not None:
        return f"{kind} greater than {above:g}" + (f" and at most {high:g}" if high is not None else "")
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} of at least {low:g}"
    return kind


def identifier(value: Any) -> str | None:
    """A caller-chosen name: a string of printable characters, bounded."""
    if not isinstance(value, str):
        return "a string"
    if len(value) > MAX_ID_CHARS:
        return f"a string of at most {MAX_ID_CHARS} characters"
    if not value.isprintable():
        return "a string without control characters"
    return None


def str_or_list_of_str(value: Any) -> str | None:
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return None
    return "a string or an array of strings"


# Headers that decide where a request goes or how it is framed: a client that set
# Host could steer the deployment's credentials to another site behind a shared proxy.
FRAMING_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade", "te",
                             "trailer", "keep-alive", "expect", "proxy-authorization", "proxy-connection"})


def string_map(value: Any) -> str | None:
    """Headers for the upstream call: an object of string values, none of them framing or routing."""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return "an object of string values"
    if any(not str(k).isprintable() or not v.isprintable() for k, v in value.items()):
        return "an object of header names and values without control characters"
    if any(str(k).strip().lower() in FRAMING_HEADERS for k in value):
        return "headers other than " + ", ".join(sorted(FRAMING_HEADERS))
    return None


def freeform(value: Any) -> str | None:
    """An object the caller shapes freely (metadata, user_config): bounded depth and size,
    so it can always be serialised and stored."""
    if not isinstance(value, dict):
        return "an object"
    budget = [MAX_FREEFORM_ITEMS]
    if not _within(value, MAX_FREEFORM_DEPTH, budget):
        return (f"an object nested at most {MAX_FREEFORM_DEPTH} levels deep with at most "
                f"{MAX_FREEFORM_ITEMS} values")
    return None


def _within(node: Any, depth: int, budget: list[int]) -> bool:
    if isinstance(node, dict):
        items = node.values()
    elif isinstance(node, list):
        items = node
    else:
        return True
    if depth <= 0:
        return False
    budget[0] -= len(node)
    if budget[0] < 0:
        return False
    return all(_within(item, depth - 1, budget) for item in items)


# --- structured inputs ------------------------------------------------------

def check_messages(messages: Any) -> None:
    """Chat messages as OpenAI accepts them: the structure every provider
    adapter and the token counter rely on."""
    if not isinstance(messages, list) or not messages:
        raise invalid("messages", "a non-empty array of message objects", messages)
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise invalid(where, "a message object", message)
        role = message.get("role")
        if not isinstance(role, str) or role not in MESSAGE_ROLES:
            raise invalid(f"{where}.role", "one of " + ", ".join(sorted(MESSAGE_ROLES)), role)
        _check_content(where, message.get("content"))
        for key in ("name", "tool_call_id"):
            if message.get(key) is not None and not isinstance(message[key], str):
                raise invalid(f"{where}.{key}", "a string", message[key])
        tool_calls = message.get("tool_calls")
        if tool_calls is not None:
            _check_tool_calls(where, tool_calls)


def _check_content(where: str, content: Any) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "a string or an array of content parts", content)
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if isinstance(part, str):
            continue  # some clients send bare strings; adapters treat them as text
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise invalid(at, "a content part object with a 'type'", part)
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise invalid(f"{at}.text", "a string", part.get("text"))
        if part["type"] == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise invalid(f"{at}.image_url.url", "a string", url)


def _check_tool_calls(where: str, tool_calls: Any) -> None:
    if not isinstance(tool_calls, list):
        raise invalid(f"{where}.tool_calls", "an array of tool call objects", tool_calls)
    for k, call in enumerate(tool_calls):
        at = f"{where}.tool_calls[{k}]"
        if not isinstance(call, dict):
            raise invalid(at, "a tool call object", call)
        function = call.get("function")
        if function is not None:
            if not isinstance(function, dict):
                raise invalid(f"{at}.function", "an object", function)
            for key in ("name", "arguments"):
                if function.get(key) is not None and not isinstance(function[key], str):
                    raise invalid(f"{at}.function.{key}", "a string", function[key])


def check_text_input(field: str, value: Any) -> None:
    """A prompt or an embedding/moderation input: a string, an array of
    strings, an array of token ids, or an array of arrays of token ids."""
    if isinstance(value, str):
        return
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return
        if all(_is_tokens(v) for v in value):
            return
        if all(isinstance(v, list) and v and all(_is_tokens(t) for t in v) for v in value):
            return
    raise invalid(field, "a string, an array of strings, or an array of token ids (or of arrays of them)", value)


def _is_tokens(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- the rules every LLM route shares ---------------------------------------

STR = typed(str, "a string")
BOOL = typed(bool, "a boolean")
LIST = typed(list, "an array")
OBJECT = typed(dict, "an object")
STR_OR_OBJECT = typed((str, dict), "a string or an object")
TOKENS = integer(1, MAX_TOKENS_LIMIT)

COMMON_FIELDS: dict[str, Rule] = {
    "model": identifier, "user": identifier, "metadata": freeform, "fallbacks": LIST,
    "num_retries": integer(0, MAX_RETRIES), "max_retries": integer(0, MAX_RETRIES),
    "timeout": number(above=0, high=86_400), "request_timeout": number(above=0, high=86_400),
    "user_config": freeform, "api_key": STR, "api_base": STR, "base_url": STR, "api_version": STR,
    "mock_response": STR_OR_OBJECT, "mock_status": integer(100, 599), "mock_delay": number(0, 600),
    "mock_token_delay": number(0, 60), "stream": BOOL, "extra_headers": string_map, "headers": string_map,
}
SAMPLING_FIELDS: dict[str, Rule] = {
    "temperature": number(0, 2), "top_p": number(0, 1), "n": integer(1, MAX_N), "stop": str_or_list_of_str,
    "max_tokens": TOKENS, "presence_penalty": number(-2, 2), "frequency_penalty": number(-2, 2),
    "logit_bias": OBJECT, "seed": integer(), "stream_options": OBJECT,
}


def check_fields(body: dict[str, Any], rules: dict[str, Rule]) -> None:
    for key, value in body.items():
        rule = rules.get(key)
        if rule is not None and value is not None:
            what = rule(value)
            if what is not None:
                raise invalid(key, what, value)
