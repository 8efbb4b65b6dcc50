"""Run the gateway inside this process, on a thread, for tests and examples.

    from polyrelay.gateway.background import serve_in_background

    with serve_in_background() as gateway:       # the embedded default
        client = openai.OpenAI(api_key="anything", base_url=gateway.url)

The same app as ``polyrelay`` serves, on a free loopback port, with its own
event loop on a daemon thread; leaving the block shuts it down. For
production use the ``polyrelay`` command, which runs one process per
worker with uvloop and httptools.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator

from .config import Config, build, load

STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class RunningGateway:
    url: str  # e.g. http://127.0.0.1:53127; OpenAI clients take it as base_url
    app: Any


@contextlib.contextmanager
def serve_in_background(config: Config | dict[str, Any] | str | os.PathLike[str] | None = None, *,
                        model: str | None = None, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningGateway]:
    """``config``: a parsed LiteLLM config (dict), a path to one, a ``Config``,
    or None for the embedded default (``model`` adds a one-model quick start)."""
    import uvicorn

    from .app import create_app

    if isinstance(config, dict):
        config = build(config, "in-process config")
    elif not isinstance(config, Config):
        config = load(config, model)
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="polyrelay-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the gateway did not start (see the log above)")
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield RunningGateway(url=f"http://{host}:{bound_port}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
