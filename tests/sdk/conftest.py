"""Fixtures for the SDK drop-in tests."""

from __future__ import annotations

import asyncio
import socket

import pytest

import polyrelay


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: mocked calls must stay in process."""
    attempts: list[object] = []

    async def refuse_async(self, *args, **kwargs):
        attempts.append(args)
        raise NetworkUsed(f"a mocked call tried to connect: {args[:3]}")

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise NetworkUsed(f"a mocked call tried to connect: {args[:2]}")

    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse_async)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts
    assert not attempts


@pytest.fixture
def module_settings(monkeypatch):
    """Module-level settings changed by a test are put back afterwards."""
    for name in ("api_key", "api_base", "num_retries", "request_timeout", "drop_params", "set_verbose"):
        monkeypatch.setattr(polyrelay, name, getattr(polyrelay, name))
    return polyrelay
