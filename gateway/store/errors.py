"""The store's one error a caller sees: its backend cannot be reached.

Both stores raise :class:`StoreUnavailable` when the driver reports that the
backend is down or did not answer in time (the driver's error is its cause),
so a request gets a 503 JSON error that names the store, and not a 500 with a
traceback. The URL in the message carries no password.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from gateway.errors import GatewayError


class StoreUnavailable(GatewayError):
    status = 503
    type = "server_error"

    def __init__(self, url: str, reason: str):
        where = public_url(url)
        super().__init__(
            "store_unavailable",
            f"the gateway's store {where} is unreachable ({reason}); the request was not "
            "served, retry it once the store is back",
            headers={"retry-after": "1"},
            extra={"store": where},
        )


def public_url(url: str) -> str:
    """``url`` without its user name and password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable store URL>"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
