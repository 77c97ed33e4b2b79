"""An OpenAI Agents SDK ``Agent`` on its default model class (the Responses API) with
``MCPServerStreamableHttp`` on ``/mcp``, run as docs/clients.md prints it: the scripted
model calls a read tool, then a destructive one that waits for a human, then answers; a streamed run with a read tool; a structured output. The
MCP half alone is tests/mcp/test_agents_sdk.py; a function tool whole and streamed is
tests/gateway/test_responses_stream.py."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from tests.clients import snippets
from tests.clients.conftest import TOKEN, Fleet, Turn

DONE = "Issue 12 says the build is red; merging PR 12 waits for a human's approval."


def test_agents_sdk_snippet_reads_then_waits_for_approval(
    world: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = world.open_run()
    world.env(monkeypatch, run)
    world.script(
        Turn(text="", calls=[("call_read", "github__get_issue", '{"number": 12}')]),
        Turn(text="", calls=[("call_merge", "github__merge_pr", '{"number": 12}')]),
        Turn(text=DONE),
    )
    before = len(world.calls("get_issue"))
    answer = snippets.run("agents-sdk")["answer"]
    assert answer == DONE
    assert world.calls("get_issue")[before:] == [{"tool": "get_issue", "args": {"number": 12}}]
    assert world.calls("merge_pr") == []
    # The model got both tool results back, each under its own call id.
    first, second, third = (sent for _, sent in world.scripted.seen)
    assert {t["function"]["name"] for t in first["tools"]} >= {
        "github__get_issue",
        "github__merge_pr",
        "fleet_approval_result",
    }
    read = next(m for m in second["messages"] if m.get("tool_call_id") == "call_read")
    assert "issue 12: the build is red" in read["content"]
    gated = next(m for m in third["messages"] if m.get("tool_call_id") == "call_merge")
    assert "NOT DONE" in gated["content"]
    (waiting,) = [a for a in world.pending() if a["tool"] == "merge_pr"]
    assert waiting["id"] in gated["content"]
    assert (waiting["run"], waiting["arguments"], waiting["tool_class"]) == (
        run,
        {"number": 12},
        "destructive",
    )
    # One run holds the model calls and both tool calls.
    steps = world.traces(run)
    assert [t.get("api") for t in steps if t["kind"] == "llm"] == ["responses"] * 3
    tools = [(t["tool"], t["outcome"]) for t in steps if t["kind"] != "llm"]
    assert tools[0] == ("get_issue", "ok") and tools[1][0] == "merge_pr", tools
    # Approved, it runs once, and the stored result is what the loop fetches next.
    assert world.approve(waiting["id"])["state"] == "executed"
    assert world.calls("merge_pr") == [{"tool": "merge_pr", "args": {"number": 12}}]


def test_streamed_agent_calls_a_tool_on_mcp(world: Fleet) -> None:
    """``Runner.run_streamed``: the read tool's call and its output come out as stream
    events, and the streamed answer is the scripted one."""
    from agents import Agent, RunConfig, Runner, set_tracing_disabled
    from agents.mcp import MCPServerStreamableHttp
    from agents.models.openai_provider import OpenAIProvider
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    world.script(
        Turn(text="", calls=[("call_s", "github__get_issue", '{"number": 44}')]),
        Turn(text="Issue 44 says the build is red."),
    )

    async def main() -> tuple[Any, list[str]]:
        client = AsyncOpenAI(base_url=world.url + "/v1", api_key=TOKEN, max_retries=0)
        config = RunConfig(model_provider=OpenAIProvider(openai_client=client))
        async with MCPServerStreamableHttp(
            params={"url": world.url + "/mcp", "headers": {"authorization": f"Bearer {TOKEN}"}},
            name="fleet",
        ) as tools:
            agent = Agent(name="reader", model="triage-default", mcp_servers=[tools])
            run = Runner.run_streamed(agent, "What does issue 44 say?", run_config=config)
            items = [
                e.item.type async for e in run.stream_events() if e.type == "run_item_stream_event"
            ]
        await client.close()
        return run, items

    run, items = asyncio.run(main())
    assert run.final_output == "Issue 44 says the build is red."
    assert items == ["tool_call_item", "tool_call_output_item", "message_output_item"]
    assert all(sent["stream"] is True for _, sent in world.scripted.seen)


class Verdict(BaseModel):
    red: bool
    reason: str


def test_structured_output_whole_and_streamed(world: Fleet) -> None:
    """An ``output_type``: the SDK asks for a JSON schema (``text.format``), which reaches the
    provider as chat's ``response_format``; whole and streamed, the answer is parsed."""
    from agents import Agent, ModelSettings, RunConfig, Runner, set_tracing_disabled
    from agents.models.openai_provider import OpenAIProvider
    from openai import AsyncOpenAI

    set_tracing_disabled(True)
    verdict = '{"red": true, "reason": "a flaky test"}'
    world.script(Turn(text=verdict), Turn(text=verdict))

    async def main(streamed: bool) -> Any:
        client = AsyncOpenAI(base_url=world.url + "/v1", api_key=TOKEN, max_retries=0)
        config = RunConfig(model_provider=OpenAIProvider(openai_client=client))
        agent = Agent(
            name="judge",
            model="triage-default",
            output_type=Verdict,
            model_settings=ModelSettings(temperature=0.2, max_tokens=200),
        )
        if streamed:
            run = Runner.run_streamed(agent, "Is it red?", run_config=config)
            async for _ in run.stream_events():
                pass
        else:
            run = await Runner.run(agent, "Is it red?", run_config=config)  # type: ignore[assignment]
        await client.close()
        return run.final_output

    assert (
        asyncio.run(main(False))
        == asyncio.run(main(True))
        == Verdict(red=True, reason="a flaky test")
    )
    for _, sent in world.scripted.seen:
        assert sent["response_format"]["type"] == "json_schema"
        assert (sent["temperature"], sent["max_tokens"]) == (0.2, 200)
