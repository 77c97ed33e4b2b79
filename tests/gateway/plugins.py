"""A custom guardrail detector, loaded by the gateway from ``tests.gateway.plugins:ticket_ids``."""

from __future__ import annotations

import re
import threading

from fleet.detect import Finding, mask

_TICKET = re.compile(r"\bINC-\d{6}\b")


def ticket_ids(text: str) -> list[Finding]:
    return [
        Finding("tickets", "incident-id", m.start(), m.end(), mask(m.group()))
        for m in _TICKET.finditer(text)
    ]


# ``held`` sets the first when it starts reading; a test sets the second once the gateway
# has answered something else meanwhile.
READING = threading.Event()
ANSWERED_MEANWHILE = threading.Event()


def held(text: str) -> list[Finding]:
    """Reads nothing until the test says the gateway answered meanwhile (or 5 s pass): on
    the event loop, it would hold that answer, and find ``held-up``."""
    READING.set()
    if ANSWERED_MEANWHILE.wait(5):
        return []
    return [Finding("held", "held-up", 0, 1, "x")]
