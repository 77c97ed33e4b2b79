"""The replay provider: an OpenAI-compatible model server that plays a recorded transcript.

``fleetctl run --provider replay:FILE`` points every provider of the fleet at
one of these, so a loop runs end to end, deterministically, with no model and
no network. Routes: ``POST /v1/chat/completions`` (JSON, or SSE chunks of the
same reply when ``stream`` is set), ``GET /v1/models``, ``/healthz``.

Which reply a request gets:

- the track is the request's ``user`` field (the harness sends ``<loop>`` or
  ``<loop>/<sub-agent>``); a missing or unknown one is a 400;
- within a track a cursor moves one reply per new request; a request seen
  before (same ``messages``, ``tools`` and ``user``: a retry after a crash)
  gets the reply it got then and does not move the cursor. A scripted error
  (``status``) is not remembered, so the retry that follows it gets the next
  reply, the way a provider recovers;
- the gateway does not forward the caller's headers upstream, so the cursor
  is per track; a request that does carry ``x-fleet-run-id`` (a client talking
  to the replay directly) gets cursors of its own run;
- a used-up track answers 503 (the harness sees a provider failure), and a
  scripted call to a function the request does not offer answers 400.

With ``state_path`` the cursors and the memo are written atomically on every
advance, so another process (``fleetctl run --resume``) goes on where the
last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fleetctl.local.errors import LocalError
from fleetctl.local.transcript import Replay, Reply, ToolCall

__all__ = ["Replay", "ReplayApp", "ReplayState", "fingerprint", "serve_in_thread"]

_STATE_VERSION = 1
_JSON = [(b"content-type", b"application/json")]


def fingerprint(request: dict[str, Any]) -> str:
    """sha256 of what decides the reply: the conversation, the tools offered and the caller."""
    keep = {
        "messages": request.get("messages"),
        "tools": request.get("tools"),
        "user": request.get("user"),
    }
    return hashlib.sha256(orjson.dumps(keep, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


@dataclass
class _Cursor:
    next: int = 0
    memo: dict[str, int] = field(default_factory=dict)


class ReplayState:
    """Cursor and memo per (run, track), optionally kept in a JSON file."""

    def __init__(self, replay: Replay, path: str | Path | None = None):
        self.replay = replay
        self.path = Path(path) if path is not None else None
        self.cursors: dict[tuple[str, str], _Cursor] = {}
        self._lock = threading.Lock()
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        try:
            data = orjson.loads(path.read_bytes())
            if data.get("version") != _STATE_VERSION:
                raise ValueError(f"version {data.get('version')!r}")
        except (OSError, ValueError, AttributeError) as exc:
            raise LocalError(
                f"{path}: not a replay state file ({exc})", "delete it to replay from the start"
            ) from None
        if data.get("transcript") != self.replay.digest:
            raise LocalError(
                f"{path}: the replay state was written for another version of {self.replay.file}",
                "restore the transcript the run started with, or start a new run",
            )
        for run, tracks in (data.get("runs") or {}).items():
            for track, cur in tracks.items():
                self.cursors[(run, track)] = _Cursor(int(cur["next"]), dict(cur["memo"]))

    def _save(self) -> None:
        if self.path is None:
            return
        runs: dict[str, dict[str, Any]] = {}
        for (run, track), cur in sorted(self.cursors.items()):
            runs.setdefault(run, {})[track] = {"next": cur.next, "memo": cur.memo}
        payload = orjson.dumps(
            {
                "version": _STATE_VERSION,
                "replay": self.replay.title,
                "transcript": self.replay.digest,
                "runs": runs,
            },
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".replay-state-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def take(self, run: str, track: str, fp: str) -> tuple[int, Reply | None, bool]:
        """The index and reply for this request (``None`` when the track is used up), and
        whether it was a remembered one."""
        replies = self.replay.tracks[track]
        with self._lock:
            cur = self.cursors.setdefault((run, track), _Cursor())
            if fp in cur.memo:
                index = cur.memo[fp]
                return index, replies[index], True
            index = cur.next
            if index >= len(replies):
                return index, None, False
            reply = replies[index]
            cur.next += 1
            if reply.status is None:
                cur.memo[fp] = index
            self._save()
            return index, reply, False

    def position(self, track: str, run: str = "") -> int:
        """How many replies of ``track`` were handed out (tests, progress)."""
        cur = self.cursors.get((run, track))
        return cur.next if cur else 0


@dataclass
class Served:
    """One answered request, for tests and diagnostics."""

    track: str
    index: int
    fingerprint: str
    remembered: bool
    status: int


def _call_id(track: str, index: int, i: int) -> str:
    return f"call_{hashlib.sha256(track.encode()).hexdigest()[:8]}_{index}_{i}"


def _offered(request: dict[str, Any]) -> list[str]:
    names = []
    for tool in request.get("tools") or []:
        if isinstance(tool, dict):
            fn = tool.get("function") if tool.get("type", "function") == "function" else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                names.append(fn["name"])
    return names


def _estimate(text: str) -> int:
    return max(1, len(text) // 4)


class ReplayApp:
    """The raw ASGI app. ``state`` holds cursors; ``served`` every answer given."""

    def __init__(self, replay: Replay, state_path: str | Path | None = None):
        self.replay = replay
        self.state = ReplayState(replay, state_path)
        self.served: list[Served] = []
        self._title = replay.title.encode("utf-8")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"].rstrip("/")
        method = scope["method"]
        if path in ("/healthz", "/readyz", "/v1/healthz"):
            await self._json(send, 200, {"status": "ok", "replay": self.replay.title})
        elif path in ("/v1/models", "/models") and method == "GET":
            await self._json(
                send,
                200,
                {
                    "object": "list",
                    "data": [{"id": "replay", "object": "model", "owned_by": "replay"}],
                },
            )
        elif path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                await self._error(send, 405, "use POST", "invalid_request_error")
                return
            body = b""
            while True:
                msg = await receive()
                body += msg.get("body", b"")
                if not msg.get("more_body"):
                    break
            headers = dict(scope.get("headers") or [])
            run = headers.get(b"x-fleet-run-id", b"").decode("latin-1")
            await self._complete(send, body, run)
        else:
            await self._error(
                send, 404, f"replay: no route {method} {path}", "invalid_request_error"
            )

    async def _json(
        self, send: Any, status: int, data: Any, extra: list[Any] | None = None
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON, (b"x-fleet-replay", self._title), *(extra or [])],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(data)})

    async def _error(self, send: Any, status: int, message: str, kind: str, code: str = "") -> None:
        await self._json(
            send,
            status,
            {"error": {"message": message, "type": kind, "code": code or None, "param": None}},
        )

    async def _complete(self, send: Any, body: bytes, run: str) -> None:
        try:
            request = orjson.loads(body)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            await self._error(
                send, 400, "replay: the body is not a JSON object", "invalid_request_error"
            )
            return
        track = request.get("user")
        if not isinstance(track, str) or not track:
            await self._error(
                send,
                400,
                "replay: the request has no 'user' field, so it matches no track "
                f"(tracks: {', '.join(self.replay.track_names())}; the harness sends "
                "user=<loop> or <loop>/<sub-agent>)",
                "invalid_request_error",
                "replay_no_track",
            )
            return
        if track not in self.replay.tracks:
            from fleet.errors import did_you_mean

            hint = did_you_mean(track, self.replay.tracks)
            await self._error(
                send,
                400,
                f"replay: no track '{track}' in {self.replay.file}"
                + (f" ({hint})" if hint else ""),
                "invalid_request_error",
                "replay_unknown_track",
            )
            return
        fp = fingerprint(request)
        index, reply, remembered = self.state.take(run, track, fp)
        if reply is None:
            self.served.append(Served(track, index, fp, False, 503))
            await self._error(
                send,
                503,
                f"replay: track {track} has no reply left after {index}",
                "server_error",
                "replay_exhausted",
            )
            return
        if reply.delay_ms:
            await asyncio.sleep(reply.delay_ms / 1000)
        if reply.status is not None:
            self.served.append(Served(track, index, fp, remembered, reply.status))
            await self._error(
                send,
                reply.status,
                reply.content or f"replay: scripted status {reply.status} (reply {index + 1})",
                "server_error" if reply.status >= 500 else "invalid_request_error",
                "replay_scripted",
            )
            return
        offered = _offered(request)
        missing = [c.name for c in reply.tool_calls if c.name not in offered]
        if missing:
            self.served.append(Served(track, index, fp, remembered, 400))
            await self._error(
                send,
                400,
                f"replay: the transcript calls {missing[0]}, which the request does not offer "
                f"(offered: {', '.join(offered) or 'no tools'}; track {track}, reply {index + 1}"
                + (f", line {reply.line}" if reply.line else "")
                + ")",
                "invalid_request_error",
                "replay_tool_not_offered",
            )
            return
        self.served.append(Served(track, index, fp, remembered, 200))
        model = request.get("model") or "replay"
        calls = _wire_calls(track, index, reply.tool_calls)
        usage = self._usage(request, reply, calls)
        extra = [(b"x-fleet-replay-reply", f"{track}#{index + 1}".encode())]
        if request.get("stream"):
            include = bool((request.get("stream_options") or {}).get("include_usage"))
            await self._stream(send, track, index, model, reply, calls, usage, include, extra)
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if calls:
            message["tool_calls"] = calls
        await self._json(
            send,
            200,
            {
                "id": f"chatcmpl-replay-{fp[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if calls else "stop",
                        "logprobs": None,
                    }
                ],
                "usage": usage,
            },
            extra,
        )

    def _usage(
        self, request: dict[str, Any], reply: Reply, calls: list[dict[str, Any]]
    ) -> dict[str, int]:
        if reply.usage is not None:
            p, c = reply.usage
        else:
            p = _estimate(orjson.dumps(request.get("messages") or []).decode())
            c = _estimate(
                (reply.content or "") + "".join(x["function"]["arguments"] for x in calls)
            )
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    async def _stream(
        self,
        send: Any,
        track: str,
        index: int,
        model: str,
        reply: Reply,
        calls: list[dict[str, Any]],
        usage: dict[str, int],
        include_usage: bool,
        extra: list[Any],
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"cache-control", b"no-cache"),
                    (b"x-fleet-replay", self._title),
                    *extra,
                ],
            }
        )
        cid = f"chatcmpl-replay-{hashlib.sha256(f'{track}#{index}'.encode()).hexdigest()[:12]}"
        created = int(time.time())

        async def chunk(choices: list[Any], **more: Any) -> None:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **more,
            }
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + orjson.dumps(data) + b"\n\n",
                    "more_body": True,
                }
            )

        await chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        )
        for part in _pieces(reply.content or ""):
            await chunk([{"index": 0, "delta": {"content": part}, "finish_reason": None}])
        for i, call in enumerate(calls):
            delta = {"tool_calls": [{"index": i, **call}]}
            await chunk([{"index": 0, "delta": delta, "finish_reason": None}])
        await chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}])
        if include_usage:
            await chunk([], usage=usage)
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})


def _wire_calls(track: str, index: int, calls: tuple[ToolCall, ...]) -> list[dict[str, Any]]:
    return [
        {
            "id": _call_id(track, index, i),
            "type": "function",
            "function": {
                "name": c.name,
                "arguments": orjson.dumps(c.arguments, default=str).decode(),
            },
        }
        for i, c in enumerate(calls)
    ]


def _pieces(text: str, n: int = 3) -> list[str]:
    """The reply's text in about ``n`` chunks, split at spaces, joined back exactly."""
    if not text:
        return []
    words = text.split(" ")
    per = max(1, -(-len(words) // n))
    return [
        " ".join(words[i : i + per]) + (" " if i + per < len(words) else "")
        for i in range(0, len(words), per)
    ]


def serve_in_thread(
    replay: Replay, state_path: str | Path | None = None, *, port: int = 0
) -> tuple[str, Callable[[], None]]:
    """Serve ``replay`` on 127.0.0.1 (``port`` 0: a free one) in a thread.

    Returns the OpenAI base URL (``http://127.0.0.1:PORT/v1``) and a function that stops
    the server."""
    from fleetctl.local.server import ServerThread

    srv = ServerThread(ReplayApp(replay, state_path), port=port).start()
    return srv.url + "/v1", srv.stop
