"""The HTTP face of the runs API: ``/v1/fleet/runs…`` and ``/v1/fleet/loops/<loop>/state``,
a raw ASGI handler the gateway's router calls for every path under ``/v1/fleet/``.

It decides who may do what, reads bounded bodies, and answers in JSON; what is
stored, and how, is :mod:`gateway.runs.records` and :mod:`gateway.runs.state`.
Who: a loop's own token reads and writes its runs and its state; its sub-agents'
tokens read them; an approver's token reads every loop's and writes nothing.
A run of another loop is a 404 (as if it did not exist), another loop's state a
403. Each request checks, in order: the token (401), the route and its ids
(404, 400), the right to write (403, before anything is looked up, so a refused
writer learns nothing), the body (400, 413), the run (404), the journal (409).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from gateway import auth
from gateway.asgi import JSON, Receive, Scope, Send, header, send_response
from gateway.config import Runtime
from gateway.errors import AuthError, BadRequestError, ForbiddenError, NotFoundError
from gateway.runs import records, state
from gateway.runs import validate as check
from gateway.runs.validate import MethodError, TooLargeError
from gateway.store import Store

PREFIX = "/v1/fleet/"
ROUTES = (
    "PUT|GET|PATCH /v1/fleet/runs/<run>, PUT /v1/fleet/runs/<run>/journal/<seq>, "
    "GET /v1/fleet/runs, GET|PUT /v1/fleet/loops/<loop>/state"
)
# Records read from the store at a time while listing; the event loop gets a turn between.
PAGE = 200


@dataclass(frozen=True)
class Caller:
    loop: str | None  # None: an approver, who reads every loop
    member: str
    writes: bool


def caller(scope: Scope, rt: Runtime) -> Caller:
    """A loop or sub-agent token (as everywhere in the gateway), else an approver's."""
    try:
        ident = auth.authenticate(scope, rt)
    except AuthError:
        value = header(scope, b"authorization") or ""
        token = value[7:].strip() if value.lower().startswith("bearer ") else ""
        name = rt.approvers.get(hashlib.sha256(token.encode()).hexdigest()) if token else None
        if name is None:
            raise
        return Caller(None, str(name), False)
    return Caller(ident.loop, ident.member, ident.role == "loop")


def _writer(who: Caller, what: str) -> None:
    if who.writes:
        return
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
    declared = header(scope, b"content-length")
    if declared is not None and (
        len(declared) > 12 or (declared.isdigit() and int(declared) > wire)
    ):
        raise refusal
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequestError(
                "client_disconnected", "the client went away before sending the body; send it again"
            )
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > wire:
            raise refusal
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _methods(method: str, allowed: str, path: str) -> MethodError:
    return MethodError(
        "method_not_allowed",
        f"{method} {path} is not supported; use {allowed.replace(',', ' or')}",
        headers={"allow": allowed},
    )


async def handle(gateway: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one request under ``/v1/fleet/``; errors are raised as :class:`GatewayError`."""
    who = caller(scope, gateway.holder.runtime)
    store: Store = gateway.store
    path: str = scope["path"]
    method: str = scope["method"]
    parts = path[len(PREFIX) :].split("/")
    if parts[0] == "runs" and len(parts) == 1:
        if method != "GET":
            raise _methods(method, "GET", path)
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
    _writer(who, "changing a run")
    raw = await body(scope, receive, check.PATCH_MAX, "a run patch")
    fields = check.patch(check.parse(raw, '{"steps": 3, "tokens": 1200}'))
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
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    offset = 0
    while len(found) < limit:
        size = limit if loop is None and status is None and outcome is None else PAGE
        batch = await records.page(store, since, offset, size)
        offset += len(batch)
        for record in batch:
            if record["id"] in seen:  # a run opened while paging shifts the pages by one
                continue
            seen.add(record["id"])
            if (
                (loop is None or record["loop"] == loop)
                and (status is None or record["status"] == status)
                and (outcome is None or record["outcome"] == outcome)
            ):
                found.append(record)
        if len(batch) < size:
            break
        await asyncio.sleep(0)
    await _json(send, 200, orjson.dumps({"runs": found[:limit]}))


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
