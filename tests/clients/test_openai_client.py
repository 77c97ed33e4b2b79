"""The official openai SDK, unchanged, through the gateway: the doc's snippet (Responses
whole and streamed, embeddings, ``models.retrieve``, run headers on every request) and the
snippet that opens a run for a client outside a sandbox pod."""

from __future__ import annotations

import httpx
import pytest

from tests.clients import snippets
from tests.clients.conftest import TOKEN, Fleet, Turn


def test_openai_snippet(world: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    run = world.open_run()
    world.env(monkeypatch, run)
    world.script(
        Turn(text="Yes, the build is red.", prompt_tokens=30, completion_tokens=6),
        Turn(text="A test is flaky since Monday."),
    )
    done = snippets.run("openai")
    answer, vectors, model = done["answer"], done["vectors"], done["model"]
    assert answer.output_text == "Yes, the build is red." and answer.model == "triage-default"
    assert answer.model_extra["fleet"]["cost_usd"] == pytest.approx(30e-6 + 12e-6)
    assert done["streamed"] == "A test is flaky since Monday."
    assert [v.embedding for v in vectors.data] == [[0.5, 9.0], [0.5, 11.0]]
    assert (model.id, model.object, model.owned_by) == ("triage-default", "model", "testfleet")
    # What the provider was sent: the pinned words as a system message, a stream for the second.
    (_, whole), (_, stream) = world.scripted.seen
    assert whole["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert whole["model"] == stream["model"] == "m-main" and stream["stream"] is True
    steps = world.traces(run)
    assert [(t["kind"], t.get("api"), t["step"]) for t in steps] == [
        ("llm", "responses", 1),
        ("llm", "responses", 1),
        ("embedding", None, 1),
    ]
    assert all(t["loop"] == "alpha" and t["cost_usd"] > 0 for t in steps)


def test_open_run_snippet(world: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEET_GATEWAY_URL", world.url)
    monkeypatch.setenv("FLEET_GATEWAY_TOKEN", TOKEN)
    headers = snippets.run("open-run")["run_headers"]
    run = headers["x-fleet-run-id"]
    assert run.startswith("alpha-") and len(run) == len("alpha-") + 16
    shown = httpx.get(
        f"{world.url}/v1/fleet/runs/{run}",
        headers={"authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert shown.status_code == 200 and shown.json()["run"]["id"] == run
