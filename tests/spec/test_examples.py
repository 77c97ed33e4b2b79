"""The bundled example fleets validate clean, carry schema modelines, and compile."""

from __future__ import annotations

import pytest

from fleet.compile import compile_fleet
from fleet.resolve import check
from fleet.source import DirSource
from tests.conftest import EXAMPLES

FLEETS = ["northwind", "minimal"]


@pytest.mark.parametrize("name", FLEETS)
def test_example_validates_clean(name: str) -> None:
    report = check(DirSource(EXAMPLES / name, f"examples/{name}"))
    assert [d.format() for d in report.diagnostics] == []


@pytest.mark.parametrize("name", FLEETS)
def test_example_files_carry_schema_modeline(name: str) -> None:
    root = EXAMPLES / name
    assert (
        (root / "fleet.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=../../schemas/fleet.schema.json\n")
    )
    for agent in sorted((root / "agents").glob("*.yaml")):
        assert agent.read_text().startswith(
            "# yaml-language-server: $schema=../../../schemas/agent.schema.json\n"
        ), agent
    for case in sorted((root / "evals").glob("*/*.yaml")):
        assert case.read_text().startswith(
            "# yaml-language-server: $schema=../../../../schemas/eval-case.schema.json\n"
        ), case
    assert (root / "../../schemas/fleet.schema.json").resolve().exists()


def test_northwind_has_twelve_loops_and_compiles() -> None:
    compiled = compile_fleet(DirSource(EXAMPLES / "northwind"), git_commit="test")
    assert len(compiled.loops) == 12
    assert {loop["spec"]["stage"] for loop in compiled.loops} >= {"production", "staging"}
