"""litellm, unchanged, through the gateway: the doc's ``completion`` snippet, a stream, and
``litellm.responses``. Its import is kept in this module (it is the heaviest client), with
its price table read from the package (``LITELLM_LOCAL_MODEL_COST_MAP``, set by the
conftest before the tests import it); the conftest refuses any lookup off loopback."""

from __future__ import annotations

import pytest

from tests.clients import snippets
from tests.clients.conftest import TOKEN, Fleet, Turn

# litellm's own types trip a pydantic notice (ReadOnly TypedDict items) when a stream is
# parsed: the library's, not the gateway's, and harmless to the answer.
pytestmark = pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier")


def test_litellm_snippet(world: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    run = world.open_run()
    world.env(monkeypatch, run)
    world.script(Turn(text="Yes, the build is red.", prompt_tokens=12, completion_tokens=5))
    answer = snippets.run("litellm")["answer"]
    assert answer.choices[0].message.content == "Yes, the build is red."
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (12, 5)
    ((path, sent),) = world.scripted.seen
    assert path == "/v1/chat/completions" and sent["model"] == "m-main"
    (step,) = world.traces(run)
    assert (step["kind"], step["loop"], step["status"]) == ("llm", "alpha", 200)


def test_litellm_stream_and_responses(world: Fleet) -> None:
    import litellm

    world.script(Turn(text="Streamed through litellm."), Turn(text="Answered by Responses."))
    common = {"api_base": world.url + "/v1", "api_key": TOKEN}
    chunks = litellm.completion(
        model="openai/triage-default",
        messages=[{"role": "user", "content": "Why?"}],
        stream=True,
        **common,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)  # type: ignore[union-attr]
    assert text == "Streamed through litellm."
    answer = litellm.responses(model="openai/triage-default", input="Is it red?", **common)
    assert answer.output[0].content[0].text == "Answered by Responses."  # type: ignore[union-attr]
    assert [p for p, _ in world.scripted.seen] == ["/v1/chat/completions"] * 2
    assert world.scripted.seen[1][1]["messages"] == [{"role": "user", "content": "Is it red?"}]
    # litellm sent the second to the gateway's /v1/responses, which translated it.
    assert [t.get("api", "chat") for t in world.traces()[-2:]] == ["chat", "responses"]


def test_litellm_tool_calls_on_both_apis(world: Fleet) -> None:
    import litellm

    params = {"type": "object", "properties": {"number": {"type": "integer"}}}
    world.script(
        Turn(text="", calls=[("call_l1", "get_issue", '{"number": 5}')]),
        Turn(text="", calls=[("call_l2", "get_issue", '{"number": 6}')]),
    )
    common = {"api_base": world.url + "/v1", "api_key": TOKEN}
    chat = litellm.completion(
        model="openai/triage-default",
        messages=[{"role": "user", "content": "Read issue 5."}],
        tools=[{"type": "function", "function": {"name": "get_issue", "parameters": params}}],
        **common,
    )
    (call,) = chat.choices[0].message.tool_calls  # type: ignore[union-attr]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_l1",
        "get_issue",
        '{"number": 5}',
    )
    answer = litellm.responses(
        model="openai/triage-default",
        input="Read issue 6.",
        tools=[{"type": "function", "name": "get_issue", "parameters": params}],
        **common,
    )
    (item,) = answer.output
    assert (item.type, item.call_id, item.arguments) == (  # type: ignore[union-attr]
        "function_call",
        "call_l2",
        '{"number": 6}',
    )
