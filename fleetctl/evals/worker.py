"""One eval worker: a gateway, a replay provider and replay MCP servers, running cases in turn.

``fleetctl eval --jobs N`` starts N of these, each with a home of its own
(tokens, gateway.json, its SQLite store) in the eval's scratch directory, so
runs of the same loop never share the loop's state or budget: a case seeds
the state it was recorded with, runs, and reads the state back, alone on its
store. The parts are the real ones ``fleetctl run`` uses: the embedded
gateway, ``fleet-harness run`` as a subprocess with the pod's environment,
the replay provider (:mod:`fleetctl.local.replay`, one transcript per case).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from fleet.evals.case import Case
from fleet.evals.check import Observation, ToolUse, parse_judge_reply
from fleet.gwconfig import dump_json
from fleetctl.evals.mcpreplay import Recording, ReplayHost, ReplayTools
from fleetctl.evals.zygote import Forker
from fleetctl.local.errors import LocalError
from fleetctl.local.home import Fleet, Home
from fleetctl.local.replay import Replay, ReplayApp
from fleetctl.local.runner import harness_command
from fleetctl.local.server import ServerThread

HARNESS_TIMEOUT_S = 120.0


class SwitchProvider:
    """An ASGI app that hands every request to the current case's replay (none between cases)."""

    def __init__(self) -> None:
        self.current: ReplayApp | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                kind = msg["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        app = self.current
        if app is None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            body = b'{"error": {"message": "replay: no case is running", "type": "server_error"}}'
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)


def _servers(fleet: Fleet, loops: list[dict[str, Any]]) -> list[str]:
    names: set[str] = set()
    for loop in loops:
        names |= set(loop["spec"].get("mcpServers", {}))
        for sub in loop["spec"].get("subagents", []):
            names |= set(sub.get("mcpServers", {}))
    return sorted(n for n in names if n in fleet.policy["spec"].get("mcpServers", {}))


def _catalog_tools(fleet: Fleet, server: str) -> set[str]:
    tools = fleet.policy["spec"]["mcpServers"][server].get("tools", {})
    return {t for names in tools.values() for t in names if "*" not in t and "?" not in t}


def _reply_of(entry: dict[str, Any]) -> dict[str, Any]:
    """A journal's model entry as a transcript reply (``fleetctl.local.transcript``)."""
    msg = entry.get("message") or {}
    reply: dict[str, Any] = {}
    if msg.get("content"):
        reply["content"] = msg["content"]
    calls = []
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except ValueError:
            args = {}
        calls.append({"name": fn.get("name"), "arguments": args if isinstance(args, dict) else {}})
    if calls:
        reply["tool_calls"] = calls
    reply["usage"] = {
        "prompt_tokens": int(entry.get("tokens_in") or 0),
        "completion_tokens": int(entry.get("tokens_out") or 0),
    }
    return reply


class Worker:
    """``with Worker(fleet, scratch, i, loops, replay=True) as w: w.run_case(...)``."""

    def __init__(
        self,
        fleet: Fleet,
        scratch: Path,
        index: int,
        loops: list[dict[str, Any]],
        *,
        replay: bool,
        forker: Forker | None = None,
        harness: str | None = None,
    ):
        self.fleet = fleet
        self.index = index
        self.home = Home(scratch / f"worker-{index}")
        self.loops = loops
        self.replay = replay
        self.provider = SwitchProvider()
        names = _servers(fleet, loops)
        self.tools = ReplayTools(names, {n: _catalog_tools(fleet, n) for n in names})
        self._threads: list[Any] = []
        self.tokens: dict[str, str] = {}
        self.url = ""
        self.http: httpx.Client | None = None
        # runs fork from the eval's warm harness parent; without one, ``harness`` (or
        # fleet-harness) is exec'd per case
        self.forker = forker
        self.harness = harness
        self.judge_reply: dict[str, Any] | None = None

    def start(self) -> Worker:
        from fleet.gwrender import identities
        from fleetctl.local.embedded import EmbeddedGateway

        try:
            self.home.ensure()
            self.tokens = self.home.tokens(identities(self.fleet.loops))
            # The replay provider and every replay MCP server of the worker share one server.
            host = ReplayHost(self.provider, {n: self.tools.app(n) for n in self.tools.names})
            srv = ServerThread(host).start()
            self._threads.append(srv)
            provider_url = srv.url + "/v1" if self.replay else None
            mcp = {name: host.url_of(srv.url, name) for name in self.tools.names}
            cfg = self.home.write_gateway_config(
                self.fleet, self.tokens, provider_url=provider_url, mcp=mcp
            )
            # The replay servers take no credential, and an eval reaches no other server: the
            # gateway must neither wait for nor warn about one.
            servers = {n: replace(s, credentials=None) for n, s in cfg.mcp_servers.items()}
            # The gateway picks a weighted target per call; an eval prices every call at the
            # heaviest target of its virtual model, so a case costs the same on every run.
            models = {
                n: replace(m, targets=[max(m.targets, key=lambda t: t.weight)])
                if len(m.targets) > 1
                else m
                for n, m in cfg.models.items()
            }
            # Cases are replays squeezed into seconds, not production traffic: no answer cached
            # from another case, and no per-minute rate or daily budget spent across cases (the
            # harness's per-run ceilings still bound each run).
            loops = {
                n: replace(lp, budget=None, rate_limits=type(lp.rate_limits)())
                for n, lp in cfg.loops.items()
            }
            cfg = replace(
                cfg,
                mcp_servers=servers,
                models=models,
                loops=loops,
                shared_budgets=[],
                caching=replace(cfg.caching, type="none"),
            )
            self.home.config_file.write_text(dump_json(cfg) + "\n")
            gw = EmbeddedGateway(self.home)
            self._threads.append(gw)
            gw.start()
            self.url = gw.url
            self.http = httpx.Client(base_url=self.url, timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None
        for t in self._threads:
            t.begin_stop()
        for t in reversed(self._threads):
            t.stop()
        self._threads = []

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ one case

    def _api(self, method: str, path: str, token: str, body: Any = None) -> Any:
        assert self.http is not None
        resp = self.http.request(
            method, path, json=body, headers={"authorization": f"Bearer {token}"}
        )
        if resp.status_code >= 400:
            raise LocalError(
                f"the eval's gateway answered {resp.status_code} to {method} {path}: {resp.text[:300]}"
            )
        return resp.json()

    def run_case(
        self,
        case: Case,
        loop: dict[str, Any],
        replay: Replay | None,
        *,
        listed: dict[str, set[str]],
        judge_model: str | None = None,
    ) -> Observation:
        """Run ``case`` with ``loop``'s pins; ``replay`` is its transcript (None: real providers)."""
        name = loop["metadata"]["name"]
        token = self.tokens[name]
        run_id = f"eval-{case.name[:60]}-{secrets.token_hex(4)}"
        started = time.monotonic()
        obs = Observation(run=run_id, worker=self.index, started=started)
        recording = Recording(list(case.spec.tools))
        self.tools.use(recording, listed)
        self.provider.current = ReplayApp(replay) if replay is not None else None
        try:
            state_path = f"/v1/fleet/loops/{name}/state"
            version = self._api("GET", state_path, token)["version"]
            self._api(
                "PUT", state_path, token, {"value": case.spec.input.state, "if_version": version}
            )
            self.home.lay_out_run(run_id, loop, self.fleet.content, self.tokens)
            end, stderr = self._harness(run_id, name, token, case.spec.input.payload)
            if end is None:
                obs.errors.append(
                    f"the harness ended without an outcome: {stderr.strip()[-400:] or 'no message'}"
                )
            else:
                obs.outcome = str(end.get("outcome") or "error")
                obs.steps = int(end.get("steps") or 0)
                obs.tokens = int(end.get("tokens") or 0)
                obs.cost_usd = float(end.get("cost_usd") or 0.0)
                obs.answer = str(end.get("summary") or "")
                obs.detail = str(end.get("detail") or "")
            self._read_journal(obs, run_id, token)
            obs.state = self._api("GET", state_path, token)["value"]
            rubric = case.spec.expect.rubric
            if rubric is not None and not obs.errors:
                self.judge_reply = None
                obs.judge = self._judge(name, token, rubric.judge, rubric.criteria, obs.answer)
                if self.judge_reply is not None:
                    obs.replies[f"{name}/judge"] = [self.judge_reply]
        except (LocalError, httpx.HTTPError) as exc:
            obs.errors.append(str(exc))
        finally:
            self.provider.current = None
            obs.unrecorded = list(recording.unrecorded)
            obs.seconds = time.monotonic() - started
        return obs

    def _harness(
        self, run_id: str, loop: str, token: str, payload: Any
    ) -> tuple[dict[str, Any] | None, str]:
        content = self.home.content_dir(run_id)
        env = {
            **os.environ,
            "FLEET_GATEWAY_URL": self.url,
            "FLEET_GATEWAY_TOKEN": token,
            "FLEET_LOOP": loop,
            "FLEET_RUN_ID": run_id,
            "FLEET_DEFINITION": str(self.home.definition_file(run_id)),
            "FLEET_CONTENT_DIR": str(content),
            "FLEET_TOKENS_DIR": str(content / "tokens"),
            "FLEET_WORKSPACE": str(self.home.workspace(run_id)),
            "FLEET_TRIGGER": "manual",
            "FLEET_HARNESS_RETRY_S": "5",
        }
        env.pop("FLEET_INPUT_FILE", None)
        env.pop("FLEET_INPUT", None)
        if payload is not None:
            env["FLEET_INPUT"] = json.dumps(payload)
        argv = [
            "run",
            "--definition",
            str(self.home.definition_file(run_id)),
            "--events",
            "jsonl",
        ]
        out = self.home.run_dir(run_id) / "harness.out"
        err = self.home.run_dir(run_id) / "harness.err"
        try:
            if self.forker is not None:
                code = self.forker.run(argv, env, out, err, HARNESS_TIMEOUT_S)
            else:
                with out.open("w") as fo, err.open("w") as fe:
                    proc = subprocess.run(
                        [*harness_command(self.harness), *argv],
                        stdin=subprocess.DEVNULL,
                        stdout=fo,
                        stderr=fe,
                        env=env,
                        timeout=HARNESS_TIMEOUT_S,
                        check=False,
                    )
                code = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
        except OSError as exc:
            raise LocalError(
                f"cannot start the harness: {exc}", "install the harness extra"
            ) from None
        stdout = out.read_text(errors="replace")
        stderr = err.read_text(errors="replace")
        if code is None:
            return None, f"the harness ran over {HARNESS_TIMEOUT_S:.0f} s and was stopped"
        end = None
        for line in stdout.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("event") == "end":
                end = event
        return end, stderr

    def _read_journal(self, obs: Observation, run_id: str, token: str) -> None:
        try:
            data = self._api("GET", f"/v1/fleet/runs/{run_id}", token)
        except LocalError:
            return  # the run never opened: the harness's message says why
        results: dict[str, dict[str, Any]] = {}
        for entry in data.get("journal") or []:
            if entry.get("kind") == "tool":
                results[str(entry.get("call_id"))] = entry.get("result") or {}
        for entry in data.get("journal") or []:
            kind = entry.get("kind")
            if kind == "model":
                obs.replies.setdefault(str(entry.get("member")), []).append(_reply_of(entry))
                for call in (entry.get("message") or {}).get("tool_calls") or []:
                    fn = call.get("function") or {}
                    try:
                        args = json.loads(fn.get("arguments") or "{}")
                    except ValueError:
                        args = {"_unparsed": fn.get("arguments")}
                    res = results.get(str(call.get("id")), {})
                    obs.calls.append(
                        ToolUse(
                            str(fn.get("name")),
                            args if isinstance(args, dict) else {"_value": args},
                            str(res.get("content") or ""),
                            bool(res.get("is_error")),
                        )
                    )
            elif kind == "verdict":
                obs.verdict = entry.get("verdict")

    def _judge(
        self, loop: str, token: str, model: str, criteria: str, answer: str
    ) -> dict[str, Any]:
        """Ask the judge model, through the gateway as the loop, for a verdict on the answer."""
        assert self.http is not None
        body = {
            "model": model,
            "user": f"{loop}/judge",
            "messages": [
                {
                    "role": "system",
                    "content": (
                        "You grade the final answer of an automated loop against a rubric. Reply "
                        'with JSON only: {"verdict": "pass" or "fail", "reasons": ["..."]}.'
                    ),
                },
                {"role": "user", "content": f"Rubric:\n{criteria}\n\nAnswer:\n{answer}"},
            ],
        }
        resp = self.http.post(
            "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {token}"}
        )
        if resp.status_code != 200:
            return {
                "verdict": None,
                "reasons": [],
                "raw": f"HTTP {resp.status_code}: {resp.text[:200]}",
            }
        try:
            msg = resp.json()["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            return {"verdict": None, "reasons": [], "raw": resp.text[:200]}
        args = None
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") or {}
            if fn.get("name") == "verdict":
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = None
        usage = resp.json().get("usage") or {}
        reply: dict[str, Any] = {"content": msg.get("content") or ""}
        reply["usage"] = {
            "prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0),
        }
        self.judge_reply = reply
        return parse_judge_reply(msg.get("content"), args if isinstance(args, dict) else None)
