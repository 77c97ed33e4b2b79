"""The Agents SDK's MCP client on ``/mcp``: ``MCPServerStreamableHttp`` lists every
granted tool once (the SDK refuses duplicate names) and calls a read tool and a gated
one, through the gateway, without a model (no Agent run: only its MCP half)."""

from __future__ import annotations

from agents import Agent
from agents.mcp import MCPServerStreamableHttp
from agents.mcp.util import MCPUtil
from agents.run_context import RunContextWrapper

from tests.mcp.conftest import TOKENS, Stack


async def test_agents_sdk_lists_and_calls_on_mcp(stack: Stack) -> None:
    async with MCPServerStreamableHttp(
        params={
            "url": stack.url + "/mcp",
            "headers": {"authorization": f"Bearer {TOKENS['release']}"},
        },
        name="fleet",
    ) as server:
        agent = Agent(name="probe", mcp_servers=[server])
        tools = await MCPUtil.get_all_function_tools(
            [server],
            convert_schemas_to_strict=False,
            run_context=RunContextWrapper(None),
            agent=agent,
        )
        names = [t.name for t in tools]
        assert len(names) == len(set(names))
        assert "github__get_issue" in names and "github__merge_pr" in names
        assert names.count("fleet_approval_result") == 1
        read = await server.call_tool("github__get_issue", {"number": 12})
        assert not read.is_error and read.content[0].text == "issue 12: the build is red"  # type: ignore[union-attr]
        gated = await server.call_tool("github__merge_pr", {"number": 12})
        assert gated.is_error and gated.content[0].text.startswith("NOT DONE")  # type: ignore[union-attr]
    assert stack.calls("merge_pr") == []
