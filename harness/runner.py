"""Run one loop until it is done: the maker's turns, its tools, the done condition, the bounds.

The maker (the loop's own identity) works in the ``main`` conversation. Its
``finish`` runs the done condition: the done command in the workspace, then the
checker sub-agent's review in a fresh conversation of its own (``check:<n>``,
under the checker's own token, read-only); a fail goes back to the maker as
the reasons, and when the checker rounds are used up the run ends
``rejected``. ``delegate`` runs a maker sub-agent in its own conversation and
returns only its final answer. Every model reply and tool result is journalled
through :class:`harness.journal.Journal` before the next step, so the same
code resumes a run by replaying it. Bounds are checked before each model call,
over everything the run used in every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from fleet.runtime import prompts
from fleet.runtime.definition import Member
from fleet.runtime.outcomes import Outcome
from fleet.runtime.progress import StallDetector, Usage, fingerprint, over
from fleet.runtime.verdict import VERDICT_TOOL, Verdict, from_arguments, from_text
from harness import builtins
from harness.content import Content, load
from harness.cpu import Split
from harness.errors import Nondeterminism
from harness.events import Events
from harness.journal import Journal
from harness.mcptools import McpTools, ToolResult
from harness.models import Models, Stop
from harness.runs import Runs
from harness.settings import Settings, subagent_token

CHECKER_STEPS = 12
DELEGATE_STEPS = 30


class Pause(Exception):
    def __init__(self, approval_id: str, tool: str, call_id: str):
        super().__init__(approval_id)
        self.approval_id = approval_id
        self.tool = tool
        self.call_id = call_id


@dataclass
class End:
    run: str
    outcome: str
    summary: str | None = None
    detail: str | None = None
    approval: str | None = None
    usage: Usage = field(default_factory=Usage)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "outcome": self.outcome,
            "steps": self.usage.steps,
            "tokens": self.usage.tokens,
            "cost_usd": round(self.usage.cost_usd, 8),
            "summary": self.summary,
            "detail": self.detail,
            "approval": self.approval,
        }


@dataclass
class Agent:
    """A member at work: its identity, token, content and the tools it is offered."""

    member: Member
    token: str
    content: Content
    builtins: list[dict[str, Any]]
    mcp: dict[str, tuple[str, str]] = field(default_factory=dict)
    """The model's function name → (server, tool)."""
    tools: list[dict[str, Any]] | None = None
    """Everything offered to the model; listed when first needed."""
    journalled: bool = False
    """Whether this attempt stored the offer in a model entry (a resumed attempt reuses it)."""


def _fn_name(server: str, tool: str) -> str:
    raw = f"{server}__{tool}"
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)[:64]


def _args(raw: str | None) -> tuple[dict[str, Any] | None, str | None]:
    try:
        value = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError as exc:
        return None, f"the arguments are not valid JSON ({exc}); send a JSON object"
    if not isinstance(value, dict):
        return None, "the arguments must be a JSON object"
    return value, None


def _tool_message(call_id: str, text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": text}


class Runner:
    def __init__(
        self,
        settings: Settings,
        events: Events | None = None,
        split: Split | None = None,
        settle: Callable[[], None] | None = None,
    ):
        """``split`` keeps the CPU account of :mod:`harness.cpu`; ``settle`` is called once
        after the first live model call (the process's collector tuning: only the process's
        owner, the CLI, passes it)."""
        self.s = settings
        self.d = settings.definition
        self.events = events or Events("none")
        self.usage = Usage()
        self.rounds = 0
        self.awaiting: str | None = None
        self.stack = contextlib.AsyncExitStack()
        self.runs = Runs(
            settings.gateway_url, settings.token, settings.run_id, self.d.loop, settings.retry_s
        )
        self.models = Models(
            settings.gateway_url,
            settings.run_id,
            retry_s=settings.retry_s,
            lean_http=settings.lean_http,
        )
        self.mcp = McpTools(
            settings.gateway_url, settings.run_id, self.stack, lean_http=settings.lean_http
        )
        self.journal: Journal | None = None
        self._agents: dict[str, Agent] = {}
        self.split = split or Split()
        self.settle = settle

    # ------------------------------------------------------------------ entry

    async def run(self) -> End:
        try:
            return await self._run()
        finally:
            self.split.close()
            with contextlib.suppress(Exception):
                await self.stack.aclose()
            await self.models.aclose()
            await self.runs.aclose()

    async def _run(self) -> End:
        record = await self.runs.open(self.s.trigger, self.s.input)
        if record.get("status") == "ended":
            end = End(
                self.s.run_id,
                str(record.get("outcome")),
                record.get("summary"),
                record.get("detail"),
                usage=Usage(
                    int(record.get("steps") or 0),
                    int(record.get("tokens") or 0),
                    float(record.get("cost_usd") or 0.0),
                ),
            )
            self.events.emit("end", **end.to_json(), already=True)
            return end
        _, entries = await self.runs.read()
        journal = self.journal = Journal(
            self.runs, entries, int(record.get("attempts") or 1), self.split
        )
        journal.patch = self._patch
        self.usage.active_s = journal.prior_active_s
        self.events.emit(
            "start",
            run=self.s.run_id,
            loop=self.d.loop,
            attempt=journal.attempt,
            resumed=bool(entries),
            journal=len(entries),
        )
        outcome: Outcome
        summary: str | None = None
        try:
            remaining = max(self.d.bounds.max_run_s - journal.prior_active_s, 0.001)
            try:
                async with asyncio.timeout(remaining):
                    summary = await self.main()
                outcome, detail = "done", None
            except TimeoutError:
                outcome, detail = (
                    "timeout",
                    f"the run ran for its {self.d.bounds.max_run_s / 60:g} minutes",
                )
                # An append may have been cut off mid-way: learn what the gateway holds.
                _, journal.entries = await self.runs.read()
                journal.next = len(journal.entries) + 1
        except Stop as stop:
            outcome, detail = stop.outcome, stop.detail
        except Pause as pause:
            self.awaiting = pause.approval_id
            await self.runs.update(
                {
                    **self._patch(),
                    "status": "awaiting_approval",
                    "outcome": "awaiting_approval",
                    "approval": {
                        "approval_id": pause.approval_id,
                        "call_id": pause.call_id,
                        "name": pause.tool,
                    },
                }
            )
            end = End(
                self.s.run_id,
                "awaiting_approval",
                None,
                f"{pause.tool} waits for a human (approval {pause.approval_id})",
                pause.approval_id,
                self.usage,
            )
            self.events.emit("end", **end.to_json())
            return end
        except Nondeterminism as exc:
            outcome, detail = "error", str(exc)
            journal.next = len(journal.entries) + 1
        await journal.append(
            "outcome", "main", {"outcome": outcome, "summary": summary, "detail": detail}
        )
        await self.runs.update(
            {
                **self._patch(),
                "status": "ended",
                "outcome": outcome,
                "summary": summary,
                "detail": detail,
                "ended": time.time(),
                "approval": None,
            }
        )
        end = End(self.s.run_id, outcome, summary, detail, usage=self.usage)
        self.events.emit("end", **end.to_json())
        return end

    def _patch(self) -> dict[str, Any]:
        j = self.journal
        return {
            "status": "running",
            "steps": self.usage.steps,
            "tokens": self.usage.tokens,
            "cost_usd": round(self.usage.cost_usd, 8),
            "active_s": round(self.usage.active_s + (j.elapsed() if j else 0.0), 3),
            "checker_rounds": self.rounds,
        }

    # ------------------------------------------------------------------ agents

    def agent(self, member: Member, extra: list[dict[str, Any]]) -> Agent:
        found = self._agents.get(member.identity)
        if found is None:
            token = self.s.token if member.role == "loop" else subagent_token(self.s, member.name)
            content = load(self.s.content_dir, member)
            tools = list(extra)
            if content.skills:
                tools.insert(0, builtins.LOAD_SKILL)
            found = self._agents[member.identity] = Agent(member, token, content, tools)
            # A resumed run reuses the offer its journal holds, so its first step does not
            # wait for the tool servers (or the MCP client's import).
            for entry in reversed(self.journal.entries if self.journal else []):
                offer = entry.get("offered")
                if (
                    entry.get("kind") == "model"
                    and entry.get("member") == member.identity
                    and offer
                ):
                    found.tools = list(offer["tools"])
                    found.mcp = {k: (v[0], v[1]) for k, v in offer["mcp"].items()}
                    break
        return found

    async def offered(self, agent: Agent) -> list[dict[str, Any]]:
        if agent.tools is None:
            specs = await self.mcp.list(agent.token, agent.member.servers)
            tools = list(agent.builtins)
            for spec in specs:
                name = _fn_name(spec.server, spec.tool)
                agent.mcp[name] = (spec.server, spec.tool)
                schema = spec.schema or {"type": "object", "properties": {}}
                tools.append(builtins.function(name, f"[{spec.server}] {spec.description}", schema))
            agent.tools = tools
        return agent.tools

    # ------------------------------------------------------------------ steps

    async def model_step(
        self, scope: str, agent: Agent, messages: list[dict[str, Any]]
    ) -> dict[str, Any]:
        assert self.journal is not None

        async def live() -> dict[str, Any]:
            assert self.journal is not None
            reached = over(self.d.bounds, self.usage, self.journal.elapsed())
            if reached is not None:
                raise Stop(*reached)
            tools = await self.offered(agent)
            split = self.split
            t = split.now() if split.enabled else 0
            reply = await self.models.complete(
                agent.token,
                agent.member.identity,
                agent.member.model,
                self.usage.steps + 1,
                messages,
                tools,
            )
            if t:
                split.model_ns += split.now() - t
            if self.settle is not None:
                self.settle()
                self.settle = None
            fields = {
                "member": agent.member.identity,
                "step": self.usage.steps + 1,
                "message": reply.message,
                "tokens_in": reply.tokens_in,
                "tokens_out": reply.tokens_out,
                "cost_usd": reply.cost_usd,
            }
            if not agent.journalled:
                fields["offered"] = {"tools": tools, "mcp": agent.mcp}
                agent.journalled = True
            return fields

        entry = await self.journal.record("model", scope, live)
        self.usage.add(int(entry["tokens_in"]) + int(entry["tokens_out"]), float(entry["cost_usd"]))
        calls = entry["message"].get("tool_calls") or []
        self.events.emit(
            "step",
            step=entry["step"],
            member=entry["member"],
            scope=scope,
            tokens=self.usage.tokens,
            cost_usd=round(self.usage.cost_usd, 6),
            tool_calls=[c["function"]["name"] for c in calls],
            replayed=entry.get("attempt") != self.journal.attempt,
            **self.split.fields(),
        )
        return entry

    async def tool_step(
        self,
        scope: str,
        agent: Agent,
        model: dict[str, Any],
        index: int,
        call: dict[str, Any],
        args: dict[str, Any],
    ) -> dict[str, Any]:
        """Journal one tool call's result (an MCP tool or a built-in that acts)."""
        assert self.journal is not None
        name = call["function"]["name"]
        step = int(model["step"])
        key = f"{self.s.run_id}:{model['seq']}:{index}"
        pending = self.journal.peek()
        if pending is not None and pending.get("kind") == "approval":
            # A destructive call that paused the run: has the approver decided?
            self.journal._take("approval", scope)
            server = str(pending.get("server") or "")

            async def decided() -> dict[str, Any]:
                res = await self.mcp.approval_result(
                    agent.token, server, pending["approval_id"], step
                )
                if res.approval is not None and res.approval.get("state") in (
                    "pending",
                    "approved",
                ):
                    raise Pause(str(pending["approval_id"]), name, call["id"])
                return self._tool_fields(call, name, args, res)

            entry = await self.journal.record("tool", scope, decided)
        else:

            async def live() -> dict[str, Any]:
                assert self.journal is not None
                res = await self.dispatch(agent, name, args, step, key)
                if res.approval is not None and res.approval.get("state") == "pending":
                    approval_id = str(res.approval.get("id"))
                    server = agent.mcp.get(name, ("", ""))[0]
                    await self.journal.append(
                        "approval",
                        scope,
                        {
                            "call_id": call["id"],
                            "name": name,
                            "server": server,
                            "approval_id": approval_id,
                        },
                    )
                    self.events.emit(
                        "tool",
                        step=step,
                        member=agent.member.identity,
                        name=name,
                        outcome="pending",
                    )
                    raise Pause(approval_id, name, call["id"])
                return self._tool_fields(call, name, args, res)

            entry = await self.journal.record("tool", scope, live)
        self.events.emit(
            "tool",
            step=step,
            member=agent.member.identity,
            name=name,
            outcome="replayed"
            if entry.get("attempt") != self.journal.attempt
            else "error"
            if entry["result"]["is_error"]
            else "ok",
        )
        return entry

    @staticmethod
    def _tool_fields(call: dict[str, Any], name: str, args: Any, res: ToolResult) -> dict[str, Any]:
        result = res.to_json()
        return {
            "call_id": call["id"],
            "name": name,
            "result": result,
            "fingerprint": fingerprint(name, args, result),
            **({"state_version": res.state_version} if res.state_version is not None else {}),
        }

    async def dispatch(
        self, agent: Agent, name: str, args: dict[str, Any], step: int, key: str
    ) -> ToolResult:
        if name == "load_skill" and agent.content.skills:
            text, err = agent.content.load_skill(str(args.get("name", "")), args.get("file"))
            return ToolResult(text, err)
        if name == "state" and any(t["function"]["name"] == "state" for t in agent.builtins):
            text, err, version = await builtins.state(
                self.runs, str(args.get("action", "")), args.get("value")
            )
            return ToolResult(text, err, state_version=None if err else version)
        if name == "run_command" and any(
            t["function"]["name"] == "run_command" for t in agent.builtins
        ):
            command = args.get("command")
            if not isinstance(command, str) or not command.strip():
                return ToolResult("run_command needs command, a string", True)
            timeout = args.get("timeout_s")
            code, out = await builtins.run_command(
                self.s.workspace,
                command,
                float(timeout) if isinstance(timeout, int | float) else builtins.COMMAND_TIMEOUT_S,
            )
            head = "timed out" if code is None else f"exit {code}"
            return ToolResult(f"{head}\n{out}", code != 0)
        target = agent.mcp.get(name)
        if target is None:
            offered = ", ".join(t["function"]["name"] for t in agent.tools or [])
            return ToolResult(f"no tool '{name}' is offered to you; your tools: {offered}", True)
        split = self.split
        if not split.enabled:
            return await self.mcp.call(agent.token, target[0], target[1], args, step, key)
        t = split.now()
        try:
            return await self.mcp.call(agent.token, target[0], target[1], args, step, key)
        finally:
            split.tool_ns += split.now() - t

    # ------------------------------------------------------------------ the maker

    async def main(self) -> str:
        assert self.journal is not None
        d = self.d

        async def context() -> dict[str, Any]:
            st = await self.runs.state()
            return {"state": st.get("value") or {}, "state_version": int(st.get("version") or 0)}

        ctx = await self.journal.record("context", "main", context)
        makers = {n: m for n, m in d.subagents.items() if m.role == "maker"}
        extra = [builtins.STATE, builtins.RUN_COMMAND, builtins.FINISH]
        if makers:
            extra.insert(
                0, builtins.delegate_tool({n: f"a {m.model} sub-agent" for n, m in makers.items()})
            )
        maker = self.agent(d.maker, extra)
        messages: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": prompts.maker_system(
                    maker.content.instructions,
                    maker.content.cards,
                    has_checker=d.checker is not None,
                    has_command=d.done.command is not None,
                ),
            },
            {
                "role": "user",
                "content": prompts.task(
                    d.loop, self.s.trigger, self.s.input, ctx["state"], ctx["state_version"]
                ),
            },
        ]
        stall = StallDetector(d.bounds.stall_after)
        evidence: list[tuple[str, Any, str, bool]] = []
        while True:
            model = await self.model_step("main", maker, messages)
            message = model["message"]
            messages.append(message)
            calls = message.get("tool_calls") or []
            if not calls:
                messages.append({"role": "user", "content": prompts.NUDGE})
            for index, call in enumerate(calls):
                name = call["function"]["name"]
                args, problem = _args(call["function"].get("arguments"))
                if args is None:
                    text, is_error = str(problem), True
                elif name == "finish":
                    summary = str(args.get("summary") or "").strip()
                    arts = [str(a) for a in args.get("artifacts") or []]
                    text, finished = await self.finish(summary, arts, evidence, maker)
                    if finished:
                        return summary
                    is_error = True
                elif name == "delegate" and makers:
                    text, is_error = await self.delegate(model, index, call, args, makers)
                else:
                    entry = await self.tool_step("main", maker, model, index, call, args)
                    text, is_error = entry["result"]["content"], entry["result"]["is_error"]
                    if entry.get("state_version") not in (None, ctx["state_version"]):
                        ctx["state_version"] = entry["state_version"]
                        stall.state_changed()
                messages.append(_tool_message(call["id"], text))
                stall.observe(fingerprint(name, args, text))
                evidence.append((name, args, text, is_error))
            if stall.end_step():
                raise Stop("stalled", f"{d.bounds.stall_after} steps in a row without progress")

    # ------------------------------------------------------------------ done condition

    async def finish(
        self,
        summary: str,
        artifacts: list[str],
        evidence: list[tuple[str, Any, str, bool]],
        maker: Agent,
    ) -> tuple[str, bool]:
        assert self.journal is not None
        d = self.d
        if not summary:
            return "finish needs a summary of what you did", False
        if d.done.command:
            command = d.done.command

            async def check_command() -> dict[str, Any]:
                code, out = await builtins.run_command(
                    self.s.workspace, command, d.done.command_timeout_s
                )
                return {"command": command, "exit_code": code, "output": out[-4000:]}

            ran = await self.journal.record("command", "main", check_command)
            if ran["exit_code"] != 0:
                return prompts.command_failed(command, ran["exit_code"], ran["output"]), False
        if d.checker is None:
            return "done", True
        self.rounds += 1
        verdict = await self.review(self.rounds, summary, artifacts, evidence, maker)
        self.events.emit(
            "verdict",
            round=self.rounds,
            verdict="pass" if verdict.passed else "fail",
            reasons=list(verdict.reasons),
        )
        if verdict.passed:
            return "done", True
        if self.rounds >= d.bounds.checker_rounds:
            raise Stop(
                "rejected",
                f"the checker rejected the claim {self.rounds} times: "
                + "; ".join(verdict.reasons),
            )
        return prompts.rejected(self.rounds, d.bounds.checker_rounds, verdict.reasons), False

    async def review(
        self,
        round_: int,
        summary: str,
        artifacts: list[str],
        evidence: list[tuple[str, Any, str, bool]],
        maker: Agent,
    ) -> Verdict:
        assert self.journal is not None and self.d.checker is not None
        scope = f"check:{round_}"
        checker = self.agent(self.d.checker, [builtins.VERDICT])
        messages: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": prompts.checker_system(
                    checker.content.instructions, self.d.loop, maker.content.instructions
                ),
            },
            {
                "role": "user",
                "content": prompts.checker_task(summary, artifacts, prompts.evidence(evidence)),
            },
        ]
        verdict: Verdict | None = None
        for _ in range(CHECKER_STEPS):
            model = await self.model_step(scope, checker, messages)
            message = model["message"]
            messages.append(message)
            calls = message.get("tool_calls") or []
            if not calls:
                verdict = from_text(message.get("content"))
                break
            for index, call in enumerate(calls):
                name = call["function"]["name"]
                args, problem = _args(call["function"].get("arguments"))
                if name == VERDICT_TOOL:
                    verdict = from_arguments(args)
                    text = "recorded"
                elif args is None:
                    text = str(problem)
                else:
                    text = (await self.tool_step(scope, checker, model, index, call, args))[
                        "result"
                    ]["content"]
                messages.append(_tool_message(call["id"], text))
            if verdict is not None:
                break
            if _ == CHECKER_STEPS - 2:
                messages.append({"role": "user", "content": prompts.CHECKER_NUDGE})
        if verdict is None:
            verdict = Verdict(
                False, (f"the checker gave no verdict within {CHECKER_STEPS} steps",), clear=False
            )
        final = verdict

        async def live() -> dict[str, Any]:
            return {
                "round": round_,
                **final.to_json(),
                "by": checker.member.identity,
                "clear": final.clear,
            }

        entry = await self.journal.record("verdict", scope, live)
        return Verdict(
            entry["verdict"] == "pass",
            tuple(entry.get("reasons") or ()),
            bool(entry.get("clear", True)),
        )

    # ------------------------------------------------------------------ sub-agents

    async def delegate(
        self,
        model: dict[str, Any],
        index: int,
        call: dict[str, Any],
        args: dict[str, Any],
        makers: dict[str, Member],
    ) -> tuple[str, bool]:
        assert self.journal is not None
        name = str(args.get("agent", ""))
        task = str(args.get("task") or "").strip()
        if name not in makers:
            return f"no sub-agent '{name}' to delegate to; sub-agents: {', '.join(makers)}", True
        if not task:
            return "delegate needs a task", True
        scope = f"delegate:{model['seq']}.{index}"
        sub = self.agent(makers[name], [builtins.RUN_COMMAND])
        messages: list[dict[str, Any]] = [
            {
                "role": "system",
                "content": prompts.delegate_system(sub.content.instructions, sub.content.cards),
            },
            {"role": "user", "content": task},
        ]
        answer: str | None = None
        for _ in range(DELEGATE_STEPS):
            reply = await self.model_step(scope, sub, messages)
            message = reply["message"]
            messages.append(message)
            calls = message.get("tool_calls") or []
            if not calls:
                answer = str(message.get("content") or "")
                break
            for i, c in enumerate(calls):
                a, problem = _args(c["function"].get("arguments"))
                if a is None:
                    text = str(problem)
                else:
                    text = (await self.tool_step(scope, sub, reply, i, c, a))["result"]["content"]
                messages.append(_tool_message(c["id"], text))
        if answer is None:
            return f"sub-agent '{name}' gave no final answer within {DELEGATE_STEPS} steps", True
        return answer, False


async def run(
    settings: Settings,
    events: Events | None = None,
    split: Split | None = None,
    settle: Callable[[], None] | None = None,
) -> End:
    """Run (or resume) the loop of ``settings`` until it ends or pauses."""
    return await Runner(settings, events, split, settle).run()
