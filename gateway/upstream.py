"""Pooled HTTP client to model providers (OpenAI-compatible) and one attempt at a time.

aiohttp keeps connections alive per provider; the gateway reuses one session.
An attempt either returns a complete response, or (streaming) an open response
whose first chunk has not been forwarded yet, so the caller can still fall back.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from fleet.gwconfig import GwProvider


class AttemptFailed(Exception):
    """A retryable failure of one attempt: status code, or a connect/read timeout."""

    def __init__(self, reason: str, status: int | None = None, body: bytes = b""):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


class Upstream:
    # Streams hold a connection for the whole answer: size the pool for thousands of them.
    def __init__(self, connections: int = 4096):
        self._session: aiohttp.ClientSession | None = None
        self.connections = connections

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.connections,
                limit_per_host=self.connections,
                keepalive_timeout=60,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, skip_auto_headers=("User-Agent",)
            )
        return self._session

    @staticmethod
    def _url(provider: GwProvider) -> str:
        return provider.base_url.rstrip("/") + "/chat/completions"

    @staticmethod
    def _headers(key: str | None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def complete(
        self, provider: GwProvider, key: str | None, body: bytes, retry_on: frozenset[int]
    ) -> Reply:
        timeout = aiohttp.ClientTimeout(
            total=provider.timeout_s, sock_connect=min(10.0, provider.timeout_s)
        )
        try:
            async with self.session.post(
                self._url(provider), data=body, headers=self._headers(key), timeout=timeout
            ) as resp:
                data = await resp.read()
                if resp.status in retry_on:
                    raise AttemptFailed(f"upstream status {resp.status}", resp.status, data)
                return Reply(resp.status, data, {k.lower(): v for k, v in resp.headers.items()})
        except TimeoutError as exc:
            raise AttemptFailed("upstream timeout") from exc
        except aiohttp.ClientError as exc:
            raise AttemptFailed(f"upstream connection failed: {exc.__class__.__name__}") from exc

    async def open_stream(
        self, provider: GwProvider, key: str | None, body: bytes, retry_on: frozenset[int]
    ) -> tuple[aiohttp.ClientResponse, bytes]:
        """Open a streaming response and read its first chunk: until then, a failure may fall back."""
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=min(10.0, provider.timeout_s), sock_read=provider.timeout_s
        )
        try:
            resp = await self.session.post(
                self._url(provider), data=body, headers=self._headers(key), timeout=timeout
            )
        except TimeoutError as exc:
            raise AttemptFailed("upstream timeout") from exc
        except aiohttp.ClientError as exc:
            raise AttemptFailed(f"upstream connection failed: {exc.__class__.__name__}") from exc
        if resp.status != 200:
            data = await resp.read()
            resp.release()
            if resp.status in retry_on:
                raise AttemptFailed(f"upstream status {resp.status}", resp.status, data)
            raise Final(resp.status, data)
        try:
            first = await resp.content.readany()
        except (TimeoutError, aiohttp.ClientError) as exc:
            resp.release()
            raise AttemptFailed("stream broke before its first byte") from exc
        if not first:
            resp.release()
            raise AttemptFailed("stream ended before its first byte")
        return resp, first

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class Final(AttemptFailed):
    """A non-retryable upstream answer: returned to the caller as is."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"upstream status {status}", status, body)
