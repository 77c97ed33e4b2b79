"""The HTTP face of the runs API: ``/v1/fleet/runs…`` and ``/v1/fleet/loops/<loop>/state``,
a raw ASGI handler the gateway's router calls for every path under ``/v1/fleet/``.

It decides who may do what, reads bounded bodies, and answers in JSON; what is
stored, and how, is :mod:`gateway.runs.records` and :mod:`gateway.runs.state`.
``POST /v1/fleet/runs`` opens a run of the caller's own loop under an id the
gateway picks and returns it, for clients with no Job name to use as one.
Who: a loop's own token reads and writes its runs and its state; its sub-agents'
tokens read them; an approver's token reads every loop's and writes nothing.
The operator's token reads every loop's runs, ends a run whose approval
expired, takes queued triggers and polls ``/v1/fleet/dispatch``
(:mod:`gateway.runs.dispatch`); a loop's trigger token only reaches
``POST /v1/fleet/loops/<loop>/trigger`` (:mod:`gateway.triggers`).
A run of another loop is a 404 (as if it did not exist), another loop's state a
403. Each request checks, in order: the token (401), the route and its ids
(404, 400), the right to write (403, before anything is looked up, so a refused
writer learns nothing), the body (400, 413), the run (404), the journal (409).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from gateway import auth, triggers
from gateway.asgi import JSON, Receive, Scope, Send, header, read_bounded, send_response
from gateway.config import Runtime
from gateway.errors import AuthError, BadRequestError, ForbiddenError, NotFoundError
from gateway.runs import dispatch, records, state
from gateway.runs import validate as check
from gateway.runs.validate import MethodError, TooLargeError
from gateway.store import Store

PREFIX = "/v1/fleet/"
ROUTES = (
    "PUT|GET|PATCH /v1/fleet/runs/<run>, PUT /v1/fleet/runs/<run>/journal/<seq>, "
    "GET|POST /v1/fleet/runs, GET|PUT /v1/fleet/loops/<loop>/state, "
    "POST /v1/fleet/loops/<loop>/trigger, GET /v1/fleet/dispatch, "
    "POST /v1/fleet/triggers/<id>/take"
)


@dataclass(frozen=True)
class Caller:
    loop: str | None  # None: an approver or the operator, who read every loop
    member: str
    writes: bool
    operator: bool = False


OPERATOR = "operator"
# What the operator may write into a run: its end, when its approval expired (or when a
# Replace concurrency policy stopped its Job).
OPERATOR_PATCH = ("status", "outcome", "summary", "detail", "ended")
OPERATOR_OUTCOMES = ("expired", "error")


def caller(scope: Scope, rt: Runtime) -> Caller:
    """A loop or sub-agent token (as everywhere in the gateway), else an approver's, else the
    operator's."""
    try:
        ident = auth.authenticate(scope, rt)
    except AuthError:
        if triggers.is_operator(scope, rt):
            return Caller(None, OPERATOR, False, operator=True)
        value = header(scope, b"authorization") or ""
        token = value[7:].strip() if value.lower().startswith("bearer ") else ""
        name = rt.approvers.get(hashlib.sha256(token.encode()).hexdigest()) if token else None
        if name is None:
            raise
        return Caller(None, str(name), False)
    return Caller(ident.loop, ident.member, ident.role == "loop")


def _operator(who: Caller, what: str) -> None:
    if not who.operator:
        raise ForbiddenError(
            "operator_only", f"{what} takes the operator's token (Secret fleet-operator-token)"
        )


def _writer(who: Caller, what: str) -> None:
    if who.writes:
        return
    if who.operator:
        raise ForbiddenError(
            "read_only",
            f"the operator's token ends runs whose approval expired and writes nothing else; "
            f"{what} is the loop's harness's to do",
        )
    if who.loop is None:
        raise ForbiddenError(
            "read_only",
            f"approver tokens read runs and state but write nothing; {what} is the loop's "
            "harness's to do, with the loop's own token",
        )
    raise ForbiddenError(
        "read_only",
        f"'{who.member}' is a sub-agent: its token reads its loop's runs and state; {what} "
        "takes the loop's own token (the harness's)",
    )


async def body(scope: Scope, receive: Receive, limit: int, what: str, extra: int = 0) -> bytes:
    """The request body, refused (413) once it passes the wire bound of a ``limit``-byte
    payload (plus ``extra`` bytes of envelope), before or while reading it."""
    wire = check.WIRE_FACTOR * (limit + extra)
    refusal = TooLargeError(
        "too_large",
        f"request body over {check.size(wire)}, and {what} is at most {check.size(limit)} of "
        "JSON: store less (a summary, or a reference to where the full output lives)",
    )
    return await read_bounded(
        scope,
        receive,
        wire,
        refusal,
        "the client went away before sending the body; send it again",
    )


def _methods(method: str, allowed: str, path: str) -> MethodError:
    return MethodError(
        "method_not_allowed",
        f"{method} {path} is not supported; use {allowed.replace(',', ' or')}",
        headers={"allow": allowed},
    )


async def handle(gateway: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one request under ``/v1/fleet/``; errors are raised as :class:`GatewayError`."""
    path: str = scope["path"]
    method: str = scope["method"]
    parts = path[len(PREFIX) :].split("/")
    if parts[0] == "loops" and len(parts) == 3 and parts[2] == "trigger":
        # The trigger token is no identity of the runs API: its own route, its own check.
        loop = check.loop_name(parts[1])
        if method != "POST":
            raise _methods(method, "POST", path)
        check.query(scope, ())
        await triggers.handle(gateway, scope, receive, send, loop)
        return
    who = caller(scope, gateway.holder.runtime)
    store: Store = gateway.store
    if parts[0] == "dispatch" and len(parts) == 1:
        _operator(who, "the operator's poll")
        if method != "GET":
            raise _methods(method, "GET", path)
        await dispatch.handle(gateway, scope, send)
    elif parts[0] == "triggers" and len(parts) == 3 and parts[2] == "take":
        _operator(who, "taking a queued trigger")
        if method != "POST":
            raise _methods(method, "POST", path)
        check.query(scope, ())
        raw = await body(scope, receive, 1024, "a take")
        job = check.parse(raw, '{"job": "<the Job started for it>"}').get("job")
        if not isinstance(job, str) or not 0 < len(job) <= 253:
            raise BadRequestError("invalid_body", "job must be the name of the Job started for it")
        taken = await triggers.take(store, parts[1], job)
        await _json(send, 200, orjson.dumps({"trigger": taken}))
    elif parts[0] == "runs" and len(parts) == 1:
        if method == "POST":
            await start_run(store, who, scope, receive, send)
            return
        if method != "GET":
            raise _methods(method, "GET, POST", path)
        await listing(store, who, scope, send)
    elif parts[0] == "runs" and len(parts) == 2:
        run = check.run_id(parts[1])
        if method == "PUT":
            await open_run(store, who, run, scope, receive, send)
        elif method == "GET":
            await show(store, who, run, scope, send)
        elif method == "PATCH":
            await patch(store, who, run, scope, receive, send)
        else:
            raise _methods(method, "GET, PUT, PATCH", path)
    elif parts[0] == "runs" and len(parts) == 4 and parts[2] == "journal":
        run, seq = check.run_id(parts[1]), check.seq(parts[3])
        if method != "PUT":
            raise _methods(method, "PUT", path)
        await append(store, who, run, seq, scope, receive, send)
    elif parts[0] == "loops" and len(parts) == 3 and parts[2] == "state":
        loop = check.loop_name(parts[1])
        if who.loop is not None and who.loop != loop:
            raise ForbiddenError(
                "not_your_loop",
                f"'{who.member}' may use the state of loop '{who.loop}' only, not of '{loop}': "
                "use that loop's own token",
            )
        if method == "GET":
            await show_state(store, loop, scope, send)
        elif method == "PUT":
            await write_state(store, who, loop, scope, receive, send)
        else:
            raise _methods(method, "GET, PUT", path)
    else:
        raise NotFoundError("not_found", f"no route for {method} {path}; the runs API is {ROUTES}")


async def _json(send: Send, status: int, payload: bytes) -> None:
    await send_response(send, status, payload, JSON)


def _run_json(record: dict[str, Any], **more: Any) -> bytes:
    return orjson.dumps({"run": record, **more})


async def open_run(
    store: Store, who: Caller, run: str, scope: Scope, receive: Receive, send: Send
) -> None:
    check.query(scope, ())
    _writer(who, "opening a run")
    raw = await body(scope, receive, check.INPUT_MAX, "a run's input")
    trigger, value = check.opening(
        check.parse(raw, '{"trigger": "cron", "input": null}', empty_ok=True)
    )
    assert who.loop is not None
    record, created = await records.open_run(store, run, who.loop, trigger, value)
    await _json(send, 201 if created else 200, _run_json(record, created=created))


async def start_run(store: Store, who: Caller, scope: Scope, receive: Receive, send: Send) -> None:
    """``POST /v1/fleet/runs``: a new run of the caller's own loop under an id the gateway
    picks, for a client with no Job name to use (an MCP or OpenAI client run by hand). The
    answer names the header that ties later calls to it (``x-fleet-run-id``)."""
    check.query(scope, ())
    _writer(who, "opening a run")
    raw = await body(scope, receive, check.INPUT_MAX, "a run's input")
    parsed = check.parse(raw, '{"trigger": "manual", "input": null}', empty_ok=True)
    trigger, value = check.opening({"trigger": "manual", **parsed})
    assert who.loop is not None
    run = f"{who.loop[:80]}-{secrets.token_hex(8)}"
    record, _ = await records.open_run(store, run, who.loop, trigger, value)
    await _json(send, 201, _run_json(record, created=True, headers={"x-fleet-run-id": run}))


async def show(store: Store, who: Caller, run: str, scope: Scope, send: Send) -> None:
    params = check.query(scope, ("after",))
    after = check.natural("after", params["after"]) if params.get("after") else 0
    found = await records.owned(store, run, who.loop)
    logged = await records.journal(store, run, after)
    entries = b",".join(e.text.encode() for e in logged)
    await _json(send, 200, _run_json(found.record)[:-1] + b',"journal":[' + entries + b"]}")


async def patch(
    store: Store, who: Caller, run: str, scope: Scope, receive: Receive, send: Send
) -> None:
    check.query(scope, ())
    if not who.operator:
        _writer(who, "changing a run")
    raw = await body(scope, receive, check.PATCH_MAX, "a run patch")
    fields = check.patch(check.parse(raw, '{"steps": 3, "tokens": 1200}'))
    if who.operator and (
        any(k not in OPERATOR_PATCH for k in fields)
        or fields.get("status") != "ended"
        or fields.get("outcome") not in OPERATOR_OUTCOMES
    ):
        raise ForbiddenError(
            "read_only",
            "the operator only ends a run (status ended, outcome expired or error); "
            "everything else is the harness's to write",
        )
    found = await records.owned(store, run, who.loop)
    await _json(send, 200, _run_json(await records.update(store, found, fields)))


async def append(
    store: Store, who: Caller, run: str, seq: int, scope: Scope, receive: Receive, send: Send
) -> None:
    check.query(scope, ())
    _writer(who, "appending to a journal")
    raw = await body(scope, receive, check.ENTRY_MAX, "a journal entry", check.PATCH_MAX)
    text, fields = check.journal_body(
        check.parse(raw, '{"entry": {"kind": "note", "scope": "main", "t": 0.5, "text": "…"}}'), seq
    )
    found = await records.owned(store, run, who.loop)
    created, record = await records.append(store, found, seq, text, fields)
    await _json(
        send, 201 if created else 200, orjson.dumps({"seq": seq, "created": created, "run": record})
    )


async def listing(store: Store, who: Caller, scope: Scope, send: Send) -> None:
    loop, status, outcome, since, limit = check.listing(check.query(scope, check.LIST_PARAMS))
    if who.loop is not None:
        loop = who.loop  # a loop sees its own runs, whatever it asked for
    found = await records.select(store, loop, status, outcome, since, limit)
    await _json(send, 200, orjson.dumps({"runs": found}))


async def show_state(store: Store, loop: str, scope: Scope, send: Send) -> None:
    params = check.query(scope, ("version",))
    version = check.natural("version", params["version"]) if params.get("version") else None
    await _json(send, 200, (await state.read(store, loop, version)).json())


async def write_state(
    store: Store, who: Caller, loop: str, scope: Scope, receive: Receive, send: Send
) -> None:
    check.query(scope, ())
    _writer(who, "writing the loop's state")
    raw = await body(scope, receive, check.VALUE_MAX, "a state value")
    value, if_version = check.state_body(check.parse(raw, '{"value": {…}, "if_version": 0}'))
    await _json(send, 200, (await state.write(store, loop, value, if_version)).json())
