"""Lint rules: the cross-field and cross-file checks that make fleet failures impossible.

Each rule has a stable ID, a name, a severity and a one-line doc
(``fleetctl rules`` lists them). A rule is a function of a loaded fleet (or of
one parsed document) that yields located diagnostics; rules never raise for
user data. Importing this package registers every rule module.
"""

from fleet.rules import (
    catalog,
    credentials,
    evals,
    identity,
    limits,
    pins,
    promotion,
    schedule,
    separator,
)
from fleet.rules.base import (
    DOCUMENT_RULES,
    RULES,
    TOOL_CLASSES,
    Context,
    DocumentRule,
    Rule,
    granted_destructive,
    is_destructive,
    run_document_rules,
    run_rules,
    tool_class,
)
from fleet.rules.schedule import cron_problem, zone_problem

__all__ = [
    "DOCUMENT_RULES",
    "RULES",
    "TOOL_CLASSES",
    "Context",
    "DocumentRule",
    "Rule",
    "catalog",
    "credentials",
    "cron_problem",
    "evals",
    "granted_destructive",
    "identity",
    "is_destructive",
    "limits",
    "pins",
    "promotion",
    "run_document_rules",
    "run_rules",
    "schedule",
    "separator",
    "tool_class",
    "zone_problem",
]
