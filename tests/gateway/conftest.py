"""Fixtures for gateway tests: fake providers shared by a module, and a
helper to reset them between tests."""

from __future__ import annotations

import pytest

from fakeserver import FakeServer


def reset(fake: FakeServer) -> FakeServer:
    """Forget recorded requests and scripted replies (the fake outlives one test)."""
    fake.requests.clear()
    with fake._lock:
        fake._queue.clear()
    fake.default = None
    return fake


@pytest.fixture(scope="module")
def upstream():
    """An OpenAI-protocol fake provider shared by every test of a module."""
    server = FakeServer().start()
    yield server
    server.stop()
