"""Fuzz the gateway's MCP surface: ``/mcp/<server>`` (every JSON-RPC method, batches,
raw bytes, hostile headers, session ids of other identities, GET streams and
DELETE) and the approvals API, with hypothesis, against a real gateway on
loopback in front of the fake github of ``tests/mcp`` (the careless variant,
whose tools echo its credential).

A case fails when the answer is a 5xx (other than the gateway saying the MCP
server failed or is unreachable: 502 with JSON-RPC error -32006), carries a
traceback, or shows the server's credential;
``/healthz`` is probed every 250 cases and must answer.

    .venv/bin/python -m bench.fuzz_mcp [--cases 20000] [--seed 16]

Prints the counts by status and by surface, and the first failures; exits 1 if
there was any. ``tests/security/test_mcp_security.py`` runs a few hundred of
the same cases with a fixed seed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

ACCEPT = "application/json, text/event-stream"
GITHUB_KEY = "ghp-server-credential-never-shown"  # tests.mcp.conftest.GITHUB_KEY
TOKENS = {
    "triage": "tok-triage",
    "triage/reviewer": "tok-triage-reviewer",
    "release": "tok-release",
    "outsider": "tok-outsider",
    "approver": "tok-approver-alice",
    "bogus": "tok-nobody",
    "none": "",
}
MEMBERS = ("triage", "triage/reviewer", "release")
# Tools of the fake github that answer at once (get_report sleeps, get_branch_choice waits
# for an elicitation answer, create_pr can be told to sleep: kept to safe arguments).
TOOLS = (
    "get_issue",
    "list_prs",
    "comment",
    "merge_pr",
    "delete_branch",
    "get_build_log",
    "get_debug",
    "get_debug_json",
    "get_debug_progress",
    "get_debug_failure",
    "delete_debug",
    "fleet_approval_result",
    "Merge_pr",
    " merge_pr",
    "m\u0435rge_pr",
    "github.merge_pr",
    "",
)
METHODS = (
    "initialize",
    "notifications/initialized",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "prompts/list",
    "prompts/get",
    "ping",
    "completion/complete",
    "logging/setLevel",
    "notifications/cancelled",
    "notifications/progress",
    "sampling/createMessage",
)
APPROVAL_ID = re.compile(rb"ap_[0-9a-f]{16}")


@dataclass(frozen=True)
class Case:
    http: str
    path: str
    token: str
    headers: tuple[tuple[str, bytes], ...]
    body: bytes

    def surface(self) -> str:
        if self.path.startswith("/approvals"):
            return f"approvals {self.http}"
        if self.http != "POST":
            return f"mcp {self.http}"
        try:
            msg = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return "mcp POST (not JSON)"
        if isinstance(msg, list):
            return "mcp POST (batch)"
        if not isinstance(msg, dict):
            return "mcp POST (not an object)"
        method = msg.get("method")
        if method is None:
            return "mcp POST (response)"
        return f"mcp POST {method if method in METHODS else '(other method)'}"


# ---------------------------------------------------------------- strategies

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=30,
).map(lambda s: s.encode("latin-1"))
ids = st.none() | st.integers(-5, 2**40) | st.text(max_size=8) | values


def _deep(n: int) -> Any:
    value: Any = "x"
    for _ in range(n):
        value = [value]
    return value


arguments = st.one_of(
    st.fixed_dictionaries({"number": st.integers(-3, 10**12) | values}),
    st.fixed_dictionaries({"number": st.integers(0, 99), "body": st.text(max_size=40)}),
    st.fixed_dictionaries({"title": st.text(max_size=20)}),
    st.fixed_dictionaries({"name": st.text(max_size=20)}),
    st.fixed_dictionaries({"approval_id": st.just("$APPROVAL") | st.text(max_size=20) | values}),
    st.integers(200, 1500).map(_deep),
    values,
)
metas = st.one_of(
    st.fixed_dictionaries({"fleet/idempotency-key": st.text(max_size=20) | values}),
    st.fixed_dictionaries({"progressToken": ids}),
    values,
)
call_params = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(TOOLS) | st.text(max_size=20) | values,
        "arguments": arguments,
        "_meta": metas,
    },
)
params = st.one_of(
    call_params,
    st.fixed_dictionaries(
        {
            "protocolVersion": st.sampled_from(["2025-06-18", "2025-03-26", "1.0"]) | values,
            "capabilities": st.just({}) | values,
            "clientInfo": st.just({"name": "fuzz", "version": "1"}) | values,
        }
    ),
    st.fixed_dictionaries({"uri": st.sampled_from(["debug://credential", "x://y"]) | values}),
    st.fixed_dictionaries({"name": st.sampled_from(["debug_prompt", "nope"]) | values}),
    values,
)
message = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | values,
        "id": ids,
        "method": st.sampled_from(METHODS) | st.text(max_size=20) | values,
        "params": params,
    },
)
good_call_params = st.fixed_dictionaries(
    {"name": st.sampled_from(TOOLS), "arguments": arguments}, optional={"_meta": metas}
)
tool_call = st.builds(
    lambda i, p: {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": p},
    st.integers(1, 10**6),
    good_call_params | good_call_params | call_params,
)
reply = st.builds(
    lambda i, r: {"jsonrpc": "2.0", "id": i, r[0]: r[1]},
    ids,
    st.tuples(st.sampled_from(["result", "error"]), values),
)


def _dumps(value: Any) -> bytes:
    # The standard library, so the fuzz can send what orjson would refuse to write.
    return json.dumps(value, allow_nan=True).encode()


bodies = st.one_of(
    tool_call.map(_dumps),
    tool_call.map(_dumps),
    message.map(_dumps),
    message.map(_dumps),
    reply.map(_dumps),
    st.lists(message | values, max_size=3).map(_dumps),
    values.map(_dumps),
    st.binary(max_size=40),
    st.integers(200, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from(
        [
            b"",
            b"{",
            b'{"jsonrpc":"2.0","id":1,"method":"\xff\xfe"}',
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue","arguments":{"number":1e999}}}',
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_issue\\ud800"}}',
            b"\xef\xbb\xbf{}",
        ]
    ),
)
mcp_headers = st.fixed_dictionaries(
    {},
    optional={
        "mcp-session-id": st.sampled_from([b"{session}", b"{session}", b"{other}", b""])
        | header_text,
        "x-fleet-step": st.integers(0, 10**6).map(lambda n: str(n).encode())
        | st.sampled_from(["\u00b2".encode("latin-1"), b"99999999999999999999", b"-1", b"1.5"])
        | header_text,
        "x-fleet-run-id": header_text,
        "idempotency-key": header_text,
        "mcp-protocol-version": st.sampled_from([b"2025-06-18", b"2025-03-26", b"0"]) | header_text,
        "content-type": st.sampled_from([b"application/json", b"text/plain"]),
        "accept": st.sampled_from([ACCEPT.encode(), b"application/json", b"text/event-stream"]),
        "last-event-id": header_text,
    },
)
mcp_paths = st.sampled_from(
    ["/mcp/github"] * 12 + ["/mcp/nope", "/mcp/", "/mcp/github/extra", "/mcp/github%2F.."]
)
approval_paths = st.one_of(
    st.sampled_from(
        [
            "/approvals",
            "/approvals?state=all",
            "/approvals?state=pending",
            "/approvals?state=%ff",
            "/approvals/{approval}",
            "/approvals/{approval}/approve",
            "/approvals/{approval}/deny",
            "/approvals/{approval}/retry",
            "/approvals/{approval}/other",
            "/approvals/{approval}/approve/more",
        ]
    ),
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#?%"),
        max_size=20,
    ).map(lambda s: "/approvals/" + s),
)
reasons = st.one_of(
    st.just(b""),
    st.fixed_dictionaries({"reason": st.text(max_size=30) | values}).map(_dumps),
    values.map(_dumps),
    st.binary(max_size=20),
)


@st.composite
def cases(draw: Any) -> Case:
    """One request to the MCP proxy (mostly) or the approvals API."""
    if draw(st.integers(0, 5)) == 0:
        token = draw(st.sampled_from(["approver"] * 4 + list(TOKENS)))
        pick = draw(st.integers(0, 9))
        if pick < 5:  # a decision on the last request the run opened
            action = draw(st.sampled_from(["approve", "deny", "retry"]))
            return Case("POST", f"/approvals/{{approval}}/{action}", token, (), draw(reasons))
        http = draw(st.sampled_from(["GET", "POST", "POST", "DELETE", "PUT"]))
        return Case(http, draw(approval_paths), token, (), draw(reasons))
    token = draw(st.sampled_from([*MEMBERS, *MEMBERS, *TOKENS]))
    http = draw(st.sampled_from(["POST"] * 12 + ["GET", "DELETE", "PUT", "PATCH", "OPTIONS"]))
    base = {"mcp-session-id": b"{session}", "mcp-protocol-version": b"2025-06-18"}
    extra = draw(mcp_headers)
    if draw(st.booleans()):
        base.update(extra)
    else:
        base = extra
    body = draw(bodies) if http == "POST" else b""
    return Case(http, draw(mcp_paths), token, tuple(sorted(base.items())), body)


# ---------------------------------------------------------------- the target


@dataclass
class Target:
    """The gateway under test; opens (and re-opens) one session per member on demand."""

    url: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))
    sessions: dict[str, str] = field(default_factory=dict)
    approval: str = "ap_0000000000000000"

    def session(self, member: str) -> str:
        sid = self.sessions.get(member)
        if sid is None:
            head = {
                "authorization": f"Bearer {TOKENS[member]}",
                "accept": ACCEPT,
                "content-type": "application/json",
            }
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "fuzz", "version": "1"},
                },
            }
            r = self.client.post(self.url + "/mcp/github", headers=head, content=_dumps(init))
            sid = r.headers["mcp-session-id"]
            head.update({"mcp-session-id": sid, "mcp-protocol-version": "2025-06-18"})
            self.client.post(
                self.url + "/mcp/github",
                headers=head,
                content=b'{"jsonrpc":"2.0","method":"notifications/initialized"}',
            )
            self.sessions[member] = sid
        return sid

    def resolve(self, case: Case) -> tuple[str, list[tuple[str, bytes]], bytes, str | None]:
        own = case.token if case.token in MEMBERS else "triage"
        other = "release" if own != "release" else "triage"
        used: str | None = None
        head: list[tuple[str, bytes]] = []
        if TOKENS[case.token]:
            head.append(("authorization", f"Bearer {TOKENS[case.token]}".encode()))
        for k, v in case.headers:
            if v in (b"{session}", b"{other}"):
                used = own if v == b"{session}" else other
                v = self.session(used).encode()
            head.append((k, v))
        if case.path.startswith("/mcp/") and not any(k == "accept" for k, _ in head):
            head.append(("accept", ACCEPT.encode()))
        if case.http == "POST" and not any(k == "content-type" for k, _ in head):
            head.append(("content-type", b"application/json"))
        path = case.path.replace("{approval}", self.approval)
        return path, head, case.body.replace(b"$APPROVAL", self.approval.encode()), used

    def send(self, case: Case) -> tuple[int, bytes]:
        """(status, body); -1 when no answer came. A GET stream held open counts as answered
        with its status once its first event or a short pause passes."""
        path, head, body, used = self.resolve(case)
        held = case.http == "GET" and path.startswith("/mcp/")
        timeout = httpx.Timeout(15, read=0.5 if held else 15)
        chunks: list[bytes] = []
        try:
            with self.client.stream(
                case.http, self.url + path, headers=head, content=body or None, timeout=timeout
            ) as r:
                status = r.status_code
                try:
                    for chunk in r.iter_raw():
                        chunks.append(chunk)
                        if held or sum(map(len, chunks)) > 1 << 20:
                            break
                except httpx.ReadTimeout:
                    if not held:
                        raise
        except httpx.HTTPError as exc:
            return -1, repr(exc).encode()
        out = b"".join(chunks)
        if case.http == "DELETE" and used is not None and status < 300:
            self.sessions.pop(used, None)  # ended: open a new one next time
        found = APPROVAL_ID.findall(out)
        if found:
            self.approval = found[-1].decode()
        return status, out

    def healthy(self) -> bool:
        try:
            return self.client.get(self.url + "/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


_targets: dict[str, Target] = {}


def target_for(url: str) -> Target:
    """One target per gateway, kept across the examples of a run."""
    found = _targets.get(url)
    if found is None:
        found = _targets[url] = Target(url)
    return found


def problem(status: int, body: bytes, secret: str = GITHUB_KEY) -> str | None:
    """Why an answer is a failure, or None."""
    if status < 0:
        return "no answer"
    if b"Traceback" in body:
        return "traceback"
    if secret.encode() in body:
        return "credential shown"
    # The gateway's own word that the server failed or cannot be reached is no failure of its own.
    if status >= 500 and not (status in (502, 503, 504) and b'"code":-32006' in body):
        return f"{status}"
    return None


# ---------------------------------------------------------------- the run


def serve(tmp: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    from bench.mcp.run import free_port, wait
    from tests.mcp.conftest import config

    root = Path(__file__).resolve().parents[1]
    gport, wport = free_port(), free_port()
    github, gateway = f"http://127.0.0.1:{gport}", f"http://127.0.0.1:{wport}"
    cfg = tmp / "gateway.json"
    cfg.write_bytes(orjson.dumps(config(github)))
    env = {
        **os.environ,
        "TEST_GITHUB_MCP_KEY": GITHUB_KEY,
        "FAKEGITHUB_LEAK": "1",
        "PYTHONPATH": str(root),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.mcp.fakegithub", str(gport), GITHUB_KEY],
            cwd=root,
            env=env,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "--config",
                str(cfg),
                "--port",
                str(wport),
                "--store",
                f"sqlite:{tmp}/gw.sqlite3",
            ],
            cwd=root,
            env=env,
        ),
    ]
    wait(github + "/mcp")
    wait(gateway + "/healthz")
    return procs, gateway


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    by_status: collections.Counter[int] = collections.Counter()
    by_surface: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
    failures: list[tuple[str, Case, int, bytes]] = []
    health_misses = 0
    with tempfile.TemporaryDirectory() as tmp:
        procs, url = serve(Path(tmp))
        target = target_for(url)
        count = 0

        @seed(args.seed)
        @settings(
            max_examples=args.cases,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases())
        def run(case: Case) -> None:
            nonlocal count, health_misses
            status, body = target.send(case)
            by_status[status] += 1
            by_surface[case.surface()][status] += 1
            why = problem(status, body)
            if why is not None:
                failures.append((why, case, status, body[:300]))
            count += 1
            if count % 250 == 0:
                health_misses += not target.healthy()
                if count % 2000 == 0:
                    print(f"  {count} cases, {len(failures)} failures", file=sys.stderr)

        started = time.perf_counter()
        try:
            run()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(10)
        wall = time.perf_counter() - started
    print(f"{count} cases in {wall:.0f} s (seed {args.seed})")
    print()
    print(f"{'status':>8} {'count':>8}")
    for status, n in sorted(by_status.items()):
        print(f"{status if status >= 0 else 'none':>8} {n:>8}")
    print()
    statuses = sorted(by_status)
    print(f"{'surface':34}" + "".join(f"{s:>7}" for s in statuses))
    for surface in sorted(by_surface):
        row = by_surface[surface]
        print(f"{surface:34}" + "".join(f"{row.get(s, 0) or '':>7}" for s in statuses))
    print()
    fives = sum(n for s, n in by_status.items() if s >= 500)
    print(
        f"5xx {fives}, failures {len(failures)} "
        f"({', '.join(f'{k} {v}' for k, v in collections.Counter(f[0] for f in failures).items()) or 'none'}), "
        f"health checks missed {health_misses}"
    )
    for why, case, status, body in failures[:10]:
        print(f"  {why}: {case!r} -> {status} {body!r}")
    sys.exit(1 if failures or health_misses else 0)


if __name__ == "__main__":
    main()
