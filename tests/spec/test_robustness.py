"""Random and mutated YAML never produces a traceback, and every error is located."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.resolve import check
from fleet.source import DirSource
from tests.conftest import FIXTURES, overlay

BASE = FIXTURES / "base"
AGENT = (BASE / "agents" / "alpha.yaml").read_text()
FLEET = (BASE / "fleet.yaml").read_text()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "read",
            "write",
            "*",
            "@",
            "{",
            "[",
            "- x",
            "a: b",
            "!!binary",
            "&a",
            "*a",
            "0x1F",
            "~",
            "2027-02-30",
        ]
    ),
)
yaml_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutate(text: str, data: st.DataObject) -> str:
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1))
        op = data.draw(st.sampled_from(["delete", "dup", "indent", "value", "chars", "swap"]))
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = data.draw(st.sampled_from(["", " ", "   ", "\t"])) + lines[i].lstrip()
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {data.draw(st.text(max_size=15))}"
        elif op == "chars":
            pos = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + data.draw(st.text(max_size=5)) + lines[i][pos:]
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


def assert_located(root: Path) -> None:
    report = check(DirSource(root, "fleet"), today=dt.date(2027, 3, 1))
    for d in report.diagnostics:
        assert d.file.startswith("fleet/")
        assert d.line >= 1 and d.col >= 1, d.format()
        assert d.message


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_files(data: st.DataObject, tmp_path_factory: object) -> None:
    root = overlay(Path(tmp_path_factory.mktemp("fleet")), BASE)  # type: ignore[attr-defined]
    (root / "agents" / "alpha.yaml").write_text(mutate(AGENT, data))
    (root / "fleet.yaml").write_text(mutate(FLEET, data))
    assert_located(root)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=yaml_values, where=st.sampled_from(["agent", "fleet"]))
def test_random_structures(value: object, where: str, tmp_path_factory: object) -> None:
    from fleet.yamlout import dump

    root = overlay(Path(tmp_path_factory.mktemp("fleet")), BASE)  # type: ignore[attr-defined]
    doc = {"agent": value} if where == "agent" else {"fleet": "x", "models": value}
    try:
        text = dump(doc)
    except TypeError:
        return
    target = root / "agents" / "alpha.yaml" if where == "agent" else root / "fleet.yaml"
    target.write_text(text)
    assert_located(root)


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes(raw: bytes, tmp_path_factory: object) -> None:
    root = overlay(Path(tmp_path_factory.mktemp("fleet")), BASE)  # type: ignore[attr-defined]
    (root / "agents" / "alpha.yaml").write_bytes(raw)
    report = check(DirSource(root, "fleet"))
    assert all(d.message for d in report.diagnostics)
