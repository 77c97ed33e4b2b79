"""Shared fixtures: paths to the bundled fleets and a copy-on-write fleet builder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"
NORTHWIND = FIXTURES / "northwind"
"""A frozen copy of the northwind example: tests that edit or golden-compare it use this."""


def overlay(target: Path, *layers: Path) -> Path:
    """Copy each layer's files over ``target`` in order; later layers win."""
    for layer in layers:
        for file in sorted(layer.rglob("*")):
            if file.is_file():
                dest = target / file.relative_to(layer)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, dest)
    return target


@pytest.fixture
def base_fleet(tmp_path: Path) -> Path:
    return overlay(tmp_path / "fleet", FIXTURES / "base")
