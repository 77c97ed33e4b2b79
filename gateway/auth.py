"""Identity: the caller's bearer token → a loop or one of its sub-agents.

The config holds only sha256 hashes of tokens (:meth:`gateway.config.Runtime.identify`);
a missing or unknown token is a 401 that says where the right token lives.
"""

from __future__ import annotations

from gateway.asgi import Scope, header
from gateway.config import Identity, Runtime
from gateway.errors import AuthError


def authenticate(scope: Scope, rt: Runtime) -> Identity:
    """Map the bearer token to its identity, or raise 401."""
    auth = header(scope, b"authorization")
    if not auth or not auth.lower().startswith("bearer "):
        raise AuthError(
            "missing_token",
            "no bearer token: send the loop's gateway token as 'Authorization: Bearer <token>'",
        )
    ident = rt.identify(auth[7:].strip())
    if ident is None:
        raise AuthError(
            "invalid_token",
            "unknown or revoked token: use the token from the loop's Secret (it changes when rotated)",
        )
    return ident
