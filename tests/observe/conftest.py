"""Callbacks are process-wide settings: each test starts and ends with none."""

from __future__ import annotations

import pytest

import polyrelay
from polyrelay.observe import DISPATCHER, dispatcher, handlers


@pytest.fixture(autouse=True)
def clean_callbacks(monkeypatch):
    monkeypatch.setattr(dispatcher, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(dispatcher, "FLUSH_INTERVAL", 0.05)
    yield
    DISPATCHER.flush(10)
    polyrelay.callbacks = []
    polyrelay.success_callback = []
    polyrelay.failure_callback = []
    polyrelay.turn_off_message_logging = False
    handlers._sinks.clear()  # named sinks read their environment again
    handlers._resolved.clear()
