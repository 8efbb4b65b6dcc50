"""Upstream calls through an HTTP(S) proxy (``HTTPS_PROXY``, ``HTTP_PROXY``,
``NO_PROXY``): aiohttp's client, behind the same small interface as
``http1.Client``. Only used when a proxy is configured, so aiohttp is
imported only then."""

from __future__ import annotations

from typing import AsyncIterator

import aiohttp
from yarl import URL

from .http1 import HTTPError, InvalidHeader, InvalidURL, ResponseTooLarge


class ProxiedResponse:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.headers.items()}

    async def read(self, timeout: float, limit: int | None = None) -> bytes:
        try:
            if limit is None:
                return await self._response.read()
            if (self._response.content_length or 0) > limit:
                raise ResponseTooLarge(limit)
            parts, size = [], 0
            async for chunk in self._response.content.iter_any():
                parts.append(chunk)
                size += len(chunk)
                if size > limit:
                    self._response.close()  # not read to its end: the connection cannot be reused
                    raise ResponseTooLarge(limit)
            return b"".join(parts)
        except TimeoutError:
            raise  # aiohttp's socket timeouts are TimeoutErrors too: the caller maps them
        except aiohttp.ClientError as exc:
            raise HTTPError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._response.release()

    async def iter_chunks(self, timeout: float) -> AsyncIterator[bytes]:
        finished = False
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
            finished = True
        except TimeoutError:
            raise
        except aiohttp.ClientError as exc:
            raise HTTPError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if finished:
                self._response.release()
            else:
                self._response.close()

    def release(self) -> None:
        self._response.release()

    def close(self) -> None:
        self._response.close()


class ProxiedClient:
    def __init__(self) -> None:
        self._session = aiohttp.ClientSession(
            trust_env=True,  # reads the proxy variables (and ~/.netrc) on every request
            cookie_jar=aiohttp.DummyCookieJar(),  # no cookie one caller's provider set reaches another caller
            # aiohttp's default caps a session at 100 connections: past that, calls queue
            # behind each other (long streams made callers wait seconds). Our own client has
            # no such cap either; the gateway bounds concurrency at its edge (max_connections).
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
        )

    @property
    def closed(self) -> bool:
        return self._session.closed

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes | None, *,
                      timeout: float, connect_timeout: float, body_limit: int | None = None) -> ProxiedResponse:
        # body_limit is enforced by ProxiedResponse.read (aiohttp inflates each read whole).
        if not url.startswith(("http://", "https://")):
            raise InvalidURL(f"not an http(s) URL: {url.split('://')[0][:20]}://...")
        limits = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=timeout)
        try:
            # encoded=True: adapters build finished URLs (Bedrock's %3A is signed as it is).
            response = await self._session.request(method, URL(url, encoded=True), headers=headers, data=body,
                                                   timeout=limits, allow_redirects=False)
        except TimeoutError:
            raise
        except aiohttp.ClientError as exc:
            raise HTTPError(f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:
            raise InvalidHeader(str(exc)) from exc
        return ProxiedResponse(response)

    async def close(self) -> None:
        await self._session.close()
