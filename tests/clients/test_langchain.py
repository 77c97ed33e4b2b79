"""LangChain's ``ChatOpenAI``, unchanged, on both of the gateway's APIs: chat completions
and (``use_responses_api=True``) Responses, each whole and streamed, as docs/clients.md
prints it; on both, a tool call bound with ``bind_tools`` round-trips, a structured
output comes back parsed and a stream carries its usage."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from tests.clients import snippets
from tests.clients.conftest import TOKEN, Fleet, Turn


def test_langchain_snippet_on_both_apis(world: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    run = world.open_run()
    world.env(monkeypatch, run)
    world.script(
        Turn(text="Red, by chat."),
        Turn(text="Flaky test, streamed by chat."),
        Turn(text="Red, by Responses."),
        Turn(text="Flaky test, streamed by Responses."),
    )
    done = snippets.run("langchain")
    assert done["chat_answer"] == "Red, by chat."
    assert done["chat_streamed"] == "Flaky test, streamed by chat."
    assert done["responses_answer"] == "Red, by Responses."
    assert done["responses_streamed"] == "Flaky test, streamed by Responses."
    assert [sent.get("stream", False) for _, sent in world.scripted.seen] == [
        False,
        True,
        False,
        True,
    ]
    steps = world.traces(run)
    assert [t.get("api", "chat") for t in steps] == ["chat", "chat", "responses", "responses"], [
        t.get("api", "chat") for t in steps
    ]
    assert all(t["status"] == 200 and t["cost_usd"] > 0 for t in steps)


@pytest.mark.parametrize("responses", [False, True], ids=["chat", "responses"])
def test_bound_tool_call_round_trips(world: Fleet, responses: bool) -> None:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_openai import ChatOpenAI

    def get_issue(number: int) -> str:
        """Read one issue."""
        return f"issue {number}: the build is red"

    world.script(
        Turn(text="", calls=[("call_7", "get_issue", '{"number": 7}')]),
        Turn(text="Issue 7: the build is red."),
    )
    model = ChatOpenAI(
        model="triage-default",
        base_url=world.url + "/v1",
        api_key=TOKEN,  # type: ignore[arg-type]
        use_responses_api=responses,
        max_retries=0,
    ).bind_tools([get_issue])
    asked = model.invoke([HumanMessage("What does issue 7 say?")])
    (call,) = asked.tool_calls  # type: ignore[attr-defined]
    assert (call["id"], call["name"], call["args"]) == ("call_7", "get_issue", {"number": 7})
    result = ToolMessage(get_issue(**call["args"]), tool_call_id=call["id"])
    final = model.invoke([HumanMessage("What does issue 7 say?"), asked, result])
    assert final.text == "Issue 7: the build is red."
    _, second = world.scripted.seen[-1]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_7",
        "content": "issue 7: the build is red",
    }


class Verdict(BaseModel):
    red: bool
    reason: str


@pytest.mark.parametrize("responses", [False, True], ids=["chat", "responses"])
def test_structured_output_and_stream_usage(world: Fleet, responses: bool) -> None:
    """``with_structured_output`` (a JSON schema the gateway passes on as chat's
    ``response_format``) and ``stream_usage``: the usage arrives on the stream's last
    chunk with content."""
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(
        model="triage-default",
        base_url=world.url + "/v1",
        api_key=TOKEN,  # type: ignore[arg-type]
        use_responses_api=responses,
        stream_usage=True,
        max_retries=0,
    )
    world.script(
        Turn(text='{"red": true, "reason": "a flaky test"}'),
        Turn(text="one two three", prompt_tokens=13, completion_tokens=3),
    )
    verdict = model.with_structured_output(Verdict, method="json_schema").invoke("Red?")
    assert verdict == Verdict(red=True, reason="a flaky test")
    _, sent = world.scripted.seen[0]
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["schema"]["required"] == ["red", "reason"]
    chunks = list(model.stream("Count."))
    assert "".join(c.text for c in chunks) == "one two three"
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == [(13, 3)]


@pytest.mark.parametrize("responses", [False, True], ids=["chat", "responses"])
def test_streamed_tool_call(world: Fleet, responses: bool) -> None:
    """A tool call streamed in pieces adds up, chunk by chunk, to one complete call."""
    from langchain_openai import ChatOpenAI

    def get_issue(number: int) -> str:
        """Read one issue."""
        return f"issue {number}"

    world.script(Turn(text="", calls=[("call_s", "get_issue", '{"number": 70}')]))
    model = ChatOpenAI(
        model="triage-default",
        base_url=world.url + "/v1",
        api_key=TOKEN,  # type: ignore[arg-type]
        use_responses_api=responses,
        max_retries=0,
    ).bind_tools([get_issue])
    chunks = list(model.stream("Read issue 70."))
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.tool_calls == [  # type: ignore[attr-defined]
        {"name": "get_issue", "args": {"number": 70}, "id": "call_s", "type": "tool_call"}
    ]
