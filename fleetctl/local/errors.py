"""Errors of ``fleetctl run`` and its local pieces (home, replay, embedded gateway).

Exception tree::

    LocalError              root: something the user can fix, printed as one line
     └── TranscriptError    a replay transcript with located mistakes (``.diagnostics``)

Nothing here reaches the user as a traceback: the command prints the message
(every diagnostic, one per line) and exits 2.
"""

from __future__ import annotations

from collections.abc import Sequence

from fleet.errors import Diagnostic, sort_diagnostics


class LocalError(Exception):
    """Root of the errors ``fleetctl.local`` raises on purpose."""

    def __init__(self, message: str, hint: str = ""):
        self.message = message
        self.hint = hint
        super().__init__(message + (f" ({hint})" if hint else ""))


class TranscriptError(LocalError):
    """A replay transcript that cannot be played; carries every located mistake."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = sort_diagnostics(diagnostics)
        first = self.diagnostics[0].format() if self.diagnostics else "invalid transcript"
        more = len(self.diagnostics) - 1
        super().__init__(first + (f" (and {more} more)" if more > 0 else ""))

    def lines(self) -> list[str]:
        return [d.format() for d in self.diagnostics]
