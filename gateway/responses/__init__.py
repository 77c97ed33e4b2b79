"""The OpenAI Responses API (``POST /v1/responses``) under the gateway's chat policy.

:mod:`~gateway.responses.endpoint` orders the policy; :mod:`~gateway.responses.request`
checks a request and writes its chat completions equivalent;
:mod:`~gateway.responses.guard` lists its texts for the input guardrails;
:mod:`~gateway.responses.reply` and :mod:`~gateway.responses.stream` turn a chat
answer into a Response object or the Responses event stream;
:mod:`~gateway.responses.passthrough` (whole) and :mod:`~gateway.responses.relay`
(streamed) serve providers that speak Responses.
"""

from gateway.responses.endpoint import responses

__all__ = ["responses"]
