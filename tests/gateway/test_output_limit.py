"""The output limit the gateway adds when the caller named none goes in the field the
provider reads: OpenAI's own API refuses ``max_tokens`` on reasoning models."""

from __future__ import annotations

import orjson
import pytest

from gateway.routing import DEFAULT_MAX_OUTPUT_TOKENS, limit_field, upstream_body


@pytest.mark.parametrize(
    ("base_url", "field"),
    [
        ("https://api.openai.com/v1", "max_completion_tokens"),
        ("https://northwind.openai.azure.com/openai/v1", "max_completion_tokens"),
        ("https://API.OpenAI.com/v1", "max_completion_tokens"),
        ("https://api.anthropic.com/v1", "max_tokens"),
        ("http://127.0.0.1:8000/v1", "max_tokens"),
        ("http://vllm.models.svc:8000/v1", "max_tokens"),
        ("https://api.openai.com.attacker.example/v1", "max_tokens"),
    ],
)
def test_the_added_limit_uses_the_providers_field(base_url: str, field: str) -> None:
    assert limit_field(base_url) == field
    sent = orjson.loads(upstream_body({"model": "main", "messages": []}, "t", False, field))
    assert sent[field] == DEFAULT_MAX_OUTPUT_TOKENS
    (other,) = {"max_tokens", "max_completion_tokens"} - {field}
    assert other not in sent


@pytest.mark.parametrize("named", ["max_tokens", "max_completion_tokens"])
def test_a_limit_the_caller_named_is_sent_as_named(named: str) -> None:
    body = {"model": "main", "messages": [], named: 300}
    sent = orjson.loads(upstream_body(body, "t", True, "max_completion_tokens"))
    assert sent[named] == 300
    assert len({"max_tokens", "max_completion_tokens"} & set(sent)) == 1
    assert sent["stream_options"] == {"include_usage": True}
