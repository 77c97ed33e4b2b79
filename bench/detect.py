"""Benchmark: what the detectors cost per KB of text, before and after RE2, and what the
gateway's guardrails add to a chat request.

Prints, first, each detector's CPU cost per KB now and at ``--speed-base`` (the
detectors before the one-Set search for short texts and the segment offset map; loaded from
git as a package of their own and measured interleaved with today's, in the same minutes,
with the load average), per text kind, beside the 30 µs/KB target. Those texts repeat one
passage, which RE2's automata have cached after the first read; so next (0b) the cost on
text they have not read before, the corpus's own texts shuffled and joined into 2 KB and
16 KB pieces, now and at ``--fresh-base`` (before the large unions were searched in
slices). That is the cost of traffic, and it is far higher. Then four tables:

1. each detector's cost per KB (µs/KB, CPU time, best of several runs) on benign support
   tickets (ASCII and not), and on the worst of the hostile families of
   ``tests/guardrails/test_linear.py`` at 64 KB; the old detectors (``fleet/detect.py``
   before the package, read from git and run from a temporary module) on the same benign
   text and on the audit's inputs at 2 and 4 KB, where their quadratic growth shows;
2. the audit's three inputs at full size (64 KB) with the new detectors;
3. a 2 KB chat request through the llm_input guardrails (the benchmark policy, injection and
   secrets, and the full one with PII), before and after, in µs per request and µs per KB;
4. recall and false positives on the labelled corpus (``tests/guardrails/corpus``), the
   same table ``tests/guardrails/test_corpus.py`` checks, for the old detectors and new.

Target: scanning every field costs the hot path ≤ 30 µs per KB of text.
Run: ``.venv/bin/python bench/detect.py [--before REF] [--speed-base REF] [--fresh-base REF] [--quick]``.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleet.detect import DETECTORS, scan_injection, scan_pii, scan_secrets  # noqa: E402
from fleet.gwconfig import GwGuardrail  # noqa: E402
from gateway import guardrails  # noqa: E402
from tests.guardrails.scoring import load, score  # noqa: E402
from tests.guardrails.test_linear import UNITS  # noqa: E402

TARGET_US_PER_KB = 30.0
Detector = Callable[[str], list[Any]]


def cpu(fn: Callable[[], object], repeats: int) -> float:
    """Least CPU seconds of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def per_kb(detect: Detector, text: str, repeats: int) -> float:
    kb = len(text.encode("utf-8", "surrogatepass")) / 1024
    copies = iter([(" " + text)[1:] for _ in range(repeats + 1)])  # defeat the view cache
    detect(next(copies))
    return cpu(lambda: detect(next(copies)), repeats) * 1e6 / kb


def before_ref(arg: str | None) -> str:
    """The last commit with the single-module fleet/detect.py."""
    if arg:
        return arg
    deleted = subprocess.run(
        ["git", "log", "--diff-filter=D", "--format=%H", "-1", "--", "fleet/detect.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return f"{deleted}~1" if deleted else "HEAD"


def old_modules(ref: str) -> tuple[types.ModuleType, types.ModuleType] | None:
    """The detectors and guardrails as they were at ``ref``, as throwaway modules."""
    try:
        detect_src = subprocess.run(
            ["git", "show", f"{ref}:fleet/detect.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        guard_src = subprocess.run(
            ["git", "show", f"{ref}:gateway/guardrails.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError:
        return None
    detect = types.ModuleType("old_detect")
    sys.modules["old_detect"] = detect  # dataclasses look their module up
    exec(compile(detect_src, "old:fleet/detect.py", "exec"), detect.__dict__)
    guard = types.ModuleType("old_guardrails")
    sys.modules["old_guardrails"] = guard
    exec(
        compile(
            guard_src.replace("from fleet.detect import", "from old_detect import"),
            "old:gateway/guardrails.py",
            "exec",
        ),
        guard.__dict__,
    )
    return detect, guard


def benign_text(size: int) -> str:
    tickets = [str(c["text"]) for c in load() if not c["expect"] and str(c["text"]).isascii()]
    text = "\n".join(tickets)
    return (text * (size // len(text) + 1))[:size]


def dense_tickets(size: int) -> str:
    """The corpus's benign tickets that hold the injection detector's trigger words (the
    hardest benign text for it: every cue anchor starts a look)."""
    words = ("ignore", "forget", "disregard", "override", "instructions", "rules", "prompt",
             "assistant", "system", "token", "password", "mode", "approve", "delete")  # fmt: skip
    tickets = [
        str(c["text"])
        for c in load()
        if not c["expect"] and any(w in str(c["text"]).lower() for w in words)
    ]
    text = "\n".join(tickets)
    return (text * (size // len(text) + 1))[:size]


def scan_all(text: str) -> list[Any]:
    """The three detectors on one text, as a policy with all three runs them."""
    return [*scan_secrets(text), *scan_pii(text), *scan_injection(text)]


def foreign_text(size: int) -> str:
    text = (
        "Bonjour, ma commande n°48213 n'est jamais arrivée ; pouvez-vous vérifier l'adresse ? "
        "Guten Tag, die Rechnung für März fehlt noch, bitte prüfen Sie das Kundenkonto. "
        "Hola, el pedido llegó dañado y necesito un reembolso, gracias. "
        "您好，我的订单还没有到，请帮我查一下物流信息。谢谢！ "
    )
    return (text * (size // len(text) + 1))[:size]


def chat_request(size: int) -> dict[str, Any]:
    """A typical chat completion request with about ``size`` bytes of text."""
    lines = benign_text(size).splitlines()[:-1]  # whole tickets, one a line
    third = len(lines) // 3
    parts = [
        "\n".join(lines[:third]),
        "\n".join(lines[third : 2 * third]),
        "\n".join(lines[2 * third :]),
    ]
    return {
        "model": "main",
        "messages": [
            {
                "role": "system",
                "content": "You triage support tickets. Label each one and reply politely.",
            },
            {"role": "user", "content": parts[0]},
            {"role": "assistant", "content": parts[1]},
            {"role": "user", "content": parts[2]},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "label_ticket",
                    "description": "Attach a label to a ticket.",
                    "parameters": {
                        "type": "object",
                        "properties": {"ticket": {"type": "string"}, "label": {"type": "string"}},
                        "required": ["ticket", "label"],
                    },
                },
            }
        ],
    }


PROSE = (
    "Our nightly build started failing on Tuesday after the dependency update. The test suite "
    "runs for about twelve minutes and then the integration step times out while waiting for the "
    "database container to become healthy. I looked at the logs and the container starts, but the "
    "health check never passes because the port mapping changed in the new compose file. Could you "
    "look at the pipeline configuration and suggest a fix? We would also like to understand why the "
    "retry logic did not kick in, since the step is supposed to retry twice before giving up. "
    "Thanks a lot for the quick help last week, the cache change made the builds much faster. "
)
ANSWER = (
    "The health check fails because the service now listens on the container's internal port while "
    "the check still probes the old published port. Update the check to use the service name and the "
    "internal port, or publish the port again in the compose file. The retry did not run because the "
    "step exits with a timeout, which the pipeline treats as a cancellation rather than a failure; "
    "mark timeouts as retryable in the step options. After that, rerun the job and compare the timing "
    "of the integration step with the previous green build. "
)


def prose_request() -> dict[str, Any]:
    """A chat request of plain prose, about 2 KB: a question, an answer, a follow-up."""
    return {
        "model": "main",
        "messages": [
            {"role": "system", "content": "You help engineers fix their CI pipelines."},
            {"role": "user", "content": PROSE * 2},
            {"role": "assistant", "content": ANSWER},
            {"role": "user", "content": "That worked. " + PROSE[:400]},
        ],
    }


TINY = {
    "model": "main",
    "messages": [{"role": "user", "content": "Summarise the failing build in one line."}],
    "max_tokens": 10,
}


def request_cost(
    apply: Callable[[dict[str, Any]], object], body: dict[str, Any], repeats: int
) -> float:
    """Least CPU µs of ``apply`` on fresh copies of ``body`` (redaction edits in place)."""
    bodies = iter([copy.deepcopy(body) for _ in range(repeats + 1)])
    apply(next(bodies))
    return cpu(lambda: apply(next(bodies)), repeats) * 1e6


SPEED_BASE = "e4b2e0a"  # the detectors before the Set search and the segment offset map


def package_at(ref: str) -> types.ModuleType | None:
    """``fleet/detect`` as it was at ``ref``, imported as a package of its own."""
    listing = subprocess.run(
        ["git", "ls-tree", "--name-only", ref, "fleet/detect/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if listing.returncode:
        return None
    home = Path(tempfile.mkdtemp(prefix="detect-base-")) / "detect_base"
    home.mkdir()
    for name in listing.stdout.split():
        source = subprocess.run(
            ["git", "show", f"{ref}:{name}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        (home / Path(name).name).write_text(source)
    sys.path.insert(0, str(home.parent))
    return importlib.import_module("detect_base")


def speed_table(ref: str, repeats: int) -> None:
    """0. µs/KB per detector and text kind, at ``ref`` and now, interleaved."""
    base = package_at(ref)
    if base is None:
        print(f"0. (no fleet/detect at {ref}: skipped)")
        return
    kinds = {
        "prose": (PROSE * (16384 // len(PROSE) + 1))[:16384],
        "tickets": benign_text(16384),
        "dense tickets": dense_tickets(16384),
        "non-ASCII": foreign_text(16384),
    }
    load = os.getloadavg()
    print(f"0. cost per KB, before ({ref}) and now, interleaved (µs/KB, CPU, best of {repeats})")
    print(
        f"   load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; target ≤ {TARGET_US_PER_KB:.0f} µs/KB"
    )
    print(f"{'text kind':14} {'detector':17} {'before':>8} {'now':>8} {'change':>7}  target")
    for kind, text in kinds.items():
        kb = len(text.encode("utf-8")) / 1024
        for name in DETECTORS:
            fns = (base.DETECTORS[name], DETECTORS[name])
            best = [float("inf"), float("inf")]
            for fn in fns:
                fn((" " + text)[1:])
            for _ in range(repeats):
                for side, fn in enumerate(fns):
                    fresh = (" " + text)[1:]  # defeat the view cache
                    started = time.process_time()
                    fn(fresh)
                    best[side] = min(best[side], time.process_time() - started)
            was, now = (b * 1e6 / kb for b in best)
            verdict = "ok" if now <= TARGET_US_PER_KB else "MISSED"
            print(f"{kind:14} {name:17} {was:8.1f} {now:8.1f} {now / was - 1:+7.0%}  {verdict}")
    tiny = TINY["messages"][0]["content"]
    n = 2000
    best = [float("inf"), float("inf")]
    for _ in range(5):
        for side, scan in enumerate((base.DETECTORS, DETECTORS)):
            started = time.process_time()
            for _ in range(n):
                text = (" " + tiny)[1:]
                scan["prompt-injection"](text)
                scan["secrets"](text)
            best[side] = min(best[side], time.process_time() - started)
    was, now = (b * 1e6 / n for b in best)
    print(
        f"{'one-line chat':14} {'injection+secrets':17} {was:8.1f} {now:8.1f} {now / was - 1:+7.0%}  µs per text"
    )
    print(f"   load after: {os.getloadavg()[0]:.2f}\n")


# The detectors before the large unions were searched in slices and the shared Set went.
FRESH_BASE = "3751ce9"


def unread_texts(seed: int = 20261202) -> tuple[list[str], dict[str, list[str]]]:
    """Texts RE2 has not read before: the corpus's texts in a fixed random order, joined
    into 2 KB and 16 KB texts; the first half to warm the automata's caches with, the
    rest (in each size) to measure on."""
    texts = [str(c["text"]) for c in load()]
    random.Random(seed).shuffle(texts)
    half = len(texts) // 2

    def joined(part: list[str], size: int) -> list[str]:
        out, cur, n = [], [], 0
        for t in part:
            cur.append(t)
            n += len(t) + 2
            if n >= size:
                out.append("\n\n".join(cur))
                cur, n = [], 0
        return out

    warm = joined(texts[:half], 2048)
    return warm, {"2 KB": joined(texts[half:], 2048), "16 KB": joined(texts[half:], 16384)}


def fresh_table(ref: str) -> None:
    """0b. µs/KB per detector on texts never read before, at ``ref`` and now."""
    base = package_at(ref)
    warm, measured = unread_texts()
    sides = {"now": DETECTORS}
    if base is not None:
        sides = {"before": base.DETECTORS, **sides}
    print(f"0b. cost per KB of text RE2 has not read before (µs/KB, CPU; before = {ref})")
    print("   the corpus's texts shuffled and joined; each side warmed on the other half first")
    for detectors in sides.values():
        for fn in detectors.values():
            for text in warm:
                fn(text)
    print(f"{'texts':8} {'detector':17} " + " ".join(f"{k:>8}" for k in sides) + "  target")
    for size, texts in measured.items():
        kb = sum(len(t.encode("utf-8")) for t in texts) / 1024
        for name in DETECTORS:
            cost = {}
            for side, detectors in sides.items():
                started = time.process_time()
                for text in texts:
                    detectors[name]((" " + text)[1:])
                cost[side] = (time.process_time() - started) * 1e6 / kb
            verdict = "ok" if cost["now"] <= TARGET_US_PER_KB else "MISSED"
            print(
                f"{size:8} {name:17} "
                + " ".join(f"{v:8.0f}" for v in cost.values())
                + f"  {verdict}"
            )
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--before", help="git ref of the old detectors (default: before the package)"
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument(
        "--speed-base", default=SPEED_BASE, help="git ref of the detectors to compare speed with"
    )
    parser.add_argument(
        "--fresh-base",
        default=FRESH_BASE,
        help="git ref of the detectors to compare unread-text cost with",
    )
    args = parser.parse_args()
    repeats = 5 if args.quick else 15
    speed_table(args.speed_base, repeats * 2)
    fresh_table(args.fresh_base)
    ref = before_ref(args.before)
    old = old_modules(ref)
    old_detectors: dict[str, Detector] = old[0].DETECTORS if old else {}

    benign, foreign = benign_text(16384), foreign_text(16384)
    print(f"1. cost per KB (µs/KB, CPU; old = {ref})")
    print(
        f"{'detector':18} {'benign':>8} {'non-ASCII':>10} {'worst hostile 64K':>26} "
        f"{'old benign':>11} {'old audit 2K→4K':>17}"
    )
    audit = {"secrets": ("a-", "token"), "pii": ("a.", ""), "prompt-injection": ("\n", "")}
    dense = dense_tickets(16384)
    print(f"{'':18} {'(tickets)':>8} {'(foreign)':>10}   dense tickets, trigger words")
    for name, detect in {**DETECTORS, "all three": scan_all}.items():
        worst = max(
            (
                (per_kb(detect, (unit * (65536 // len(unit) + 1))[:65536], 3), label)
                for label, unit in UNITS.items()
            ),
        )
        row = f"{name:18} {per_kb(detect, benign, repeats):8.1f} {per_kb(detect, foreign, repeats):10.1f} {worst[0]:9.1f} ({worst[1][:14]:>14}) dense {per_kb(detect, dense, repeats):5.1f}"
        if name in old_detectors:
            unit, tail = audit[name]
            o = old_detectors[name]
            small, big = (unit * 1024)[:2048] + tail, (unit * 2048)[:4096] + tail
            row += f" {per_kb(o, benign, max(3, repeats // 3)):11.1f} {per_kb(o, small, 1):8.0f}→{per_kb(o, big, 1):.0f}"
        print(row)

    print("\n2. the audit's inputs at 64 KB (ms, new)")
    for name, text in (
        ("scan_secrets('a-'*32000+'token')", "a-" * 32000 + "token"),
        ("scan_injection('\\n'*32000)", "\n" * 32000),
        ("scan_pii('a.'*32000)", "a." * 32000),
    ):
        fn = {
            "secrets": DETECTORS["secrets"],
            "injection": DETECTORS["prompt-injection"],
            "pii": DETECTORS["pii"],
        }[name.split("(")[0].split("_")[1]]
        print(f"  {name:36} {cpu(lambda fn=fn, text=text: fn(text), 3) * 1000:8.2f} ms")

    print("\n3. chat requests through the llm_input guardrails (µs per request; µs per KB)")
    print(
        f"{'request / policy':46} {'new':>8} {'new/KB':>7} {'old':>8} {'old/KB':>7}"
        f"  target ≤ {TARGET_US_PER_KB:.0f} µs/KB"
    )
    policies = {
        "injection + secrets": [
            GwGuardrail(detector="prompt-injection"),
            GwGuardrail(detector="secrets"),
        ],
        "+ pii": [
            GwGuardrail(detector="prompt-injection"),
            GwGuardrail(detector="secrets"),
            GwGuardrail(detector="pii", action="redact"),
        ],
    }
    requests = {
        "2 KB of prose": prose_request(),
        "2 KB of tickets (hashes, ids, links), a tool": chat_request(2300),
        "the gateway bench's one line": TINY,
    }
    for req_label, body in requests.items():
        kb = sum(len(t.encode()) for t in guardrails.request_texts(body)) / 1024
        for label, rules in policies.items():
            new = request_cost(
                lambda b, rules=rules: guardrails.apply_to_request(b, "llm_input", rules),
                body,
                repeats * 20,
            )
            line = f"{req_label + ', ' + label:46} {new:8.1f} {new / kb:7.1f}"
            if old:
                was = request_cost(
                    lambda b, rules=rules, apply=old[1].apply_to_messages: apply(
                        b["messages"], "llm_input", rules
                    ),
                    body,
                    repeats * 4,
                )
                line += f" {was:8.1f} {was / kb:7.1f}"
            verdict = "ok" if new / kb <= TARGET_US_PER_KB or kb < 0.25 else "MISSED"
            print(f"{line}  {verdict}")
        print(
            f"  ({kb:.2f} KB of text in {len(guardrails.request_texts(body))} fields; old scanned message content only)"
        )

    print("\n4. labelled corpus: recall and false positives on benign tickets")
    cases = load()
    new_scores = score(cases)
    old_scores = score(cases, old_detectors) if old_detectors else {}
    print(f"{'detector':18} {'recall':>16} {'FP on benign':>16} {'old recall':>12} {'old FP':>8}")
    for name, s in new_scores.items():
        line = f"{name:18} {s.recall:7.1%} {s.found:3}/{s.expected:<4} {s.fp_rate:7.1%} {s.false_alarms:3}/{s.benign:<4}"
        if name in old_scores:
            o = old_scores[name]
            line += f" {o.recall:12.1%} {o.fp_rate:8.1%}"
        print(line)
    counts = {k: sum(k in c["expect"] for c in cases) for k in new_scores}  # type: ignore[operator]
    print(
        f"  ({len(cases)} texts: {json.dumps(counts)}, {sum(not c['expect'] for c in cases)} benign)"
    )

    by_source()


# Each fresh probe as first measured, before any detector change that read it (the commit
# that added it says so): the figures to expect on texts nobody tuned for. Injection
# recall, injection false positives, secrets recall, personal-data recall.
FIRST_MEASURED = {
    "probe-g9-1": ("8db6a47", "before the cues", 0.643, 0.000, 0.968, 0.968),
    "probe-g9-2": ("3030755", "after round 1", 0.704, 0.028, 0.977, 0.956),
    "probe-g9-3": ("a225654", "after round 2", 0.752, 0.019, 0.976, 0.925),
    "probe-g9-4": ("42426e2", "after round 3", 0.804, 0.040, 0.976, 0.950),
    "probe-g9-5": ("4aa67ee", "after round 4", 0.843, 0.020, 1.000, 1.000),
    "probe-g9-6": ("b581aff", "after round 5", 0.765, 0.000, 1.000, 1.000),
    "probe-g12-1": ("ea24baf", "after round 6", 0.629, 0.000, 0.976, 0.952),
    "probe-g12-2": ("1d049c9", "after round 7", 0.588, 0.010, 0.929, 0.833),
    "probe-g13-1": ("4e5276a", "after round 8", 0.558, 0.018, 0.979, 0.867),
    "probe-g13-2": ("4e5276a", "after round 8", 0.670, 0.017, 1.000, 0.844),
    "probe-g13-3": ("4e5276a", "after round 8", 0.836, 0.061, 0.979, 0.809),
    "probe-g14-4": ("f42c36d", "after round 9", 0.536, 0.055, 0.956, 1.000),
    "probe-g14-3": ("f42c36d", "after round 9", 0.482, 0.018, 0.911, 0.978),
    "probe-g14-5": ("c061934", "after round 10", 0.627, 0.045, 0.956, 0.978),
    "probe-g14-6": ("c061934", "after round 10", 0.591, 0.018, 0.911, 1.000),
    "probe-g15-1": ("09d8b43", "after round 11", 0.618, 0.045, 0.933, 0.978),
    "probe-g15-2": ("09d8b43", "after round 11", 0.618, 0.018, 0.978, 1.000),
    "probe-g23-1": ("e8c29fa", "after the g22 round", 0.770, 0.092, 0.960, 1.000),
    "probe-g23-2": ("e8c29fa", "after the g22 round", 0.760, 0.108, 0.980, 1.000),
    "probe-g24-1": ("fec9a0a", "after the g23 round", 0.810, 0.025, 0.960, 1.000),
    "probe-g24-2": ("fec9a0a", "after the g23 round", 0.790, 0.083, 0.980, 1.000),
    "probe-g29-1": ("81885ed", "after the g28 round", 0.860, 0.058, 0.980, 1.000),
    "probe-g30-1": ("a60c6f6", "after the g29 round", 0.840, 0.083, 1.000, 1.000),
    "probe-g31-1": ("e393566", "after the g30 round", 0.800, 0.075, 0.980, 1.000),
}


def by_source() -> None:
    """5. the corpus per source: each fresh probe now, beside its first, untuned figure."""
    print("\n5. per source: recall / false positives now (and when first measured, untuned)")
    cases = load()
    sources = sorted({str(c.get("source", "original")) for c in cases})
    print(
        f"{'source':14} {'texts':>5} {'injection':>10} {'inj FP':>7} {'secrets':>8} {'pii':>7}   first measured"
    )
    for source in sources:
        part = [c for c in cases if str(c.get("source", "original")) == source]
        sc = score(part)
        inj, sec, pii = sc["prompt-injection"], sc["secrets"], sc["pii"]
        line = f"{source:14} {len(part):5} {inj.recall:10.1%} {inj.fp_rate:7.1%} {sec.recall:8.1%} {pii.recall:7.1%}"
        if source in FIRST_MEASURED:
            ref, when, r, fp, rs, rp = FIRST_MEASURED[source]
            line += f"   {r:.1%} / {fp:.1%} / {rs:.1%} / {rp:.1%} ({when}, {ref})"
        print(line)


if __name__ == "__main__":
    main()
