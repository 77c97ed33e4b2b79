"""The validate, lock, compile, rules and schema commands: output modes and fixed exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from fleetctl.cli import app
from tests.conftest import FIXTURES, ROOT, overlay

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_valid_fleet_exit_0(base_fleet: Path) -> None:
    code, out, _ = invoke("validate", str(base_fleet))
    assert code == 0 and out.startswith("ok: testfleet: 2 loop(s) valid")


def test_invalid_fleet_exit_1_text(tmp_path: Path) -> None:
    root = overlay(tmp_path / "f", FIXTURES / "base", FIXTURES / "rules" / "FL171" / "bad")
    code, out, err = invoke("validate", str(root))
    assert code == 1
    assert f"{root}/agents/beta.yaml:12:24: agent.trigger.schedule:" in out
    assert "invalid: 1 error(s), 0 warning(s)" in err
    assert "Traceback" not in out + err


def test_github_annotations(tmp_path: Path) -> None:
    root = overlay(tmp_path / "f", FIXTURES / "base", FIXTURES / "rules" / "FL121" / "bad")
    code, out, _ = invoke("validate", str(root), "--output", "github")
    assert code == 1
    assert out.strip() == (
        f"::error file={root}/agents/beta.yaml,line=6,col=10,title=FL121::agent.model: "
        "no virtual model 'backpu' in fleet.yaml models (did you mean 'backup'?)"
    )


def test_json_output(tmp_path: Path) -> None:
    root = overlay(tmp_path / "f", FIXTURES / "base", FIXTURES / "rules" / "FL161" / "bad")
    code, out, _ = invoke("validate", str(root), "-o", "json")
    payload = json.loads(out)
    assert code == 1 and payload["ok"] is False and payload["errors"] == 1
    assert payload["diagnostics"][0]["rule"] == "FL161" and payload["diagnostics"][0]["line"] == 14


def test_strict_fails_on_warnings(tmp_path: Path) -> None:
    root = overlay(tmp_path / "f", FIXTURES / "base", FIXTURES / "rules" / "FL191" / "bad")
    assert invoke("validate", str(root))[0] == 0
    assert invoke("validate", str(root), "--strict")[0] == 1


def test_explicit_files(base_fleet: Path) -> None:
    code, out, _ = invoke(
        "validate", str(base_fleet / "fleet.yaml"), str(base_fleet / "agents" / "alpha.yaml")
    )
    assert code == 0 and "1 loop(s) valid" in out


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("validate", str(tmp_path / "missing"))
    assert code == 2 and err.startswith("error: no such file or directory")
    code, _, err = invoke("validate", str(FIXTURES / "base" / "agents" / "alpha.yaml"))
    assert code == 2 and "exactly one fleet.yaml" in err


def test_lock_writes_and_checks(base_fleet: Path) -> None:
    (base_fleet / "fleet.lock").unlink()
    assert invoke("validate", str(base_fleet))[0] == 1
    code, out, _ = invoke("lock", str(base_fleet))
    assert code == 0 and "wrote" in out and "(4 pins)" in out
    assert invoke("lock", str(base_fleet), "--check")[0] == 0
    assert invoke("validate", str(base_fleet))[0] == 0


def test_compile_to_dir_and_stdout(base_fleet: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    code, out, _ = invoke(
        "compile", str(base_fleet), "-o", str(out_dir), "--git-commit", "abc", "-n", "fleet-system"
    )
    assert code == 0 and "compiled 2 loop(s)" in out
    assert (out_dir / "loops" / "alpha.yaml").exists() and (out_dir / "kustomization.yaml").exists()
    code, out, _ = invoke(
        "compile", str(base_fleet), "-o", str(out_dir), "--git-commit", "abc", "-n", "fleet-system"
    )
    assert "(0 file(s) changed)" in out
    code, stream, _ = invoke("compile", str(base_fleet), "--git-commit", "abc")
    assert code == 0 and stream.count("\n---\n") + 1 == len(list(out_dir.rglob("*.yaml"))) - 1


def test_rules_lists_every_rule() -> None:
    code, out, _ = invoke("rules", "-o", "json")
    ids = [r["id"] for r in json.loads(out)]
    assert code == 0 and ids == sorted(p.name for p in (FIXTURES / "rules").iterdir())


def test_schema_check_is_current() -> None:
    code, _, err = invoke("schema", "--write", str(ROOT / "schemas"), "--check")
    assert code == 0, err
    code, out, _ = invoke("schema", "agent")
    assert json.loads(out)["title"] == "fleetctl agents/<name>.yaml"
