"""The gateway fixtures of ``tests/gateway``, for the end-to-end guardrail tests here."""

from tests.gateway.conftest import fake, gateway, provider

__all__ = ["fake", "gateway", "provider"]
