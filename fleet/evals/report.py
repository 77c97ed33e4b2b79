"""An eval's results as data, and the three ways it is written: JSON, JUnit XML and a table.

The report is the one thing every consumer reads: ``fleetctl eval -o json``
writes it, ``--save-baseline`` keeps it, the promotion gate returns it. Its
verdict compares the evaluated pins with a baseline (the loop's current
production pins, on the same cases): a **regression** is a case that passes
on the baseline and does not pass (fails or errors) on the evaluated pins; a
**new pass** is the reverse. With no baseline, every case that does not pass
is a finding.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from fleet.evals.check import CaseResult

REPORT_VERSION = 1


def totals(results: Sequence[CaseResult]) -> dict[str, Any]:
    return {
        "cases": len(results),
        "passed": sum(1 for r in results if r.status == "pass"),
        "failed": sum(1 for r in results if r.status == "fail"),
        "errors": sum(1 for r in results if r.status == "error"),
        "steps": sum(r.observation.steps for r in results),
        "cost_usd": round(sum(r.observation.cost_usd for r in results), 6),
    }


def pin_set(
    label: str, loop: str, pins: Mapping[str, Any], results: Sequence[CaseResult]
) -> dict[str, Any]:
    """One evaluated set of pins: which loop's pins they are, and its results."""
    return {
        "label": label,
        "loop": loop,
        "pins": dict(pins),
        "results": [r.to_json() for r in results],
        "totals": totals(results),
    }


def build_report(
    *,
    loop: str,
    evaluated: dict[str, Any],
    baseline: dict[str, Any] | None,
    baseline_source: str | None,
    replay: str | None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The report of an eval of ``evaluated`` (a :func:`pin_set`) against ``baseline``."""
    now = {r["case"]: r["status"] for r in evaluated["results"]}
    regressions: list[str] = []
    new_passes: list[str] = []
    if baseline is not None:
        before = {r["case"]: r["status"] for r in baseline["results"]}
        regressions = sorted(c for c, s in now.items() if before.get(c) == "pass" and s != "pass")
        new_passes = sorted(
            c for c, s in now.items() if s == "pass" and before.get(c) not in (None, "pass")
        )
        passed = not regressions
    else:
        passed = all(s == "pass" for s in now.values())
    return {
        "version": REPORT_VERSION,
        "loop": loop,
        "replay": replay,
        "evaluated": evaluated,
        "baseline": None if baseline is None else {**baseline, "source": baseline_source},
        "regressions": regressions,
        "new_passes": new_passes,
        "totals": evaluated["totals"],
        "passed": passed,
        "notes": list(notes),
    }


def baseline_from_report(data: Any) -> dict[str, Any] | None:
    """The pin set a saved report holds as its baseline (its evaluated one), or None if it is not one."""
    if not isinstance(data, dict) or data.get("version") != REPORT_VERSION:
        return None
    ev = data.get("evaluated")
    if not isinstance(ev, dict) or not isinstance(ev.get("results"), list):
        return None
    if not all(isinstance(r, dict) and isinstance(r.get("case"), str) for r in ev["results"]):
        return None
    return ev


def junit_xml(report: Mapping[str, Any]) -> str:
    """JUnit XML: one suite per evaluated pin set, one test case per eval case."""
    root = ET.Element("testsuites", name=f"fleetctl eval {report['loop']}")
    sets = [report["evaluated"]]
    if report.get("baseline") and report["baseline"].get("source") == "same run":
        sets.append(report["baseline"])
    for ps in sets:
        t = ps["totals"]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"{report['loop']} [{ps['label']}: {ps['loop']}]",
            tests=str(t["cases"]),
            failures=str(t["failed"]),
            errors=str(t["errors"]),
            time=f"{sum(r['seconds'] for r in ps['results']):.3f}",
        )
        if report.get("replay"):
            props = ET.SubElement(suite, "properties")
            ET.SubElement(props, "property", name="replay", value=str(report["replay"]))
        for r in ps["results"]:
            tc = ET.SubElement(
                suite,
                "testcase",
                classname=f"evals.{report['loop']}.{ps['label']}",
                name=r["case"],
                time=f"{r['seconds']:.3f}",
            )
            if r["status"] != "pass":
                tag = "failure" if r["status"] == "fail" else "error"
                el = ET.SubElement(tc, tag, message=(r["reasons"] or [r["status"]])[0][:500])
                el.text = "\n".join(r["reasons"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _pins(pins: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k} {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in pins.items()
    )


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(report: Mapping[str, Any]) -> str:
    """The text table ``fleetctl eval`` prints: a row per case, the totals and the verdict."""
    ev = report["evaluated"]
    base = report.get("baseline")
    before = {r["case"]: r["status"] for r in base["results"]} if base else {}
    lines = []
    if report.get("replay"):
        lines.append(f"replayed: {report['replay']}")
    lines.append(f"{ev['label']}: {ev['loop']} ({_pins(ev['pins'])})")
    if base:
        lines.append(f"baseline ({base['source']}): {base['loop']} ({_pins(base['pins'])})")
    rows = (
        [("case", "baseline", ev["label"], "steps", "cost $", "why")]
        if base
        else [("case", ev["label"], "steps", "cost $", "why")]
    )
    regressed = set(report["regressions"])
    for r in ev["results"]:
        why = _fit(r["reasons"][0], 90) if r["reasons"] else ""
        mark = r["status"] + (" REGRESSED" if r["case"] in regressed else "")
        cells = [r["case"], mark, str(r["steps"]), f"{r['cost_usd']:.4f}", why]
        if base:
            cells.insert(1, before.get(r["case"], "-"))
        rows.append(tuple(cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        lines.append(
            (
                "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False))
                + "  "
                + row[-1]
            ).rstrip()
        )
    t = ev["totals"]
    lines.append(
        f"{t['cases']} cases: {t['passed']} passed, {t['failed']} failed, {t['errors']} errors"
        f" · {t['steps']} steps · ${t['cost_usd']:.4f}"
    )
    for note in report.get("notes") or []:
        lines.append(f"note: {note}")
    if base:
        if report["regressions"]:
            lines.append(
                f"REGRESSION: {len(report['regressions'])} case(s) pass on the baseline and not on {ev['label']}: {', '.join(report['regressions'])}"
            )
        else:
            lines.append("no regression against the baseline")
        if report["new_passes"]:
            lines.append(f"new passes: {', '.join(report['new_passes'])}")
    return "\n".join(lines) + "\n"
