"""One local run, start to end: fleet → home → (replay) → gateway → harness → result.

``fleetctl run`` is this module behind a typer command. Everything that can be
wrong with the user's input (the fleet, the loop name, a transcript, an
``--mcp`` option) is found before anything starts; the servers started are
stopped on every way out, Ctrl-C included.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.errors import Diagnostic, Severity, did_you_mean
from fleetctl.local.errors import LocalError
from fleetctl.local.home import (
    Home,
    load_fleet,
    missing_credentials,
    new_run_id,
    parse_mcp_overrides,
)
from fleetctl.local.progress import Progress, Result
from fleetctl.local.runner import harness_command, run_harness


@dataclass
class Options:
    fleet: Path
    loop: str
    provider: str | None = None  # on --resume: the run's own, else fleet
    mcp: list[str] = field(default_factory=list)
    home: Path | None = None
    resume: str | None = None
    input: str | None = None
    harness: str | None = None
    json: bool = False


def _replay_file(provider: str) -> Path | None:
    if provider == "fleet":
        return None
    kind, sep, rest = provider.partition(":")
    if kind == "replay" and sep and rest:
        return Path(rest)
    raise LocalError(
        f"--provider {provider!r}: expected 'fleet' or 'replay:FILE'",
        "replay:FILE plays a recorded transcript; fleet uses the fleet's own providers",
    )


def track_warnings(replay: Any, identities: list[str], loop: str) -> list[Diagnostic]:
    """Tracks of the transcript that name an identity of neither this loop nor another."""
    out = []
    for name in replay.track_names():
        if name in identities or not (name == loop or name.startswith(loop + "/")):
            continue
        line, col = replay.positions.get(name, (0, 0))
        out.append(
            Diagnostic(
                replay.file,
                line,
                col,
                f"tracks.{name}",
                f"loop {loop} has no identity '{name}', so no request will use this track",
                did_you_mean(name, identities),
                severity=Severity.WARNING,
            )
        )
    return out


def _approval_id(value: Any) -> str | None:
    """The id of the call a paused run waits for: the event's ``approval``, an id or a record."""
    if isinstance(value, dict):
        value = value.get("approval_id") or value.get("id")
    return str(value) if value else None


def next_steps(opts: Options, home: Home, res: Result) -> list[str]:
    where = str(opts.home) if opts.home is not None else str(opts.fleet)
    cmds = []
    # --resume takes the run's provider and MCP overrides from the run itself
    resume = ["fleetctl", "run", str(opts.fleet), opts.loop, "--resume", res.run]
    if opts.home is not None:
        resume += ["--home", str(opts.home)]
    if res.outcome == "awaiting_approval" and res.approval:
        cmds.append(
            shlex.join(["fleetctl", "approvals", "approve", res.approval, "--local", where])
            + ' --reason "…"'
        )
        cmds.append(shlex.join(resume))
    elif res.resumable:
        cmds.append(shlex.join(resume))
    cmds.append(shlex.join(["fleetctl", "runs", "show", res.run, "--store", home.store_url]))
    return cmds


def run(opts: Options, *, progress_factory: Callable[..., Progress] = Progress) -> Result:
    """Run (or resume) one loop locally; returns its result. Raises LocalError for user errors."""
    from fleetctl.local.embedded import EmbeddedGateway
    from fleetctl.local.replay import Replay, ReplayApp
    from fleetctl.local.server import ServerThread

    input_json: Any = None
    if opts.input is not None:
        try:
            input_json = json.loads(opts.input)
        except ValueError as exc:
            raise LocalError(
                f"--input is not JSON: {exc}", "quote it: --input '{\"issue\": 42}'"
            ) from None
    if opts.provider is not None:
        _replay_file(opts.provider)  # a malformed option is an error before anything is read
    fleet = load_fleet(opts.fleet)
    loop_cr = fleet.loop(opts.loop)
    home = Home.for_fleet(opts.fleet, opts.home)
    if opts.resume:
        run_id = opts.resume
        if not home.run_dir(run_id).is_dir():
            known = (
                sorted(p.name for p in (home.path / "runs").glob("*")) if home.path.exists() else []
            )
            raise LocalError(
                f"no run '{run_id}' in {home.path}",
                did_you_mean(run_id, known) or "start one without --resume",
            )
        kept = home.read_options(run_id)
    else:
        run_id = new_run_id(opts.loop)
        kept = {}
    provider = opts.provider or str(kept.get("provider") or "fleet")
    mcp_options = list(opts.mcp) or [str(m) for m in kept.get("mcp") or []]
    replay_path = _replay_file(provider)
    if replay_path is not None:
        replay_path = replay_path.absolute()
        provider = f"replay:{replay_path}"
    mcp = parse_mcp_overrides(mcp_options, fleet.policy["spec"].get("mcpServers", {}))
    replay = Replay.from_file(replay_path) if replay_path is not None else None

    from fleet.gwrender import identities

    keys = identities(fleet.loops)
    loop_ids = identities([loop_cr])
    progress = progress_factory(replay=replay.title if replay else None, quiet=opts.json)
    for d in fleet.warnings + (track_warnings(replay, loop_ids, opts.loop) if replay else []):
        progress.print(d.format(), "yellow")

    # The home is ours from here (or another run's: refused before anything is written).
    gw = EmbeddedGateway(home).acquire()
    servers: list[ServerThread | EmbeddedGateway] = [gw]
    try:
        tokens = home.tokens(keys)
        home.lay_out_run(run_id, loop_cr, fleet.content, tokens)
        home.write_options(run_id, {"provider": provider, "mcp": mcp_options})
        provider_url = None
        if replay is not None:
            replay_server = ServerThread(ReplayApp(replay, home.replay_state(run_id))).start()
            servers.append(replay_server)
            provider_url = replay_server.url + "/v1"
        cfg = home.write_gateway_config(fleet, tokens, provider_url=provider_url, mcp=mcp)
        if replay is None:
            for name in missing_credentials(cfg):
                progress.print(
                    f"warning: ${name} is not set: the gateway sends that provider's calls without a key",
                    "yellow",
                )
        gw.start()
        progress.banner()
        progress.note(f"gateway {gw.url} · home {home.path}")
        content = home.content_dir(run_id)
        env = {
            "FLEET_GATEWAY_URL": gw.url,
            "FLEET_GATEWAY_TOKEN": tokens[opts.loop],
            "FLEET_LOOP": opts.loop,
            "FLEET_RUN_ID": run_id,
            "FLEET_DEFINITION": str(home.definition_file(run_id)),
            "FLEET_CONTENT_DIR": str(content),
            "FLEET_TOKENS_DIR": str(content / "tokens"),
            "FLEET_WORKSPACE": str(home.workspace(run_id)),
            "FLEET_TRIGGER": "local",
        }
        if input_json is not None:
            env["FLEET_INPUT"] = json.dumps(input_json)
        with progress:
            attempt = run_harness(
                harness_command(opts.harness),
                home.definition_file(run_id),
                env,
                resume=opts.resume,
                on_event=progress.event,
                on_text=progress.text,
            )
    finally:
        for server in servers:
            server.begin_stop()
        for server in reversed(servers):
            server.stop()
    end = attempt.end
    if end is not None:
        res = Result(
            run=str(end.get("run") or run_id),
            loop=opts.loop,
            outcome=str(end.get("outcome") or "error"),
            steps=int(end.get("steps") or 0),
            tokens=int(end.get("tokens") or 0),
            cost_usd=float(end.get("cost_usd") or 0.0),
            summary=end.get("summary"),
            detail=end.get("detail"),
            approval=_approval_id(end.get("approval")),
        )
    else:
        # No end event: stopped, lost the gateway (exit 1: resumable), or a usage error (2).
        outcome = "interrupted" if attempt.interrupted else "error"
        detail = (
            "stopped by Ctrl-C; the journal keeps every finished step"
            if attempt.interrupted
            else f"the harness exited with code {attempt.exit_code} before the run ended"
            + (" (see its messages above)" if attempt.exit_code else "")
        )
        last: dict[str, Any] = next(
            (e for e in reversed(attempt.events) if e.get("event") == "step"), {}
        )
        res = Result(
            run=run_id,
            loop=opts.loop,
            outcome=outcome,
            steps=int(last.get("step") or 0),
            tokens=int(last.get("tokens") or 0),
            cost_usd=float(last.get("cost_usd") or 0.0),
            detail=detail,
        )
        res.resumable = attempt.interrupted or attempt.exit_code == 1
    res.replay = replay.title if replay else None
    res.next = next_steps(opts, home, res)
    home.write_result(run_id, res.to_json())
    progress.result(res)
    return res
