import pytest

from fakeserver import FakeServer


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture
def anyio_backend():
    return "asyncio"
