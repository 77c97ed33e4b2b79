"""The ``Healthy`` condition from one loop's answer: what is written, and when nothing is
(the same finding whose figures only aged, a loop the gateway could not read); and the
gateway's side, the worst finding's reason of each loop."""

from __future__ import annotations

from fleet.doctor import Finding
from fleet.resources import agent_of
from fleet_operator.conditions import merge_status
from fleet_operator.health import MAX_MESSAGE, healthy_condition, with_condition
from gateway.healthcheck import reason_of, verdicts
from tests.fleet_operator.test_render import LOOPS

READY = {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "ok"}


def test_a_finding_is_written_once_and_not_again_as_its_figures_age() -> None:
    waiting = {"healthy": False, "reason": "ApprovalWaiting", "message": "waited 25.0 h"}
    cond = healthy_condition(waiting, 3)
    assert cond == {
        "type": "Healthy",
        "status": "False",
        "reason": "ApprovalWaiting",
        "message": "waited 25.0 h",
        "observedGeneration": 3,
    }
    written = with_condition([READY], cond)
    assert written is not None and written[0] == READY and written[1]["lastTransitionTime"]
    aged = healthy_condition({**waiting, "message": "waited 31.5 h"}, 3)
    assert aged is not None and with_condition(written, aged) is None
    other = healthy_condition({**waiting, "reason": "SpendJump", "message": "2.1x"}, 3)
    assert other is not None
    moved = with_condition(written, other)
    # Same status: the transition time stays; another reason is written.
    assert moved is not None and moved[1]["reason"] == "SpendJump"
    assert moved[1]["lastTransitionTime"] == written[1]["lastTransitionTime"]


def test_an_unread_loop_gets_no_condition_and_a_long_message_is_cut() -> None:
    assert healthy_condition({"healthy": None, "reason": "InvalidSpec"}, 1) is None
    long = healthy_condition({"healthy": False, "reason": "X", "message": "m" * 5000}, 1)
    assert long is not None and len(long["message"]) == MAX_MESSAGE


def test_a_reconcile_keeps_the_healthy_condition() -> None:
    healthy = {**READY, "type": "Healthy", "reason": "NoFindings", "lastTransitionTime": "t"}
    old = {"conditions": [{**READY, "lastTransitionTime": "t"}, healthy]}
    assert merge_status(old, {"conditions": [READY]}) is None  # nothing to write
    patch = merge_status(old, {"conditions": [{**READY, "message": "changed"}]})
    assert patch is not None and healthy in patch["conditions"]


def test_each_loop_answers_with_its_worst_finding() -> None:
    name = "bug-report-triage"
    agent = agent_of(name, LOOPS[name]["spec"])
    other = agent_of("cost-report", LOOPS["cost-report"]["spec"])
    found = [
        Finding(name, "o", "no-useful-outcome", "error", "the last 5 runs…", "pin"),
        Finding(name, "o", "spend-jump", "warning", "2.0x", "look"),
    ]
    answer = verdicts([agent, other], found, {"ghost": "loops.ghost.spec: bad"}, 14)
    assert answer[name]["healthy"] is False and answer[name]["reason"] == "NoUsefulOutcome"
    assert answer[name]["message"].endswith("; also spend-jump")
    assert [f["check"] for f in answer[name]["findings"]] == ["no-useful-outcome", "spend-jump"]
    assert answer["cost-report"] == {
        "healthy": True,
        "reason": "NoFindings",
        "message": "no finding in the last 14 days of records",
        "findings": [],
    }
    assert answer["ghost"]["healthy"] is None and answer["ghost"]["reason"] == "InvalidSpec"
    assert reason_of("deprecated-model") == "DeprecatedModel"
    assert reason_of("some-new-check") == "SomeNewCheck"
