"""``fleetctl rules``: every lint rule with its stable ID, severity and one-line doc."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("rules")(list_rules)


def list_rules(output: str = typer.Option("text", "--output", "-o", help="text or json.")) -> None:
    """List the lint rules that validate applies."""
    import orjson

    from fleet.resolve import RESOLVE_RULES
    from fleet.rules import DOCUMENT_RULES, RULES
    from fleet.rules.base import DocumentRule, Rule

    every: list[Rule | DocumentRule] = [*RULES, *DOCUMENT_RULES]
    rows = [(r.id, r.name, r.severity.value, r.doc) for r in every] + [
        (i, n, s.value, d) for i, n, s, d in RESOLVE_RULES
    ]
    rows.sort()
    if output == "json":
        typer.echo(
            orjson.dumps(
                [{"id": i, "name": n, "severity": s, "doc": d} for i, n, s, d in rows],
                option=orjson.OPT_INDENT_2,
            ).decode()
        )
        return
    width = max(len(n) for _, n, _, _ in rows)
    for rule_id, name, severity, doc in rows:
        typer.echo(f"{rule_id}  {name:<{width}}  {severity:<7}  {doc}")
