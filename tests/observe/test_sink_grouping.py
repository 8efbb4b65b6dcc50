"""In a served gateway the service sinks run in the sink process; a phase's
records for all of them cross to it as one stand-in sink (one line, one turn
of the dispatcher), yet drops are still counted per callback."""

from __future__ import annotations

import collections

from polyrelay.observe import dispatcher, handlers


def test_offloaded_service_sinks_are_one_stand_in_per_phase(monkeypatch):
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-1")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-1")
    monkeypatch.setenv("GENERIC_LOGGER_ENDPOINT", "http://127.0.0.1:9/logs")
    monkeypatch.setattr(handlers, "OFFLOADED", handlers.OFFLOADED)  # restored after the test
    handlers.offload_service_sinks()
    resolved = handlers.resolve([], ["langfuse", "generic_api"], ["langfuse"])
    (success,) = resolved.success
    (failure,) = resolved.failure
    assert success.remote and success.names == ("langfuse", "generic_api")
    assert failure.names == ("langfuse",) and failure is not success
    assert handlers.resolve([], ["langfuse", "generic_api"], ["langfuse"]).success == [success]

    dropped: collections.Counter = collections.Counter()
    dispatcher._count(dropped, success, 2)
    dispatcher._count(dropped, failure, 1)
    assert dropped == {"langfuse": 3, "generic_api": 2}
