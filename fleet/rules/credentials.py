"""No credentials in definitions: scanned in every parsed file, even one that fails the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fleet.errors import Diagnostic, Severity
from fleet.rules.base import (
    at,
    document_rule,
)
from fleet.yamlsrc import Path, SourceMap


def _walk(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any, str | None]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, (*path, key))
            if isinstance(key, str):
                yield (*path, key), key, "key"
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _walk(value, (*path, i))
    elif isinstance(data, str):
        last = path[-1] if path else None
        yield path, data, last if isinstance(last, str) else None


@document_rule(
    "FL141",
    "credential-in-definition",
    Severity.ERROR,
    "Something in a definition looks like a credential.",
)
def credentials(smap: SourceMap, raw: Any) -> Iterator[Diagnostic]:
    from fleet import detect

    for path, value, field in _walk(raw):
        if field == "key":
            continue
        findings = detect.scan_secrets(value)
        if findings:
            f = findings[0]
            yield at(
                smap,
                path,
                f"looks like a credential ({f.kind}): {f.masked}",
                "never put keys in a definition: reference a Kubernetes Secret by name (credentials: {secret: NAME})",
            )
        elif (
            field is not None
            and detect.is_credential_like_key(field)
            and detect.high_entropy(value)
        ):
            yield at(
                smap,
                path,
                f"high-entropy value under '{field}': {detect.mask(value)}",
                "reference a Kubernetes Secret by name instead of writing the value",
            )
