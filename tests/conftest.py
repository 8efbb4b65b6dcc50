import pytest

import services
from fakeserver import FakeServer


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.stop()


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url():
    url, stop = services.start_redis()
    yield url
    stop()


@pytest.fixture(scope="session")
def postgres_admin_url():
    url, stop = services.start_postgres()
    yield url
    stop()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1, signatures checked (tests/s3server.py)."""
    from s3server import start_s3

    server, stop = start_s3()
    yield server
    stop()
