"""Connection limits: what a client may hold of the gateway, and for how long.

A proxy that waits forever for a slow client lets a few hundred sockets that
send nothing take every connection it has. Each limit below bounds one way of
holding the gateway without doing work; every one has a default and can be set
by an environment variable or by a flag of ``fleetctl gateway serve`` and
``python -m gateway`` (the flag wins)::

    limit                      env                                  flag                       default
    header timeout (s)         FLEET_GATEWAY_HEADER_TIMEOUT         --header-timeout           10
    body timeout (s)           FLEET_GATEWAY_BODY_TIMEOUT           --body-timeout             30
    minimum body rate (B/s)    FLEET_GATEWAY_MIN_BODY_RATE          --min-body-rate            1024
    body rate window (s)       FLEET_GATEWAY_BODY_RATE_WINDOW       --body-rate-window         5
    keep-alive timeout (s)     FLEET_GATEWAY_KEEPALIVE_TIMEOUT      --keepalive-timeout        5
    header bytes               FLEET_GATEWAY_MAX_HEADER_BYTES       --max-header-bytes         32768
    connections                FLEET_GATEWAY_MAX_CONNECTIONS        --max-connections          4096 *
    requests per token         FLEET_GATEWAY_MAX_REQUESTS_PER_TOKEN --max-requests-per-token   connections / 4

- *header timeout*: the whole request head (request line and headers) must
  arrive within this time of the connection opening, or of the request's first
  byte on a kept-alive connection; else 408 and close (a connection that sent
  nothing is closed silently).
- *body timeout*: a declared body that makes no progress for this long gets 408
  and the connection is closed; a handler waiting on the body is told the client
  left. Time the gateway itself is not reading (its buffer is full, or it has not
  yet asked for a ``100-continue`` body) does not count.
- *minimum body rate*: a body still arriving is measured over each window from
  the read that left it unfinished (the first window is the grace a slow start
  gets); one that brought some bytes, but fewer than rate × window, in a window
  gets 408 ``body_too_slow`` and the connection is closed, so a client trickling
  a byte every few seconds, which the body timeout never sees stall, cannot keep
  a connection and a request slot. A window with no byte at all is a stall, left
  to the body timeout. A body that ends within its first window is never
  measured; time the gateway is not reading does not count, as above. 0 turns
  the check off.
- *keep-alive timeout*: an idle connection between two requests is closed.
- *header bytes*: a request head over this size gets 431 and close.
- *connections*: at the cap, a new connection takes the place of the one that
  has waited longest with no request in flight; when every connection has a
  request in flight the new one gets 503 ``server_busy`` and is closed.
  (*) The default is also kept at or under half the process's open-file limit,
  leaving the rest for upstream connections and the store.
- *requests per token*: the requests in flight for one bearer token; the next
  one is answered 429 ``too_many_connections`` at once, before its body is read,
  as nginx's ``limit_conn`` and Envoy's per-client circuit breakers do. So one
  identity cannot hold all connections. Requests with no token (health checks)
  are not counted here; they are answered at once.

The first six are enforced by :mod:`gateway.conn` on each connection, the last
by :class:`TokenLimiter` in front of the app. Tokens are counted as authentication
reads them (scheme and surrounding spaces aside), in memory, and never logged.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields

from gateway.asgi import JSON, Receive, Scope, Send, send_response
from gateway.errors import LimitError

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]

App = Callable[[Scope, Receive, Send], Awaitable[None]]

ENV_PREFIX = "FLEET_GATEWAY_"
DEFAULT_CONNECTIONS = 4096


def _open_file_cap() -> int:
    if resource is None:  # pragma: no cover
        return DEFAULT_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_CONNECTIONS
    return max(16, soft // 2)


@dataclass(frozen=True)
class Limits:
    """The connection limits; ``max_requests_per_token`` 0 means a quarter of ``max_connections``."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    min_body_rate: int = 1024
    body_rate_window: float = 5.0
    keepalive_timeout: float = 5.0
    max_header_bytes: int = 32 * 1024
    max_connections: int = 0
    max_requests_per_token: int = 0

    def __post_init__(self) -> None:
        for name in ("header_timeout", "body_timeout", "body_rate_window", "keepalive_timeout"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                raise ValueError(
                    f"{name.replace('_', '-')} {value!r}: must be over 0 and at most 3600 seconds"
                )
        if not 1024 <= self.max_header_bytes <= 1024 * 1024:
            raise ValueError(
                f"max-header-bytes {self.max_header_bytes}: must be between 1024 and 1048576"
            )
        if not 0 <= self.min_body_rate <= 1024 * 1024 * 1024:
            raise ValueError(
                f"min-body-rate {self.min_body_rate}: must be between 0 (off) and 1073741824 "
                "bytes per second"
            )
        if self.max_connections < 0 or self.max_requests_per_token < 0:
            raise ValueError(
                "max-connections and max-requests-per-token must be positive (0 = the default)"
            )
        if self.max_connections == 0:
            object.__setattr__(self, "max_connections", min(DEFAULT_CONNECTIONS, _open_file_cap()))
        if self.max_requests_per_token == 0:
            object.__setattr__(self, "max_requests_per_token", max(1, self.max_connections // 4))

    @classmethod
    def resolve(
        cls,
        env: Mapping[str, str] | None = None,
        **flags: float | int | None,
    ) -> Limits:
        """The limits from ``flags`` (None = not given), else ``FLEET_GATEWAY_*`` in ``env``,
        else the defaults. A value that is not a number is a ``ValueError`` naming its source."""
        env = os.environ if env is None else env
        values: dict[str, float | int] = {}
        for field in fields(cls):
            given = flags.pop(field.name, None)
            if given is not None:
                values[field.name] = given
                continue
            var = ENV_PREFIX + field.name.upper()
            raw = env.get(var)
            if raw is None or raw.strip() == "":
                continue
            kind = float if field.type in ("float", float) else int
            try:
                values[field.name] = kind(raw.strip())
            except ValueError:
                unit = "a number of seconds" if kind is float else "a whole number"
                raise ValueError(f"{var}={raw!r}: not {unit}") from None
        if flags:
            raise TypeError(f"unknown limits: {', '.join(sorted(flags))}")
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"connection limits: {exc}") from None


class TokenLimiter:
    """ASGI middleware: at most ``limit`` requests in flight per bearer token.

    Counted from the moment the head is in until the app returns (a stream counts
    until its last chunk), so a token holding connections open with slow bodies
    or long streams is refused past its share, and other tokens are not.
    """

    def __init__(self, app: App, limit: int):
        self.app = app
        self.limit = limit
        self.in_flight: dict[bytes, int] = {}
        self._refusal = LimitError(
            "too_many_connections",
            f"this token already has {limit} requests in flight, the most the gateway allows "
            "one token: wait for some to finish, or raise --max-requests-per-token",
            headers={"retry-after": "1"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                # The token as authentication reads it, so spelling the scheme or the
                # spaces differently does not open a second count for the same token.
                key = value[7:].strip() if value[:7].lower() == b"bearer " else value
                break
        if key is None:
            await app(scope, receive, send)
            return
        in_flight = self.in_flight
        count = in_flight.get(key, 0)
        if count >= self.limit:
            refusal = self._refusal
            await send_response(
                send,
                refusal.status,
                refusal.body(),
                [*JSON, (b"retry-after", b"1")],
            )
            return
        in_flight[key] = count + 1
        try:
            await app(scope, receive, send)
        finally:
            left = in_flight[key] - 1
            if left:
                in_flight[key] = left
            else:
                del in_flight[key]
