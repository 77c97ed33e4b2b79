"""The same conversation run by the OpenAI Agents SDK's ``Runner`` (in memory), through the
gateway: ``OpenAIChatCompletionsModel`` on an ``AsyncOpenAI`` client pointed at the
gateway's ``/v1`` with the loop's token and run id, and the github MCP server through the
gateway's ``/mcp/github`` (``MCPServerStreamableHttp``, the loop's bearer token). Tracing
is off and the tool list is cached (the SDK's fastest settings: by default it lists the
tools again before every turn; the harness lists them once per attempt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.harness.script import LOOP
from bench.harness.stack import TOKEN


def prompts(content_dir: Path, label: str) -> tuple[str, str]:
    """The system prompt and task message the harness would send for this run."""
    from fleet.runtime import prompts as p
    from harness.content import load
    from harness.settings import load as settings

    s = settings(str(content_dir / "loop" / "definition.json"), None, _env(content_dir))
    content = load(content_dir, s.definition.maker)
    system = p.maker_system(
        content.instructions, content.cards, has_checker=False, has_command=False
    )
    return system, p.task(LOOP, "manual", {"tag": label}, {}, 0)


def _env(content_dir: Path) -> dict[str, str]:
    return {"FLEET_GATEWAY_URL": "http://unused", "FLEET_GATEWAY_TOKEN": TOKEN}


async def run(gateway: str, run_id: str, system: str, task: str, max_turns: int = 200) -> Any:
    import agents
    from agents.mcp import MCPServerStreamableHttp
    from openai import AsyncOpenAI

    agents.set_tracing_disabled(True)
    client = AsyncOpenAI(
        base_url=gateway + "/v1",
        api_key=TOKEN,
        max_retries=0,
        default_headers={"x-fleet-run-id": run_id},
    )
    try:
        async with MCPServerStreamableHttp(
            params={
                "url": gateway + "/mcp/github",
                "headers": {"authorization": f"Bearer {TOKEN}", "x-fleet-run-id": run_id},
                "timeout": 30,
            },
            cache_tools_list=True,
            client_session_timeout_seconds=30,
            name="github",
        ) as server:
            agent = agents.Agent(
                name=LOOP,
                instructions=system,
                model=agents.OpenAIChatCompletionsModel(model="m", openai_client=client),
                model_settings=agents.ModelSettings(extra_args={"user": LOOP}),
                mcp_servers=[server],
            )
            return await agents.Runner.run(agent, task, max_turns=max_turns)
    finally:
        await client.close()
