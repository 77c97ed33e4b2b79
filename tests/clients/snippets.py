"""The code blocks of docs/clients.md that the client tests run, so the page cannot drift
from what works.

A snippet is a fenced ``python`` block right after a ``<!-- snippet: NAME -->`` marker. It
reads the gateway's address, the loop's token and the run id from the environment a sandbox
pod has (``FLEET_GATEWAY_URL``, ``FLEET_GATEWAY_TOKEN``, ``FLEET_RUN_ID``), so a test sets
those and executes the block exactly as printed; what it leaves in its names (``answer``,
``result``...) is what the test checks.
"""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import ROOT

DOC = ROOT / "docs" / "clients.md"
MARKED = re.compile(r"<!-- snippet: ([a-z0-9-]+) -->\n```python\n(.*?)```", re.S)


def snippets() -> dict[str, str]:
    """Every marked block of the page by name; a name used twice is an error in the page."""
    text = DOC.read_text()
    found: dict[str, str] = {}
    for match in MARKED.finditer(text):
        name = match.group(1)
        assert name not in found, f"{DOC.name}: snippet {name!r} is marked twice"
        # Padded so that a traceback's line numbers are the page's own.
        found[name] = "\n" * text.count("\n", 0, match.start(2)) + match.group(2)
    return found


def run(name: str) -> dict[str, Any]:
    """Execute one snippet as a module of its own; its global names come back."""
    code = snippets().get(name)
    assert code is not None, f"{DOC.name} has no python block marked <!-- snippet: {name} -->"
    scope: dict[str, Any] = {"__name__": f"clients_md_{name.replace('-', '_')}"}
    exec(compile(code, str(DOC), "exec"), scope)
    return scope
