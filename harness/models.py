"""Model calls through the gateway with the official ``openai`` client.

One client per identity (the maker's token, each sub-agent's own). Each call
carries the run id, the step number and the caller's identity (``user``). The
client's own retries are off: the gateway already retries and falls back
across targets; what is left is decided here, as data: a refusal that ends the
run (:func:`fleet.runtime.outcomes.outcome_of_refusal`) becomes a
:class:`Stop`, a rate limit is waited out, and an unavailable provider is
retried a bounded number of times before the run ends ``provider_unavailable``.
The client's HTTP runs on :mod:`harness.transport` unless ``FLEET_HARNESS_HTTP=httpx``.
``openai`` is imported when the first call is made: a resumed run whose next
step is a tool call does not wait for it.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2
import orjson

from fleet.runtime.outcomes import Outcome, outcome_of_refusal
from harness.errors import GatewayLost
from harness.runs import tls
from harness.transport import Transport

if TYPE_CHECKING:
    import openai

UNAVAILABLE_RETRIES = 2
RATE_LIMIT_WAIT_S = 60.0
MAX_OUTPUT_TOKENS = 4096


class Stop(Exception):
    """The run ends with ``outcome`` (a bound, a budget, a guardrail, the provider)."""

    def __init__(self, outcome: Outcome, detail: str):
        super().__init__(detail)
        self.outcome: Outcome = outcome
        self.detail = detail


@dataclass
class Reply:
    message: dict[str, Any]
    tokens_in: int
    tokens_out: int
    cost_usd: float


def _refusal(exc: openai.APIStatusError) -> tuple[str | None, str]:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", body) if isinstance(body, dict) else {}
    code = err.get("code") if isinstance(err, dict) else None
    message = err.get("message") if isinstance(err, dict) else None
    return (str(code) if code else None), str(message or exc.message)


def _reply(content: bytes, cost: float) -> Reply:
    """The assistant message and usage, read from the completion's JSON.

    Only what the conversation and the journal keep is read, so the client's typed
    models of the whole completion (~0.5 ms of pydantic a step) are not built. A
    field of the wrong type reads as absent, as the typed parse's leniency would
    not help the run either."""
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError:
        data = None
    data = data if isinstance(data, dict) else {}
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    msg = choice.get("message") if isinstance(choice, dict) else None
    out: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(msg, dict):
        text = msg.get("content")
        out["content"] = text if isinstance(text, str) else None
        calls = []
        for tc in msg.get("tool_calls") or ():
            fn = tc.get("function") if isinstance(tc, dict) else None
            if isinstance(fn, dict):
                calls.append(
                    {
                        "id": tc.get("id"),
                        "type": "function",
                        "function": {"name": fn.get("name"), "arguments": fn.get("arguments")},
                    }
                )
        if calls:
            out["tool_calls"] = calls
    usage = data.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Reply(out, _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens")), cost)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


class Models:
    def __init__(
        self,
        base_url: str,
        run_id: str,
        backoff_s: float = 0.5,
        retry_s: float = 60.0,
        lean_http: bool = True,
    ):
        self.base_url = base_url + "/v1"
        self.retry_s = retry_s
        self.run_id = run_id
        self.backoff_s = backoff_s
        timeout = httpx2.Timeout(600.0, connect=5.0)
        if lean_http:
            context = tls(base_url)
            self.http = httpx2.AsyncClient(
                timeout=timeout,
                transport=Transport(context if isinstance(context, ssl.SSLContext) else None),
            )
        else:
            self.http = httpx2.AsyncClient(timeout=timeout, verify=tls(base_url))
        self._clients: dict[str, openai.AsyncOpenAI] = {}

    def client(self, token: str) -> openai.AsyncOpenAI:
        found = self._clients.get(token)
        if found is None:
            import openai

            found = self._clients[token] = openai.AsyncOpenAI(
                base_url=self.base_url,
                api_key=token,
                max_retries=0,
                http_client=self.http,
                default_headers={"x-fleet-run-id": self.run_id},
            )
        return found

    async def aclose(self) -> None:
        await self.http.aclose()

    async def complete(
        self,
        token: str,
        identity: str,
        model: str,
        step: int,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
    ) -> Reply:
        import openai

        client = self.client(token)
        unavailable = 0
        waited = 0.0
        lost_since: float | None = None
        while True:
            try:
                # The request is the chat-completions JSON the conversation already is, sent
                # by the client's own post() (auth, headers, status errors, connection errors)
                # as bytes: the typed create() walked every message and tool schema to
                # transform it (11 ms a step at 50 messages), then encoded it with the
                # standard json module (0.2 ms a step, growing with the conversation), then
                # built pydantic models of the whole completion.
                body: dict[str, Any] = {
                    "model": model,
                    "messages": messages,
                    "user": identity,
                    "max_completion_tokens": MAX_OUTPUT_TOKENS,
                }
                if tools:
                    body["tools"] = tools
                response = await client.post(
                    "/chat/completions",
                    cast_to=httpx2.Response,
                    content=orjson.dumps(body),
                    options={"headers": {"x-fleet-step": str(step)}},
                )
            except openai.APIStatusError as exc:
                code, message = _refusal(exc)
                ends = outcome_of_refusal(exc.status_code, code)
                if ends is not None:
                    raise Stop(ends, f"{code or exc.status_code}: {message}") from None
                if exc.status_code == 429:
                    wait = float(exc.response.headers.get("retry-after") or 1.0)
                    if waited + wait > RATE_LIMIT_WAIT_S:
                        raise Stop(
                            "provider_unavailable",
                            f"rate limited for over {RATE_LIMIT_WAIT_S:g} s: {message}",
                        ) from None
                    waited += wait
                    await asyncio.sleep(wait)
                    continue
                unavailable += 1
                if unavailable > UNAVAILABLE_RETRIES:
                    raise Stop(
                        "provider_unavailable",
                        f"{code or exc.status_code}: {message} (after the gateway's retries and fallback, and {UNAVAILABLE_RETRIES} more)",
                    ) from None
                await asyncio.sleep(self.backoff_s * unavailable)
                continue
            except openai.APIConnectionError as exc:
                now = asyncio.get_running_loop().time()
                lost_since = now if lost_since is None else lost_since
                if now - lost_since >= self.retry_s:
                    raise GatewayLost(
                        f"model call: cannot reach the gateway for {self.retry_s:g} s: {exc}"
                    ) from None
                await asyncio.sleep(min(2.0, 0.1 * 2 ** min(unavailable + 3, 5)))
                continue
            cost = float(response.headers.get("x-fleet-cost-usd") or 0.0)
            return _reply(response.content, cost)
