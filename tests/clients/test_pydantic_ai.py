"""pydantic-ai's ``Agent``, unchanged, on the gateway's chat completions
(``OpenAIChatModel``) and Responses (``OpenAIResponsesModel``), as docs/clients.md prints
it; and a function tool the scripted model calls, on both."""

from __future__ import annotations

import pytest

from tests.clients import snippets
from tests.clients.conftest import TOKEN, Fleet, Turn


def test_pydantic_ai_snippet_on_both_apis(world: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    run = world.open_run()
    world.env(monkeypatch, run)
    world.script(Turn(text="Red, by chat."), Turn(text="Red, by Responses."))
    done = snippets.run("pydantic-ai")
    assert (done["chat_answer"], done["responses_answer"]) == (
        "Red, by chat.",
        "Red, by Responses.",
    )
    (_, chat), (_, responses) = world.scripted.seen
    assert (
        chat["messages"][0]
        == responses["messages"][0]
        == {
            "role": "system",
            "content": "Be brief.",
        }
    )
    steps = world.traces(run)
    assert [t.get("api", "chat") for t in steps] == ["chat", "responses"], [
        t.get("api", "chat") for t in steps
    ]
    assert all(t["status"] == 200 and t["cost_usd"] > 0 for t in steps)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_function_tool_on_both_apis(world: Fleet, api: str) -> None:
    from openai import AsyncOpenAI
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    read: list[int] = []
    client = AsyncOpenAI(base_url=world.url + "/v1", api_key=TOKEN, max_retries=0)
    provider = OpenAIProvider(openai_client=client)
    kind = OpenAIChatModel if api == "chat" else OpenAIResponsesModel
    agent = Agent(kind("triage-default", provider=provider))

    @agent.tool_plain
    def get_issue(number: int) -> str:
        """Read one issue."""
        read.append(number)
        return f"issue {number}: the build is red"

    world.script(
        Turn(text="", calls=[("call_3", "get_issue", '{"number": 3}')]),
        Turn(text="Issue 3: the build is red."),
    )
    result = agent.run_sync("What does issue 3 say?")
    assert result.output == "Issue 3: the build is red." and read == [3]
    usage = result.usage
    assert (usage.input_tokens, usage.output_tokens) == (42, 18)
    _, second = world.scripted.seen[-1]
    assert second["messages"][-1]["role"] == "tool"
    assert second["messages"][-1]["tool_call_id"] == "call_3"
    assert "issue 3: the build is red" in second["messages"][-1]["content"]
