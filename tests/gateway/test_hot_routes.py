"""The LLM routes' fast path: straight to the endpoint, errors still in
OpenAI's shape, everything else through Starlette."""

from __future__ import annotations

import asyncio

import orjson
from starlette.routing import Route

from polyrelay.gateway.app import GuardedEndpoint, HotRoutes


def run(app, scope):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "headers": [], **scope}, receive, send))
    return sent


def test_an_unexpected_error_in_a_hot_route_is_an_openai_500():
    async def broken(scope, receive, send):
        raise RuntimeError("bug with sk-secret-value inside")

    sent = run(GuardedEndpoint(Route("/chat/completions", broken), ("sk-secret-value",)),
               {"method": "POST", "path": "/chat/completions"})
    assert sent[0]["status"] == 500
    body = orjson.loads(sent[1]["body"])
    assert body["error"]["type"] and "RuntimeError" in body["error"]["message"]
    assert b"sk-secret-value" not in sent[1]["body"]


def test_only_posts_to_the_exact_hot_paths_skip_starlette():
    seen = []

    async def starlette(scope, receive, send):
        seen.append(("starlette", scope["method"], scope["path"]))

    async def hot(scope, receive, send):
        seen.append(("hot", scope["method"], scope["path"]))

    class App:
        state = object()

        async def __call__(self, scope, receive, send):
            await starlette(scope, receive, send)

    app = HotRoutes(App(), {"/v1/chat/completions": hot})
    run(app, {"method": "POST", "path": "/v1/chat/completions"})
    run(app, {"method": "GET", "path": "/v1/chat/completions"})
    run(app, {"method": "POST", "path": "/v1/chat/completions/extra"})
    assert seen == [("hot", "POST", "/v1/chat/completions"), ("starlette", "GET", "/v1/chat/completions"),
                    ("starlette", "POST", "/v1/chat/completions/extra")]
