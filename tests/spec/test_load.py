"""Loader errors: every mistake located at file:line:col with the field path and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.load import load_fleet
from fleet.source import DirSource
from fleet.validate import validate
from tests.conftest import FIXTURES, overlay

AGENT_HEAD = (
    "agent:\n  name: beta\n  owner: team-b\n  model: backup\n  instructions: prompts/beta@v1\n"
)
TRIGGER = '  harness: { max_steps: 20, max_tokens_per_run: 100000 }\n  trigger: { schedule: "30 7 * * *" }\n'

CASES = [
    (
        "yaml syntax",
        "agent:\n  name: beta\n   owner: x\n",
        [
            "fleet/agents/beta.yaml:3:9: YAML syntax error: mapping values are not allowed here (check indentation, quoting and that every ':' is followed by a space)"
        ],
    ),
    (
        "tab indentation",
        "agent:\n\tname: beta\n",
        [
            "fleet/agents/beta.yaml:2:1: YAML syntax error: found character '\\t' that cannot start any token (YAML forbids tabs for indentation; use spaces)"
        ],
    ),
    (
        "unclosed flow sequence names where it began",
        AGENT_HEAD + "  owns: [a\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:7:10: YAML syntax error: expected ',' or ']', but got ':' (the flow sequence '[' that began at line 6, column 9 is never closed: add ']')"
        ],
    ),
    (
        "unclosed flow mapping",
        AGENT_HEAD + "  harness: { max_steps: 20\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:7:10: YAML syntax error: expected ',' or '}', but got ':' (the flow mapping '{' that began at line 6, column 12 is never closed: add '}')"
        ],
    ),
    (
        "unclosed quote",
        AGENT_HEAD + '  description: "open\n',
        [
            "fleet/agents/beta.yaml:7:1: YAML syntax error: found unexpected end of stream (the quoted string that began at line 6, column 16 is never closed: add the quote)"
        ],
    ),
    (
        "NUL byte where it is",
        AGENT_HEAD + "  description: a\0b\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:6:17: a NUL byte, which YAML does not allow (remove it: fleet files are plain UTF-8 text)"
        ],
    ),
    (
        "control character where it is",
        AGENT_HEAD + "  description: \x07\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:6:16: the control character U+0007, which YAML does not allow (remove it: fleet files are plain UTF-8 text)"
        ],
    ),
    (
        "duplicate keys, all of them",
        AGENT_HEAD + "  owner: again\n  model: again\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:6:3: agent.owner: duplicate key 'owner' (first defined at line 3; remove one of them)",
            "fleet/agents/beta.yaml:7:3: agent.model: duplicate key 'model' (first defined at line 4; remove one of them)",
        ],
    ),
    (
        "unknown field with did-you-mean",
        AGENT_HEAD + "  sklls: [runbook@v1]\n" + TRIGGER,
        ["fleet/agents/beta.yaml:6:3: agent.sklls: unknown field 'sklls' (did you mean 'skills'?)"],
    ),
    (
        "missing field",
        "agent:\n  name: beta\n  model: backup\n  instructions: prompts/beta@v1\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:1:1: agent.owner: missing required field 'owner' (add 'owner' under agent)"
        ],
    ),
    (
        "wrong type",
        AGENT_HEAD
        + "  harness: { max_steps: lots, max_tokens_per_run: 100000 }\n  trigger: { schedule: '30 7 * * *' }\n",
        [
            "fleet/agents/beta.yaml:6:25: agent.harness.max_steps: input should be a valid integer, unable to parse string as an integer, got 'lots'"
        ],
    ),
    (
        "enum typo",
        AGENT_HEAD + "  stage: prod\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:6:10: agent.stage: invalid value 'prod' (did you mean 'production'?)"
        ],
    ),
    (
        "list expected",
        AGENT_HEAD + "  skills: runbook@v1\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:6:11: agent.skills: expected a list, got 'runbook@v1' (write [a, b] or one '- item' per line)"
        ],
    ),
    (
        "mapping expected",
        AGENT_HEAD + "  trigger: daily\n  harness: { max_steps: 20, max_tokens_per_run: 100000 }\n",
        [
            "fleet/agents/beta.yaml:6:12: agent.trigger: expected a mapping, got 'daily' (write 'key: value' pairs indented under this field)"
        ],
    ),
    (
        "bad name",
        AGENT_HEAD.replace("name: beta", "name: Beta_Loop") + TRIGGER,
        [
            "fleet/agents/beta.yaml:2:9: agent.name: invalid value 'Beta_Loop' (use lowercase letters, digits and '-' (a DNS-1123 label))"
        ],
    ),
    (
        "done without checker or command",
        AGENT_HEAD + "  done: { command_timeout: 5m }\n" + TRIGGER,
        [
            "fleet/agents/beta.yaml:6:9: agent.done: done needs a checker, a command, or both: checker names a sub-agent with role checker, command is a shell command run in /workspace (exit code 0 means done)"
        ],
    ),
    (
        "not a mapping",
        "- just\n- a list\n",
        [
            "fleet/agents/beta.yaml:1:1: expected a mapping at the top of the file, got list (see examples/minimal for the layout)"
        ],
    ),
    (
        "empty file",
        "",
        [
            "fleet/agents/beta.yaml:1:1: the file is empty (see examples/minimal for a starting point)"
        ],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_agent_file_errors(text: str, expected: list[str], tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    (root / "agents" / "beta.yaml").write_text(text)
    _, diags = load_fleet(DirSource(root, "fleet"))
    assert [d.format() for d in diags] == expected


def test_errors_from_all_files_are_collected_and_sorted(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    (root / "agents" / "beta.yaml").write_text(AGENT_HEAD + "  stage: prod\n" + TRIGGER)
    fleet_text = (
        (root / "fleet.yaml")
        .read_text()
        .replace("fleet: testfleet", "fleet: testfleet\ntimezon: UTC")
    )
    (root / "fleet.yaml").write_text(fleet_text)
    (root / "agents" / "alpha.yaml").write_text(
        (root / "agents" / "alpha.yaml").read_text().replace("role: checker", "role: chekcer")
    )
    lines = [d.format() for d in validate(DirSource(root, "fleet")).diagnostics]
    assert lines == [
        "fleet/agents/alpha.yaml:12:31: agent.subagents[0].role: invalid value 'chekcer' (did you mean 'checker'?)",
        "fleet/agents/beta.yaml:6:10: agent.stage: invalid value 'prod' (did you mean 'production'?)",
        "fleet/fleet.yaml:2:1: timezon: unknown field 'timezon' (did you mean 'timezone'?)",
    ]


def test_guardrail_union_reports_the_member_that_fits(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    text = (root / "fleet.yaml").read_text().replace("action: redact", "action: redcat")
    (root / "fleet.yaml").write_text(text)
    _, diags = load_fleet(DirSource(root, "fleet"))
    assert [d.format() for d in diags] == [
        "fleet/fleet.yaml:27:55: gateway.guardrails.mcp_post_tool[1].action: invalid value 'redcat' (did you mean 'redact'?)"
    ]


def test_not_utf8_is_located(tmp_path: Path) -> None:
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    (root / "agents" / "beta.yaml").write_bytes(
        AGENT_HEAD.encode() + "  description: caf\u00e9 ".encode() + b"\xff\n"
    )
    _, diags = load_fleet(DirSource(root, "fleet"))
    assert [d.format() for d in diags] == [
        "fleet/agents/beta.yaml:6:21: not UTF-8 text: byte 0xff (invalid start byte) (save the file as UTF-8)"
    ]


def test_missing_fleet_file(tmp_path: Path) -> None:
    _, diags = load_fleet(DirSource(tmp_path, "nowhere"))
    assert [d.format() for d in diags] == [
        "nowhere/fleet.yaml: no fleet.yaml here (a fleet is a directory with fleet.yaml and agents/*.yaml; see examples/minimal)"
    ]


def test_flow_mapping_urls_parse(tmp_path: Path) -> None:
    """``{ base_url: https://… }`` is valid YAML 1.2 even where libyaml balks."""
    root = overlay(tmp_path / "fleet", FIXTURES / "base")
    loaded, diags = load_fleet(DirSource(root, "fleet"))
    assert diags == [] and loaded is not None
    assert loaded.fleet.providers["openai"].base_url == "https://api.openai.com/v1"
