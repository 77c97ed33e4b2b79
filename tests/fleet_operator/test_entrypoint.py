"""The operator image's entry point starts kopf with the operator's handlers."""

from __future__ import annotations

import subprocess
import sys


def test_module_entry_point_reaches_kopf() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fleet_operator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--all-namespaces" in result.stdout and "--standalone" in result.stdout
