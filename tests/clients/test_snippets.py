"""docs/clients.md's snippets are all run: each marked block is executed by a test in
tests/clients, and each one that calls the gateway sends the run id header."""

from __future__ import annotations

import re

from tests.clients import snippets
from tests.conftest import ROOT

HERE = ROOT / "tests" / "clients"


def test_every_snippet_is_run_by_a_test() -> None:
    marked = snippets.snippets()
    ran: set[str] = set()
    for module in HERE.glob("test_*.py"):
        ran |= set(re.findall(r'snippets\.run\("([a-z0-9-]+)"\)', module.read_text()))
    assert set(marked) == ran, (sorted(marked), sorted(ran))
    assert {"openai", "agents-sdk", "langchain", "pydantic-ai", "litellm"} <= set(marked)


def test_each_client_snippet_sends_the_run_id() -> None:
    for name, code in snippets.snippets().items():
        if name != "open-run":
            assert '"x-fleet-run-id": os.environ["FLEET_RUN_ID"]' in code, name
        assert "api_key" in code or "authorization" in code, name
