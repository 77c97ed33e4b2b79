"""pydantic-ai's ``Agent``, unchanged, on the gateway's chat completions
(``OpenAIChatModel``) and Responses (``OpenAIResponsesModel``), as docs/clients.md prints
it; on both, a function tool the scripted model calls, a structured output and a
stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

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


class Verdict(BaseModel):
    red: bool
    reason: str


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_structured_output_and_stream(world: Fleet, api: str) -> None:
    """An ``output_type`` (pydantic-ai's ``final_result`` tool, answered by the scripted
    model) and ``run_stream``'s text."""
    from openai import AsyncOpenAI
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    kind = OpenAIChatModel if api == "chat" else OpenAIResponsesModel

    def agent(**kw: Any) -> Agent[None, Any]:
        # A client per event loop: run_sync and asyncio.run each start their own.
        client = AsyncOpenAI(base_url=world.url + "/v1", api_key=TOKEN, max_retries=0)
        return Agent(kind("triage-default", provider=OpenAIProvider(openai_client=client)), **kw)

    world.script(
        Turn(text="", calls=[("call_v", "final_result", '{"red": true, "reason": "flaky"}')]),
        Turn(text="The build is red again."),
    )
    verdict = agent(output_type=Verdict).run_sync("Red?").output
    assert verdict == Verdict(red=True, reason="flaky")
    _, sent = world.scripted.seen[0]
    assert [t["function"]["name"] for t in sent["tools"]] == ["final_result"]

    async def stream() -> str:
        async with agent().run_stream("Again?") as run:
            return "".join([t async for t in run.stream_text(delta=True)])

    assert asyncio.run(stream()) == "The build is red again."
    assert world.scripted.seen[1][1]["stream"] is True


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_native_output_is_a_json_schema(world: Fleet, api: str) -> None:
    """``NativeOutput``: the model is asked for a JSON schema answer, not a tool call."""
    from openai import AsyncOpenAI
    from pydantic_ai import Agent, NativeOutput
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    kind = OpenAIChatModel if api == "chat" else OpenAIResponsesModel
    client = AsyncOpenAI(base_url=world.url + "/v1", api_key=TOKEN, max_retries=0)
    agent = Agent(
        kind("triage-default", provider=OpenAIProvider(openai_client=client)),
        output_type=NativeOutput(Verdict),
    )
    world.script(Turn(text='{"red": false, "reason": "green since noon"}'))
    assert agent.run_sync("Red?").output == Verdict(red=False, reason="green since noon")
    ((_, sent),) = world.scripted.seen
    assert sent["response_format"]["type"] == "json_schema"
    assert "tools" not in sent
