"""One module per named sink. Each speaks its service's own protocol and
raises on a failed delivery, so the dispatcher retries it with backoff."""


class LoopBoundClient:
    """For a sink that makes its HTTP client on the dispatcher's loop, at its first
    send: ``aclose`` lets it go with that loop (the gateway's, at shutdown)."""

    _client = None

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            close = getattr(client, "aclose", None) or client.close
            await close()
