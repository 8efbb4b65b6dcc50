"""A handler's ``response_obj`` is a ``ModelResponse`` whenever its code can read it;
one that never names it is not made one (validating the answer is most of what a
CustomLogger costs a served call). What ``reads_argument`` calls "can read" must
err on the side of building it."""

from __future__ import annotations

import asyncio
import functools
import time

import pytest

from polyrelay.integrations.custom_logger import CustomLogger
from polyrelay.observe import handlers
from polyrelay.observe.custom_logger import reads_argument
from polyrelay.observe.payload import Record
from polyrelay.types import ModelResponse, WireResponse

ANSWER = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o-mini",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there"}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


class ReadsPayloadOnly(CustomLogger):
    def __init__(self):
        super().__init__()
        self.seen = []

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.seen.append(kwargs["standard_logging_object"]["total_tokens"])


class ReadsResponse(ReadsPayloadOnly):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.seen.append(response_obj)


class CallsSuper(ReadsResponse):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        await super().async_log_success_event(kwargs, response_obj, start_time, end_time)


def _wrapped(method):
    @functools.wraps(method)
    async def wrapper(*args, **kwargs):
        return await method(*args, **kwargs)
    return wrapper


class Decorated(ReadsPayloadOnly):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.seen.append(response_obj)

    async_log_success_event = _wrapped(async_log_success_event)


def ignores(kwargs, response_obj, start_time, end_time):
    return kwargs


def returns(kwargs, response_obj, start_time, end_time):
    return response_obj


def captures(kwargs, response_obj, start_time, end_time):
    return lambda: response_obj


def looks_at_locals(kwargs, response_obj, start_time, end_time):
    return locals()["kwargs"]


def debugs(kwargs, response_obj, start_time, end_time):
    breakpoint()  # a debugger shows every local


def reads_its_traceback(kwargs, response_obj, start_time, end_time):
    try:
        raise ValueError
    except ValueError as error:
        return error.__traceback__.tb_frame.f_locals


def takes_star_args(*args):
    return args


class CallableReadsIt:
    def __call__(self, kwargs, response_obj, start_time, end_time):
        return response_obj


@pytest.mark.parametrize("function, reads", [
    (ignores, False), (returns, True), (captures, True), (looks_at_locals, True), (debugs, True),
    (reads_its_traceback, True), (takes_star_args, True),
    (functools.partial(returns, {}), True), (print, True), (CallableReadsIt().__call__, True),
    (ReadsPayloadOnly().async_log_success_event, False), (ReadsResponse().async_log_success_event, True),
    (CallsSuper().async_log_success_event, True), (Decorated().async_log_success_event, True),
])
def test_reads_argument_says_no_only_when_the_code_never_names_it(function, reads):
    assert reads_argument(function, 1) is reads


def _record() -> Record:
    now = time.time()
    return Record(kind="chat", model="gpt-4o-mini", call_id="call-1", kwargs={"model_group": "g"},
                  payload={"messages": [{"role": "user", "content": "hi"}]}, start=now, end=now + 0.01,
                  response=WireResponse(ANSWER))


@pytest.mark.parametrize("handler_class, builds", [(ReadsPayloadOnly, False), (ReadsResponse, True),
                                                   (CallsSuper, True), (Decorated, True)])
def test_the_response_model_is_built_only_for_a_handler_that_reads_it(monkeypatch, handler_class, builds):
    made = []
    real = handlers._as_model
    monkeypatch.setattr(handlers, "_as_model", lambda kind, data: made.append(kind) or real(kind, data))
    handler = handler_class()
    asyncio.run(handlers.LoggerSink(handler).send([("success", _record())]))
    assert made == (["chat"] if builds else [])
    (seen,) = handler.seen
    if builds:
        assert isinstance(seen, ModelResponse) and seen.choices[0].message.content == "Hello there"
        assert seen.usage.total_tokens == 7
    else:
        assert seen == 7  # the payload it reads is whole


def test_a_function_callback_gets_a_model_when_it_reads_one(monkeypatch):
    got = []
    sink = handlers.FunctionSink(lambda kwargs, response_obj, start, end: got.append(response_obj))
    asyncio.run(sink.send([("success", _record())]))
    assert isinstance(got[0], ModelResponse) and got[0].id == "chatcmpl-1"
