"""Identity: the caller's bearer token → a loop or one of its sub-agents.

The config holds only sha256 hashes of tokens (:meth:`gateway.config.Runtime.identify`);
a missing or unknown token is a 401 that says where the right token lives.
"""

from __future__ import annotations

from gateway.asgi import Scope, header, text_value
from gateway.config import Identity, Runtime
from gateway.errors import AuthError

# Distinct valid header values remembered per config; past this the map starts over.
KNOWN_HEADERS = 10_000
# Longer than any token the fleet issues, short enough that hashing one costs nothing.
MAX_AUTHORIZATION = 1024


def authenticate(scope: Scope, rt: Runtime) -> Identity:
    """Map the bearer token to its identity, or raise 401.

    A header value seen before under the same config is one lookup; a new one is
    hashed and looked up among the config's token hashes, and remembered if known.
    """
    for key, value in scope["headers"]:
        if key == b"authorization":
            known = rt.by_header.get(value)
            if known is not None:
                return known
            break
    auth = text_value("authorization", header(scope, b"authorization"), MAX_AUTHORIZATION)
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
    if len(rt.by_header) >= KNOWN_HEADERS:
        rt.by_header.clear()
    rt.by_header[auth.encode("latin-1")] = ident
    return ident
