"""``CustomLogger``: LiteLLM's callback base class, with its method names and
signatures, so a handler written for LiteLLM runs unchanged.

Subclass it and override what you need; a method left as it is here is
never called (the dispatcher checks which ones a class overrides). This
module imports nothing from the gateway: guardrails subclass it too.

Logging methods (SDK and gateway) run off the call's path, on the
dispatcher's loop (``dispatcher.py``: its own thread in the SDK, the
gateway's loop in the served gateway); sync ones in a worker thread so
blocking I/O in them never stalls other sinks. The ``async_*_hook``
methods are the gateway's and run inside the request: a pre-call hook may
change ``data`` or raise to refuse the call.
"""

from __future__ import annotations

import dis
import inspect
from typing import Any


class CustomLogger:
    def __init__(self, message_logging: bool = True, turn_off_message_logging: bool = False, **kwargs: Any) -> None:
        self.message_logging = message_logging
        self.turn_off_message_logging = turn_off_message_logging

    # --- logging: SDK and gateway -------------------------------------------------------

    def log_pre_api_call(self, model, messages, kwargs):
        pass

    def log_post_api_call(self, kwargs, response_obj, start_time, end_time):
        pass

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_pre_api_call(self, model, messages, kwargs):
        pass

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        pass

    # --- gateway hooks: run inside the request ------------------------------------------

    async def async_pre_call_hook(self, user_api_key_dict, cache, data: dict, call_type: str):
        """Return ``data`` (changed or not) or None to go on; raise to refuse the call."""
        return data

    async def async_post_call_success_hook(self, data: dict, user_api_key_dict, response):
        """Return a response to answer with instead, or None to keep it."""
        return None

    async def async_post_call_failure_hook(self, request_data: dict, original_exception: Exception,
                                           user_api_key_dict, traceback_str: str | None = None):
        return None

    async def async_post_call_streaming_hook(self, user_api_key_dict, response):
        """Called with each streamed chunk; return a chunk to send instead, or None to keep it."""
        return None

    async def async_moderation_hook(self, data: dict, user_api_key_dict, call_type: str):
        pass


def overrides(handler: Any, name: str) -> bool:
    """Whether ``handler``'s class defines ``name`` itself, rather than inheriting our no-op."""
    if not isinstance(handler, CustomLogger):
        return callable(getattr(handler, name, None))
    return getattr(type(handler), name, None) is not getattr(CustomLogger, name)


# Names through which a function can reach its own locals without naming them (calls, and
# the attributes of frames and tracebacks, which its code names too).
_FRAME_ACCESS = frozenset({"locals", "vars", "eval", "exec", "_getframe", "currentframe", "stack", "breakpoint",
                           "set_trace", "f_locals", "tb_frame"})


def reads_argument(function: Any, position: int) -> bool:
    """Whether ``function`` can read its positional argument ``position`` (0 = first after
    ``self``). False only when its own code provably never names that parameter: not
    loaded, not captured by a closure, no ``locals()``/frame access; anything not plain
    Python code (a builtin, a ``*args`` wrapper, a decorator's) counts as reading it.
    The dispatcher builds a handler's ``response_obj`` only for handlers that read it:
    validating the answer as a ``ModelResponse`` is the largest part of what a
    ``CustomLogger`` costs a call, and many read only ``kwargs["standard_logging_object"]``."""
    offset = 1 if inspect.ismethod(function) else 0
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    if code is None or offset + position >= code.co_argcount:
        return True  # not plain Python, or the value arrives through *args
    name = code.co_varnames[offset + position]
    if name in code.co_cellvars or _FRAME_ACCESS.intersection(code.co_names):
        return True
    for instruction in dis.get_instructions(code):
        value = instruction.argval
        if value == name or (isinstance(value, tuple) and name in value):
            return True
    return False
