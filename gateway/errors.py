"""Errors the gateway returns to callers, as OpenAI-style JSON bodies.

Exception tree::

    GatewayError                   root; carries status, type, code, message
     ├── AuthError                 401: missing or unknown bearer token
     ├── ForbiddenError            403: a virtual model or tool the caller is not granted
     ├── BadRequestError           400: malformed request or header, guardrail block
     ├── NotFoundError             404: unknown route or virtual model
     ├── TooLargeError             413: a body over the size the route takes
     ├── LimitError                429: budget exceeded, rate limit, run bounds
     ├── UpstreamError             502/504: every attempt and fallback failed
     └── UnavailableError          503: the gateway cannot serve this now (credentials, store)

Every message says what to do, not only what went wrong.
"""

from __future__ import annotations

from typing import Any

import orjson


class GatewayError(Exception):
    status = 500
    type = "server_error"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> bytes:
        error: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": None,
        }
        error.update(self.extra)
        return orjson.dumps({"error": error})


class AuthError(GatewayError):
    status = 401
    type = "authentication_error"


class ForbiddenError(GatewayError):
    status = 403
    type = "permission_error"


class BadRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class NotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"


class TooLargeError(GatewayError):
    status = 413
    type = "invalid_request_error"


class LimitError(GatewayError):
    status = 429
    type = "rate_limit_error"


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"


class UnavailableError(GatewayError):
    status = 503
    type = "service_unavailable"
