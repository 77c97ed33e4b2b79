"""The harness's errors.

    HarnessError            anything that stops the harness before a run can end
    ├── UsageError          the pod gave it something it cannot run (exit 2)
    └── GatewayLost         the gateway did not answer within the retry bound (exit 1:
                            run it again and it resumes; nothing is lost)

Outcomes of a run (done, max_steps, …) are not errors: they are data, see
:mod:`fleet.runtime.outcomes`.
"""

from __future__ import annotations


class HarnessError(Exception):
    exit_code = 2


class UsageError(HarnessError):
    exit_code = 2


class GatewayLost(HarnessError):
    exit_code = 1


class Nondeterminism(HarnessError):
    """The journal holds a different step than the harness reached while replaying it."""

    exit_code = 2
