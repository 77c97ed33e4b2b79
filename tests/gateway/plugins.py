"""A custom guardrail detector, loaded by the gateway from ``tests.gateway.plugins:ticket_ids``."""

from __future__ import annotations

import re

from fleet.detect import Finding, mask

_TICKET = re.compile(r"\bINC-\d{6}\b")


def ticket_ids(text: str) -> list[Finding]:
    return [
        Finding("tickets", "incident-id", m.start(), m.end(), mask(m.group()))
        for m in _TICKET.finditer(text)
    ]
