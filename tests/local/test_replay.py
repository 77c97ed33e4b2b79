"""The replay provider over loopback, with the official openai client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from fleetctl.local.errors import LocalError, TranscriptError
from fleetctl.local.replay import Replay, ReplayApp, fingerprint, serve_in_thread
from fleetctl.local.server import ServerThread

TRANSCRIPT = """\
replay: bug-report-triage, a bug report turned into a merged fix
tracks:
  triage:
    - tool_calls:
        - { name: github__get_issue, arguments: { number: 42 } }
    - content: "I'll open a fix."
      tool_calls: [{ name: github__create_pr, arguments: { title: "Fix #42" } }]
    - { content: "Done.", usage: { prompt_tokens: 900, completion_tokens: 40 } }
  triage/reviewer:
    - tool_calls: [{ name: verdict, arguments: { verdict: fail, reasons: ["no test"] } }]
"""


def tool(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


TOOLS: Any = [tool("github__get_issue"), tool("github__create_pr"), tool("finish"), tool("verdict")]


@pytest.fixture
def transcript(tmp_path: Path) -> Path:
    path = tmp_path / "t.replay.yaml"
    path.write_text(TRANSCRIPT)
    return path


@pytest.fixture
def served(transcript: Path) -> Iterator[tuple[openai.OpenAI, ReplayApp]]:
    app = ReplayApp(Replay.from_file(transcript))
    with ServerThread(app) as srv:
        yield openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0), app


def ask(client: openai.OpenAI, user: str, text: str = "go", **kw: Any) -> Any:
    return client.chat.completions.create(
        model=kw.pop("model", "gpt-5-mini"),
        messages=[{"role": "user", "content": text}],
        tools=kw.pop("tools", TOOLS),
        user=user,
        **kw,
    )


def test_replies_in_order_with_deterministic_ids(
    served: tuple[openai.OpenAI, ReplayApp],
) -> None:
    client, _ = served
    first = ask(client, "triage", "1")
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "github__get_issue"
    assert json.loads(call.function.arguments) == {"number": 42}
    assert call.id.startswith("call_") and call.id.endswith("_0_0")
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.model == "gpt-5-mini"
    second = ask(client, "triage", "2")
    assert second.choices[0].message.content == "I'll open a fix."
    assert second.choices[0].message.tool_calls[0].function.name == "github__create_pr"
    third = ask(client, "triage", "3")
    assert third.choices[0].message.content == "Done."
    assert third.choices[0].finish_reason == "stop"
    assert (third.usage.prompt_tokens, third.usage.completion_tokens) == (900, 40)
    # estimated usage when the transcript gives none
    assert first.usage.prompt_tokens > 0 and first.usage.completion_tokens > 0
    # the reviewer has its own track and cursor
    verdict = ask(client, "triage/reviewer", "review")
    assert verdict.choices[0].message.tool_calls[0].function.name == "verdict"


def test_title_header(served: tuple[openai.OpenAI, ReplayApp]) -> None:
    client, _ = served
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "x"}], tools=TOOLS, user="triage"
    )
    assert raw.headers["x-fleet-replay"] == (
        "bug-report-triage, a bug report turned into a merged fix"
    )


def test_a_retry_gets_the_same_reply_and_does_not_advance(
    served: tuple[openai.OpenAI, ReplayApp],
) -> None:
    client, app = served
    a = ask(client, "triage", "same")
    b = ask(client, "triage", "same", model="another-model")  # the model does not count
    assert a.choices[0].message.tool_calls[0].id == b.choices[0].message.tool_calls[0].id
    assert app.state.position("triage") == 1
    assert [s.remembered for s in app.served] == [False, True]
    nxt = ask(client, "triage", "different")
    assert nxt.choices[0].message.content == "I'll open a fix."


def test_state_persists_across_two_servers(transcript: Path, tmp_path: Path) -> None:
    state = tmp_path / "state" / "replay.json"
    replay = Replay.from_file(transcript)
    url, stop = serve_in_thread(replay, state)
    try:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        first = ask(client, "triage", "1")
    finally:
        stop()
    assert json.loads(state.read_text())["runs"][""]["triage"]["next"] == 1
    url, stop = serve_in_thread(Replay.from_file(transcript), state)
    try:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        again = ask(client, "triage", "1")  # the retry of a call the first process answered
        assert (
            again.choices[0].message.tool_calls[0].id == first.choices[0].message.tool_calls[0].id
        )
        nxt = ask(client, "triage", "2")
        assert nxt.choices[0].message.content == "I'll open a fix."
    finally:
        stop()


def test_state_of_another_transcript_is_refused(transcript: Path, tmp_path: Path) -> None:
    state = tmp_path / "replay.json"
    ReplayApp(Replay.from_file(transcript), state).state.take("", "triage", "fp")
    other = Replay.from_dict({"replay": "other", "tracks": {"triage": [{"content": "x"}]}})
    with pytest.raises(LocalError, match="another version"):
        ReplayApp(other, state)


def test_runs_keep_their_own_cursor(served: tuple[openai.OpenAI, ReplayApp]) -> None:
    client, _ = served
    a = ask(client, "triage", "a", extra_headers={"x-fleet-run-id": "run-a"})
    b = ask(client, "triage", "b", extra_headers={"x-fleet-run-id": "run-b"})
    assert a.choices[0].message.tool_calls[0].function.name == "github__get_issue"
    assert b.choices[0].message.tool_calls[0].function.name == "github__get_issue"


def test_streaming(served: tuple[openai.OpenAI, ReplayApp]) -> None:
    client, _ = served
    ask(client, "triage", "1")
    stream = ask(client, "triage", "2", stream=True, stream_options={"include_usage": True})
    text, names, args, usage, finish = "", [], "", None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                if tc.function and tc.function.name:
                    names.append(tc.function.name)
                args += (tc.function.arguments or "") if tc.function else ""
            finish = choice.finish_reason or finish
    assert text == "I'll open a fix."
    assert names == ["github__create_pr"]
    assert json.loads(args) == {"title": "Fix #42"}
    assert finish == "tool_calls"
    assert usage is not None and usage.total_tokens > 0


def test_missing_and_unknown_track(served: tuple[openai.OpenAI, ReplayApp]) -> None:
    client, _ = served
    with pytest.raises(openai.BadRequestError, match="no 'user' field"):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError, match="did you mean 'triage'"):
        ask(client, "triag")


def test_a_tool_the_request_does_not_offer(served: tuple[openai.OpenAI, ReplayApp]) -> None:
    client, _ = served
    with pytest.raises(openai.BadRequestError) as err:
        ask(client, "triage", tools=[tool("finish")])
    assert "replay: the transcript calls github__get_issue, which the request does not offer" in (
        err.value.message
    )
    assert "(offered: finish;" in err.value.message


def test_a_used_up_track_is_a_503(served: tuple[openai.OpenAI, ReplayApp]) -> None:
    client, _ = served
    ask(client, "triage/reviewer", "1")
    with pytest.raises(openai.InternalServerError) as err:
        ask(client, "triage/reviewer", "2")
    assert err.value.status_code == 503
    assert "replay: track triage/reviewer has no reply left after 1" in err.value.message


def test_scripted_status_then_recovery() -> None:
    replay = Replay.from_dict(
        {"replay": "flaky", "tracks": {"l": [{"status": 503}, {"content": "ok", "delay_ms": 5}]}}
    )
    url, stop = serve_in_thread(replay)
    try:
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            ask(client, "l", tools=[])
        # the same request again: the error is not remembered, the provider "recovers"
        assert ask(client, "l", tools=[]).choices[0].message.content == "ok"
    finally:
        stop()


def test_models_and_health(served: tuple[openai.OpenAI, ReplayApp]) -> None:
    client, _ = served
    assert [m.id for m in client.models.list()] == ["replay"]


def test_fingerprint_ignores_model_and_stream() -> None:
    base = {"messages": [{"role": "user", "content": "x"}], "tools": TOOLS, "user": "u"}
    assert fingerprint({**base, "model": "a"}) == fingerprint(
        {**base, "model": "b", "stream": True}
    )
    assert fingerprint(base) != fingerprint({**base, "user": "v"})


BAD = """\
replay: bad
tracks:
  triage:
    - { content: 3 }
    - { tool_calls: [{ name: x, arguments: [1] }], usage: { prompt_tokens: -1 } }
    - { contnet: "typo" }
    - { status: 200 }
  "a/b/c": [{ content: x }]
  empty: []
extra: 1
"""


def test_transcript_errors_are_located(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(TranscriptError) as err:
        Replay.from_file(path)
    lines = [line.replace(str(path), "bad.yaml") for line in err.value.lines()]
    assert lines == [
        "bad.yaml:4:18: tracks.triage[0].content: expected text (quote it)",
        "bad.yaml:5:44: tracks.triage[1].tool_calls[0].arguments: expected a mapping of argument names to values (for example { number: 42 })",
        "bad.yaml:5:76: tracks.triage[1].usage.prompt_tokens: expected a whole number ≥ 0, got -1 (for example 120)",
        "bad.yaml:6:7: tracks.triage[2]: an empty reply (give 'content', 'tool_calls' or 'status')",
        "bad.yaml:6:9: tracks.triage[2].contnet: unknown field 'contnet' (did you mean 'content'?)",
        "bad.yaml:7:17: tracks.triage[3].status: expected an HTTP error status 400-599, got 200 (for example 503; leave it out for a normal reply)",
        "bad.yaml:8:3: tracks.\"a/b/c\": track name 'a/b/c' is not a caller identity (use the loop's name, or '<loop>/<sub-agent>')",
        "bad.yaml:9:10: tracks.empty: expected a non-empty list of replies (one item per model call)",
        "bad.yaml:10:1: extra: unknown field 'extra' (expected one of: replay, tracks)",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tracks: { a: [{ content: x }] }\n", "1:1: missing field 'replay'"),
        ("replay: t\n", "1:1: missing field 'tracks'"),
        ("replay: t\ntracks: {a: [1}\n", "YAML syntax error"),
        ("- 1\n", "1:1: a transcript is a mapping"),
        ("", "the file is empty"),
    ],
)
def test_transcript_shape_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(TranscriptError, match=message):
        Replay.from_file(path)


def test_json_transcript_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"replay": "j", "tracks": {"a": [{"content": "hi"}]}}))
    assert Replay.from_file(path).tracks["a"][0].content == "hi"
    with pytest.raises(TranscriptError, match="cannot read the transcript"):
        Replay.from_file(tmp_path / "nope.yaml")
