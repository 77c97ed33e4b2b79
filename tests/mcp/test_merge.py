"""The names of ``/mcp`` (:mod:`gateway.mcp.merge`): prefixing is reversible, the split
is at the first separator, a server with the separator in its name is not routable, and
resource URIs and embedded links round-trip."""

from __future__ import annotations

import pytest

from gateway.mcp import merge

SERVERS = ["github", "linear", "a.b"]


@pytest.mark.parametrize("sep", ["__", "-", ".", "_._"])
@pytest.mark.parametrize("tool", ["get_issue", "get__issue", "x", "a-b.c", "__lead"])
def test_join_then_split_is_the_identity(sep: str, tool: str) -> None:
    routable = merge.routable(SERVERS, sep)
    for server in routable:
        assert merge.split(merge.join(server, tool, sep), sep, routable) == (server, tool)


def test_split_refuses_what_no_server_prefixes() -> None:
    assert merge.split("get_issue", "__", SERVERS) is None
    assert merge.split("jira__get_issue", "__", SERVERS) is None
    assert merge.split("github__", "__", SERVERS) is None
    assert merge.split("__github", "__", SERVERS) is None
    # A server whose name holds the separator is left out rather than guessed at.
    assert merge.routable(["a.b", "a", "c"], ".") == ["a", "c"]
    assert merge.split("a.b.tool", ".", ["a.b", "a"]) == ("a", "b.tool")
    assert merge.split("a.b.tool", ".", merge.routable(["a.b"], ".")) is None


@pytest.mark.parametrize(
    "uri", ["debug://credential", "file:///etc/x", "ticket://{key}", "https://h/p?q=1#f", "x:/"]
)
def test_resource_uris_round_trip(uri: str) -> None:
    wrapped = merge.wrap_uri("linear", uri)
    assert wrapped.startswith("fleet-mcp://linear/")
    assert merge.unwrap_uri(wrapped, SERVERS) == ("linear", uri)
    assert merge.unwrap_uri(uri, SERVERS) is None
    assert merge.unwrap_uri("fleet-mcp://jira/" + uri, SERVERS) is None
    assert merge.unwrap_uri("fleet-mcp://linear", SERVERS) is None


def test_lists_and_results_are_prefixed() -> None:
    items = [{"name": "p1", "description": "d"}, {"name": 3}, "junk", {"title": "no name"}]
    assert merge.prefix_items(items, "linear", "__", "name") == [
        {"name": "linear__p1", "description": "d"}
    ]
    assert merge.prefix_resources([{"uri": "board://today"}], "linear", "uri") == [
        {"uri": "fleet-mcp://linear/board://today"}
    ]
    read = {"contents": [{"uri": "ticket://1", "text": "t"}, "junk"]}
    assert merge.prefix_contents(read, "linear") == {
        "contents": [{"uri": "fleet-mcp://linear/ticket://1", "text": "t"}, "junk"]
    }
    prompt = {
        "messages": [
            {
                "role": "user",
                "content": {"type": "resource_link", "uri": "ticket://2", "name": "t"},
            },
            {"role": "user", "content": {"type": "text", "text": "hi"}},
            "junk",
        ]
    }
    linked = merge.resource_links(prompt, "linear")
    assert linked["messages"][0]["content"]["uri"] == "fleet-mcp://linear/ticket://2"
    assert linked["messages"][1:] == prompt["messages"][1:]
    untouched = {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]}
    assert merge.resource_links(untouched, "linear") is untouched
