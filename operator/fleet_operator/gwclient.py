"""The operator's client of a fleet's gateway: the poll (``GET /v1/fleet/dispatch``), taking a
queued trigger, ending a run whose approval expired, the loops' health
(``POST /v1/fleet/health``). One pooled keep-alive connection per
gateway, the operator's own token (never a loop's), JSON both ways.

Errors become :class:`GatewayUnavailable` (no answer, or a 5xx: try again next period) or
:class:`GatewayRefused` (a 4xx, with the gateway's error code), never urllib3's.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import urllib3

from fleet.render import gateway_url

TIMEOUT = urllib3.Timeout(connect=3.0, read=30.0)


class GatewayError(Exception):
    """A call to the fleet's gateway that did not succeed."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class GatewayUnavailable(GatewayError):
    """No answer, or a server error: the next period tries again."""


class GatewayRefused(GatewayError):
    """A 4xx answer, with the gateway's error code."""


def url_for(namespace: str) -> str:
    """``FLEET_OPERATOR_GATEWAY_URL`` (``{namespace}`` is replaced), else the fleet's Service."""
    template = os.environ.get("FLEET_OPERATOR_GATEWAY_URL")
    return template.replace("{namespace}", namespace) if template else gateway_url(namespace)


class GatewayClient:
    """Thread-safe: kopf runs timers in worker threads."""

    def __init__(self) -> None:
        self._pool = urllib3.PoolManager(num_pools=64, maxsize=8, retries=False, timeout=TIMEOUT)
        self._lock = threading.Lock()
        self.requests = 0

    def call(
        self, base: str, token: str, method: str, path: str, body: Any = None
    ) -> dict[str, Any]:
        with self._lock:
            self.requests += 1
        headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        try:
            r = self._pool.request(method, base.rstrip("/") + path, body=data, headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            raise GatewayUnavailable(0, "unreachable", f"{method} {path}: {exc}") from exc
        try:
            answer = json.loads(r.data) if r.data else {}
        except ValueError:
            answer = {}
        if r.status >= 400:
            err = answer.get("error", {}) if isinstance(answer, dict) else {}
            kind = GatewayUnavailable if r.status >= 500 else GatewayRefused
            raise kind(r.status, str(err.get("code") or r.status), str(err.get("message") or ""))
        if not isinstance(answer, dict):
            raise GatewayUnavailable(r.status, "bad_answer", f"{method} {path}: not a JSON object")
        return answer

    def dispatch(self, base: str, token: str, since: float | None) -> dict[str, Any]:
        query = f"?since={since:.3f}" if since is not None else ""
        return self.call(base, token, "GET", f"/v1/fleet/dispatch{query}")

    def health(self, base: str, token: str, definitions: dict[str, Any]) -> dict[str, Any]:
        """The doctor's findings per loop of the fleet ``definitions`` describe."""
        return self.call(base, token, "POST", "/v1/fleet/health", definitions)

    def take(self, base: str, token: str, trigger_id: str, job: str) -> bool:
        """True when this call took it; False when it was taken already."""
        try:
            self.call(base, token, "POST", f"/v1/fleet/triggers/{trigger_id}/take", {"job": job})
        except GatewayRefused as exc:
            if exc.code in ("trigger_taken", "trigger_not_found"):
                return False
            raise
        return True

    def end_run(self, base: str, token: str, run: str, outcome: str, detail: str) -> bool:
        """End ``run`` with ``outcome``; False when it had ended already."""
        try:
            self.call(
                base,
                token,
                "PATCH",
                f"/v1/fleet/runs/{run}",
                {"status": "ended", "outcome": outcome, "detail": detail},
            )
        except GatewayRefused as exc:
            if exc.code in ("run_ended", "run_not_found"):
                return False
            raise
        return True
