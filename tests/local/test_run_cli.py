"""``fleetctl run``: the local home, the gateway overrides, errors, and whole runs.

Most runs here use ``tests/local/fakeharness.py`` (``--harness``), which checks
the contract from the other side: the pod's environment, one model call through
the embedded gateway to the replay provider, and the events.
"""

from __future__ import annotations

import base64
import json
import shlex
import shutil
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from fleet.compile import compile_loaded
from fleet.resolve import check
from fleet.source import DirSource
from fleetctl.cli import app
from fleetctl.local.home import APPROVER_KEY, Home, definition_json

HERE = Path(__file__).resolve().parent
FLEET = HERE / "fleet"
FAKE = shlex.join([sys.executable, str(HERE / "fakeharness.py")])

TRANSCRIPT = """\
replay: triage, one call
tracks:
  triage:
    - tool_calls: [{ name: finish, arguments: { summary: done } }]
      usage: { prompt_tokens: 1000, completion_tokens: 100 }
"""

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "triage.replay.yaml"
    path.write_text(TRANSCRIPT)
    return path


def fake_run(
    tmp_path: Path, transcript: Path, *extra: str, outcome: str = "done", call: bool = True
) -> tuple[int, str, str, dict[str, Any]]:
    dump = tmp_path / "dump.json"
    env = {"FAKE_HARNESS_DUMP": str(dump), "FAKE_OUTCOME": outcome}
    if not call:
        env["FAKE_NO_CALL"] = "1"
    code, out, err = invoke(
        "run",
        str(FLEET),
        "triage",
        "--provider",
        f"replay:{transcript}",
        "--home",
        str(tmp_path / "home"),
        "--harness",
        FAKE,
        *extra,
        env=env,
    )
    return code, out, err, json.loads(dump.read_text()) if dump.exists() else {}


def compiled() -> Any:
    report = check(DirSource(FLEET, str(FLEET)), lock=False)
    assert report.fleet is not None
    return compile_loaded(report.fleet, report.resolution)


def test_a_run_through_the_gateway_and_the_replay(tmp_path: Path, transcript: Path) -> None:
    code, out, err, dump = fake_run(tmp_path, transcript, "--output", "json", "--input", '{"n": 1}')
    assert code == 0, err
    result = json.loads(out)  # nothing else on stdout
    assert result["outcome"] == "done"
    assert result["replay"] == "triage, one call"
    assert result["tokens"] == 1100
    assert result["cost_usd"] == pytest.approx((1000 * 0.25 + 100 * 2.00) / 1e6)
    assert result["run"].startswith("local-triage-")
    home = tmp_path / "home"
    assert result["next"] == [
        f"fleetctl runs show {result['run']} --store sqlite:{home}/gateway.sqlite3"
    ]
    # the harness saw the pod's environment, and the model call went through
    env = dump["env"]
    run_dir = home / "runs" / result["run"]
    assert env["FLEET_RUN_ID"] == result["run"]
    assert env["FLEET_LOOP"] == "triage"
    assert env["FLEET_TRIGGER"] == "local"
    assert json.loads(env["FLEET_INPUT"]) == {"n": 1}
    assert env["FLEET_DEFINITION"] == str(run_dir / "etc/fleet/loop/definition.json")
    assert env["FLEET_CONTENT_DIR"] == str(run_dir / "etc/fleet")
    assert env["FLEET_TOKENS_DIR"] == str(run_dir / "etc/fleet/tokens")
    assert env["FLEET_WORKSPACE"] == str(run_dir / "workspace")
    tokens = json.loads((home / "tokens.json").read_text())
    assert env["FLEET_GATEWAY_TOKEN"] == tokens["triage"]
    assert dump["argv"][:5] == ["run", "--definition", env["FLEET_DEFINITION"], "--events", "jsonl"]
    assert dump["reply"]["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "finish"
    # the gateway stored the trace in the home's store
    code, out, _ = invoke(
        "runs", "show", result["run"], "--store", f"sqlite:{home}/gateway.sqlite3"
    )
    assert code == 0 and "1 LLM steps" in out


def test_text_output_says_replay_and_what_next(tmp_path: Path, transcript: Path) -> None:
    code, out, err, _ = fake_run(tmp_path, transcript, outcome="awaiting_approval")
    assert code == 1, err
    assert out.startswith(
        "REPLAY of triage, one call: model output is a recorded transcript, not a live model\n"
    )
    assert "  step 1   triage  finish  ok" in out
    assert "a line that is not an event" in out
    assert "awaiting_approval · 1 step · 1,100 tokens" in out
    run = out.split("· run ")[1].split()[0]
    home = tmp_path / "home"
    tail = out.split("next:\n")[1].splitlines()
    assert [line.strip() for line in tail] == [
        f'fleetctl approvals approve apr-123 --local {home} --reason "…"',
        f"fleetctl run {FLEET} triage --resume {run} --home {home}",
        f"fleetctl runs show {run} --store sqlite:{home}/gateway.sqlite3",
    ]
    assert out.count("REPLAY of triage") == 2  # the banner and the result


def test_resume_reuses_the_run(tmp_path: Path, transcript: Path) -> None:
    code, out, _, _ = fake_run(tmp_path, transcript, "-o", "json", outcome="awaiting_approval")
    assert code == 1
    run = json.loads(out)["run"]
    # the same request again (the fake harness sends the same one): the replay remembers it
    code, out, err, dump = fake_run(tmp_path, transcript, "-o", "json", "--resume", run)
    assert code == 0, err
    assert json.loads(out)["run"] == run
    assert dump["argv"][-2:] == ["--resume", run]
    # without --provider and --mcp, a resumed run keeps its own
    code, out, err = invoke(
        "run", str(FLEET), "triage", "--resume", run, "--home", str(tmp_path / "home"),
        "--harness", FAKE, "-o", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["replay"] == "triage, one call"
    options = json.loads((tmp_path / "home/runs" / run / "options.json").read_text())
    assert options == {"provider": f"replay:{transcript}", "mcp": []}
    code, _, err = invoke(
        "run", str(FLEET), "triage", "--home", str(tmp_path / "home"), "--resume", "nope"
    )
    assert code == 2 and "no run 'nope'" in err


def test_home_layout(tmp_path: Path, transcript: Path) -> None:
    code, out, err, _ = fake_run(tmp_path, transcript, "-o", "json")
    assert code == 0, err
    run = json.loads(out)["run"]
    home = Home(tmp_path / "home")
    tokens_file = home.tokens_file
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    tokens = json.loads(tokens_file.read_text())
    assert sorted(tokens) == [APPROVER_KEY, "triage", "triage/reviewer"]
    c = compiled()
    loop = c.loops[0]
    root = home.content_dir(run)
    assert (root / "loop/definition.json").read_text() == definition_json(loop)
    # every pinned file, byte for byte the content ConfigMaps' data
    by_name = {cm["metadata"]["name"]: cm for cm in c.content}
    spec = loop["spec"]
    expect: dict[str, bytes] = {}
    for where, pin in [
        ("instructions", spec["instructions"]),
        *[("skills", s) for s in spec["skills"]],
        ("subagents/reviewer/instructions", spec["subagents"][0]["instructions"]),
    ]:
        cm = by_name[pin["configMap"]]
        for key, text in cm.get("data", {}).items():
            expect[f"{where}/{pin['name']}/{key}"] = text.encode()
        for key, b64 in cm.get("binaryData", {}).items():
            expect[f"{where}/{pin['name']}/{key}"] = base64.b64decode(b64)
    assert "skills/runbook/refs__steps.md" in expect
    assert (FLEET / "skills/runbook/v1/refs/steps.md").read_bytes() == expect[
        "skills/runbook/refs__steps.md"
    ]
    got = {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.parent.name not in ("loop", "tokens")
    }
    assert got == expect
    assert (root / "tokens/reviewer").read_text().strip() == tokens["triage/reviewer"]
    assert stat.S_IMODE((root / "tokens/reviewer").stat().st_mode) == 0o600
    assert home.workspace(run).is_dir()
    # a second run reuses the tokens
    code, out, err, _ = fake_run(tmp_path, transcript, "-o", "json")
    assert code == 0, err
    assert json.loads(tokens_file.read_text()) == tokens


def test_gateway_json_overrides(tmp_path: Path, transcript: Path) -> None:
    code, _, err, _ = fake_run(
        tmp_path, transcript, "-o", "json", "--mcp", "github=http://127.0.0.1:9/mcp"
    )
    assert code == 0, err
    cfg = json.loads((tmp_path / "home/gateway.json").read_text())
    (provider,) = cfg["providers"].values()
    assert provider["base_url"].startswith("http://127.0.0.1:")
    assert provider["base_url"].endswith("/v1")
    assert provider["credentials"] is None
    assert cfg["mcp_servers"]["github"]["url"] == "http://127.0.0.1:9/mcp"
    assert cfg["mcp_servers"]["github"]["credentials"]["env"] == "MCP_GITHUB_API_KEY"
    assert [a["name"] for a in cfg["approvers"]] == ["local"]
    # --provider fleet keeps the fleet's providers (no call: it would leave this machine)
    code, _, err, _ = fake_run(
        tmp_path, transcript, "-o", "json", "--provider", "fleet", call=False
    )
    assert code == 0, err
    cfg = json.loads((tmp_path / "home/gateway.json").read_text())
    assert cfg["providers"]["openai"]["base_url"] == "https://api.openai.com/v1"
    assert cfg["providers"]["openai"]["credentials"]["env"] == "PROVIDER_OPENAI_API_KEY"
    assert cfg["mcp_servers"]["github"]["url"] == "https://mcp.internal/github"


def test_the_default_home_is_in_the_fleet(tmp_path: Path, transcript: Path) -> None:
    fleet = tmp_path / "f"
    shutil.copytree(FLEET, fleet)
    code, out, err = invoke(
        "run", str(fleet), "triage", "--provider", f"replay:{transcript}", "--harness", FAKE
    )
    assert code == 0, err
    assert (fleet / ".fleet/gateway.json").is_file()
    assert (fleet / ".fleet/.gitignore").read_text().splitlines()[-1] == "*"
    assert "fleetctl runs show local-triage-" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["triag"], "error: no loop 'triag' in {fleet} (did you mean 'triage'? loops: triage)"),
        (
            ["triage", "--mcp", "githb=http://x"],
            "no MCP server 'githb' in the fleet's catalog (did you mean 'github'?)",
        ),
        (["triage", "--mcp", "github"], "expected NAME=URL"),
        (["triage", "--provider", "openai"], "expected 'fleet' or 'replay:FILE'"),
        (["triage", "--input", "{nope"], "--input is not JSON"),
        (
            ["triage", "--provider", "replay:/nonexistent.yaml"],
            "/nonexistent.yaml: cannot read the transcript",
        ),
        (["triage", "-o", "yaml"], "expected text or json"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    code, out, err = invoke("run", str(FLEET), *args, "--home", str(tmp_path / "h"))
    assert code == 2
    assert message.format(fleet=FLEET) in err
    assert "Traceback" not in out + err


def test_transcript_errors_are_located(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("replay: x\ntracks:\n  triage:\n    - { contents: hi }\n")
    code, out, err = invoke(
        "run", str(FLEET), "triage", "--provider", f"replay:{bad}", "--home", str(tmp_path / "h")
    )
    assert code == 2
    assert (
        f"{bad}:4:9: tracks.triage[0].contents: unknown field 'contents' (did you mean 'content'?)"
        in err
    )
    assert out == ""


def test_an_invalid_fleet(tmp_path: Path) -> None:
    fleet = tmp_path / "f"
    shutil.copytree(FLEET, fleet)
    text = (fleet / "agents/triage.yaml").read_text().replace("model: default", "model: defualt")
    (fleet / "agents/triage.yaml").write_text(text)
    code, _, err = invoke("run", str(fleet), "triage", "--home", str(tmp_path / "h"))
    assert code == 1
    assert "agents/triage.yaml:5:10: agent.model: no virtual model 'defualt'" in err


def test_approvals_local_needs_a_home(tmp_path: Path) -> None:
    code, _, err = invoke("approvals", "list", "--local", str(tmp_path))
    assert code == 2 and "no local gateway at" in err


def test_approvals_local(tmp_path: Path, transcript: Path) -> None:
    code, _, err, _ = fake_run(tmp_path, transcript, "-o", "json")
    assert code == 0, err
    code, out, err = invoke("approvals", "list", "--local", str(tmp_path / "home"), "-o", "json")
    assert code == 0, err
    assert json.loads(out) == []


REAL = """\
replay: triage, finish and a passing review
tracks:
  triage:
    - content: Nothing to triage today.
      tool_calls: [{ name: finish, arguments: { summary: "no new reports", artifacts: [] } }]
      usage: { prompt_tokens: 1200, completion_tokens: 30 }
  triage/reviewer:
    - tool_calls: [{ name: verdict, arguments: { verdict: pass, reasons: ["nothing was due"] } }]
      usage: { prompt_tokens: 800, completion_tokens: 20 }
"""


def test_end_to_end_with_the_harness(tmp_path: Path) -> None:
    """The real fleet-harness, the real gateway, a replayed model: maker, checker, done."""
    transcript = tmp_path / "real.replay.yaml"
    transcript.write_text(REAL)
    code, out, err = invoke(
        "run",
        str(FLEET),
        "triage",
        "--provider",
        f"replay:{transcript}",
        # nothing listens there: the harness offers no github tools, and nothing leaves the machine
        "--mcp",
        "github=http://127.0.0.1:9/mcp",
        "--home",
        str(tmp_path / "home"),
        "--output",
        "json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "done", result
    assert result["summary"] == "no new reports"
    assert result["steps"] == 2
    assert result["tokens"] == 1200 + 30 + 800 + 20
    assert result["cost_usd"] == pytest.approx((1200 * 0.25 + 30 * 2 + 800 * 0.05 + 20 * 0.4) / 1e6)
    assert result["replay"] == "triage, finish and a passing review"
    state = json.loads((tmp_path / "home/runs" / result["run"] / "replay-state.json").read_text())
    assert state["runs"][""]["triage"]["next"] == 1
    assert state["runs"][""]["triage/reviewer"]["next"] == 1


def test_the_result_is_kept_in_the_home(tmp_path: Path, transcript: Path) -> None:
    code, out, _, _ = fake_run(tmp_path, transcript, outcome="awaiting_approval")
    assert code == 1
    run = out.split("· run ")[1].split()[0]
    kept = json.loads((tmp_path / "home/runs" / run / "result.json").read_text())
    assert kept["outcome"] == "awaiting_approval" and kept["approval"] == "apr-123"


def test_a_home_in_use_is_refused_before_anything_is_written(
    tmp_path: Path, transcript: Path
) -> None:
    from fleetctl.local.embedded import EmbeddedGateway

    held = EmbeddedGateway(Home(tmp_path / "home")).acquire()
    try:
        code, _, err, _ = fake_run(tmp_path, transcript)
    finally:
        held.stop()
    assert code == 2
    assert "another fleetctl process serves the gateway of" in err
    assert not (tmp_path / "home/runs").exists()
    assert not (tmp_path / "home/tokens.json").exists()
    code, _, err, _ = fake_run(tmp_path, transcript)  # released
    assert code == 0, err
