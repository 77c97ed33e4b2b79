"""What ``fleetctl run`` prints: a live status line, a line per tool call and verdict,
then the outcome, a one-line summary and the commands to run next.

A replayed run says so in every printout: the banner, the status line and
the result all name the transcript, so recorded output is never mistaken for
a live model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

OUTCOME_STYLE = {
    "done": "bold green",
    "awaiting_approval": "bold yellow",
}
TOOL_STYLE = {"ok": "green", "error": "red", "pending": "yellow", "replayed": "dim"}


def replay_banner(title: str) -> str:
    return f"REPLAY of {title}: model output is a recorded transcript, not a live model"


@dataclass
class Result:
    """The outcome of a local run, as printed and as ``--output json`` gives it."""

    run: str
    loop: str
    outcome: str
    steps: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    summary: str | None = None
    detail: str | None = None
    approval: str | None = None
    replay: str | None = None
    next: list[str] = field(default_factory=list)
    resumable: bool = False  # ended without an outcome: --resume goes on

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "loop": self.loop,
            "outcome": self.outcome,
            "steps": self.steps,
            "tokens": self.tokens,
            "cost_usd": self.cost_usd,
            "summary": self.summary,
            "detail": self.detail,
            "approval": self.approval,
            "replay": self.replay,
            "next": self.next,
        }


class Progress:
    """Renders harness events; quiet (prints nothing) for ``--output json``."""

    def __init__(self, *, replay: str | None, quiet: bool = False, console: Console | None = None):
        self.replay = replay
        self.quiet = quiet
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.live: Live | None = None
        self.step = 0
        self.member = ""
        self.tool = ""
        self.tokens = 0
        self.cost = 0.0
        # A resumed run first replays its journal. Lines of a replayed step are held until
        # the next step says whether they were replayed too (its tool calls may be live:
        # the result of an approved call), then summed up in one line.
        self.replayed: list[int] = []
        self.held: list[tuple[str, str | None]] = []

    # ------------------------------------------------------------------ lines

    def _line(self, text: str, style: str | None = None) -> None:
        if self.replayed:
            self.held.append((text, style))
        else:
            self.print(text, style)

    def _live_again(self) -> None:
        """The replay is over: say which steps came from the journal, print the held lines."""
        if self.replayed:
            first, last = self.replayed[0], self.replayed[-1]
            steps = f"step {first}" if first == last else f"steps {first}–{last}"
            self.replayed = []
            self.print(
                f"  {steps} replayed from the journal: no model or tool call sent again", "dim"
            )
        held, self.held = self.held, []
        for text, style in held:
            self.print(text, style)

    def print(self, text: str, style: str | None = None) -> None:
        if self.quiet:
            return
        target = self.live.console if self.live is not None else self.console
        target.print(Text(text, style=style or ""))

    def banner(self) -> None:
        if self.replay:
            self.print(replay_banner(self.replay), "bold magenta")

    def note(self, text: str) -> None:
        self.print(text, "dim")

    # ------------------------------------------------------------------ status line

    def _status(self) -> Text:
        who = self.member or "-"
        text = Text.assemble(
            ("REPLAY " if self.replay else "", "magenta"),
            (f"step {self.step}", "bold"),
            f" · {who}",
            (f" · {self.tool}" if self.tool else ""),
            f" · {self.tokens:,} tokens · ${self.cost:.4f}",
        )
        return text

    def __enter__(self) -> Progress:
        if not self.quiet and self.console.is_terminal:
            self.live = Live(
                self._status(), console=self.console, transient=True, refresh_per_second=8
            )
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)
            self.live = None

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._status())

    # ------------------------------------------------------------------ events

    def event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("event")
        if kind == "start":
            attempt = ev.get("attempt") or 1
            resumed = " (resumed)" if ev.get("resumed") else ""
            self.note(f"run {ev.get('run')} · loop {ev.get('loop')} · attempt {attempt}{resumed}")
        elif kind == "step":
            self.step = int(ev.get("step") or self.step)
            self.member = str(ev.get("member") or "")
            calls = ev.get("tool_calls") or []
            self.tool = ", ".join(str(c) for c in calls)
            self.tokens = int(ev.get("tokens") or self.tokens)
            self.cost = float(ev.get("cost_usd") or self.cost)
            if ev.get("replayed"):
                self.held = []  # the previous replayed step's lines: replayed as well
                self.replayed.append(self.step)
            else:
                self._live_again()
                if self.live is None and not calls:
                    self.print(f"  step {self.step:<3} {self.member}: replied", "dim")
        elif kind == "tool":
            outcome = str(ev.get("outcome") or "")
            if outcome == "replayed":
                return
            label = "pending approval" if outcome == "pending" else outcome
            self._line(
                f"  step {ev.get('step', '-')!s:<3} {ev.get('member', '')}  {ev.get('name')}  {label}",
                TOOL_STYLE.get(outcome),
            )
        elif kind == "verdict":
            verdict = str(ev.get("verdict"))
            reasons = "; ".join(str(r) for r in ev.get("reasons") or [])
            self._line(
                f"  checker round {ev.get('round')}: {verdict}"
                + (f": {reasons}" if reasons else ""),
                "green" if verdict == "pass" else "red",
            )
        elif kind == "end":
            self._live_again()
            self.tokens = int(ev.get("tokens") or self.tokens)
            self.cost = float(ev.get("cost_usd") or self.cost)
        self._refresh()

    def text(self, line: str) -> None:
        """A line of the harness's standard output that is not an event."""
        if not self.quiet:
            self.print(line, "dim")

    # ------------------------------------------------------------------ the end

    def result(self, res: Result) -> None:
        if self.quiet:
            return
        self.__exit__()
        c = self.console
        c.print()
        line = Text.assemble(
            (res.outcome, OUTCOME_STYLE.get(res.outcome, "bold red")),
            f" · {res.steps} step{'' if res.steps == 1 else 's'} · {res.tokens:,} tokens"
            f" · ${res.cost_usd:.4f}",
            f" · run {res.run}",
        )
        c.print(line)
        if res.summary:
            c.print(Text(f"  {res.summary}"))
        if res.detail and res.detail != res.summary:
            c.print(Text(f"  {res.detail}", style="dim"))
        if res.replay:
            c.print(Text(replay_banner(res.replay), style="magenta"))
        if res.next:
            c.print("next:")
            for cmd in res.next:
                c.print(f"  {escape(cmd)}", style="cyan")
