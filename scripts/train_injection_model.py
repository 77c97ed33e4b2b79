#!/usr/bin/env python
"""Train the learned prompt-injection scorer (``fleet/detect/model.py``) on the labelled
corpus and write its weights to ``fleet/detect/injection_model.json``.

A text is positive when its ``expect`` holds "prompt-injection"; every other text (benign
tickets, secrets-only, personal-data-only) is negative, and so are the instructions of
``scripts/injection_negatives.jsonl`` (requests, task prompts and tool descriptions written
to a model on purpose, none of them the product's own). Each injection is also planted
once between two benign texts. The model is a logistic regression over the features of
:func:`fleet.detect.model.window_features` that are in at least ``--min_count`` texts,
trained by AdaGrad with L2 for a fixed number of epochs, the examples shuffled with a
fixed seed: the same corpus gives the same weights. A long positive text holds its order
somewhere: after the first epoch it is taught by its best-scoring window only
(multiple-instance learning); every window of a negative text stays negative.

``--cv``: leave-one-source-out cross-validation. Each source (``original`` for the texts
without one, each probe by its name) is held out in turn, the model trained on the others
only, and, per held-out source, recall and the false-positive rate on its benign texts are
printed for the rules alone, the model alone and the two together. The threshold written
with the weights is the lowest at which the rules and the model together raise false
positives on at most ``--max-fp`` of the benign texts over the whole cross-validation, and
at least ``MARGIN`` above the score of the product's own prompts and tool descriptions
(``tests/guardrails/test_product_texts.py``: a loop's own request must pass), which are
a check only, never trained on.

    .venv/bin/python scripts/train_injection_model.py --cv   # table, threshold, weights
    .venv/bin/python scripts/train_injection_model.py --threshold 1.5   # weights only
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import random
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleet.detect.injection import scan_injection  # noqa: E402
from fleet.detect.model import CHUNK, FLOOR, WEIGHTS, window_features  # noqa: E402
from fleet.detect.text import folded  # noqa: E402

CORPUS = ROOT / "tests" / "guardrails" / "corpus"
# Instructions a model is given on purpose (requests, task prompts, tool descriptions),
# none of them the product's own: the corpus's benign texts are mostly written to people,
# and a gateway reads these in every request.
NEGATIVES = ROOT / "scripts" / "injection_negatives.jsonl"
PARAMS = {
    "epochs": 8,
    "rate": 2.0,
    "l2": 1e-2,
    "seed": 20261202,
    "prune": 0.1,
    "planted": 1,
    "keep": 0,
    "min_count": 5,
}

Feature = object
Case = dict[str, object]


def load() -> tuple[list[Case], list[tuple[str, str]]]:
    """The corpus, then the extra negatives (source ``instructions``), with their files'
    digests."""
    cases: list[Case] = []
    files = []
    for path in [*sorted(CORPUS.glob("*.jsonl")), NEGATIVES]:
        raw = path.read_bytes()
        files.append((str(path.relative_to(ROOT)), hashlib.sha256(raw).hexdigest()))
        for line in raw.decode("utf-8").splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            expect = list(d["expect"])
            text = str(d["text"])
            cases.append(
                {
                    "text": text,
                    "source": str(d.get("source") or "original"),
                    "positive": "prompt-injection" in expect,
                    "benign": not expect and path != NEGATIVES,
                    "windows": window_features(folded(text).text),
                }
            )
    return cases, files


def _scale(feats: list[Feature]) -> float:
    return 1.0 / math.sqrt(max(len(feats), FLOOR))


def _score(w: dict[Feature, float], bias: float, feats: list[Feature]) -> float:
    get = w.get
    return bias + sum(get(f, 0.0) for f in feats) * _scale(feats)


def planted(cases: list[Case], rng: random.Random, copies: int) -> list[Case]:
    """Each injection of ``cases`` planted ``copies`` times between two benign texts of
    ``cases`` (drawn with ``rng``): an order inside a longer document, which the corpus
    holds few of, so that the words around an order do not outweigh it."""
    benign = [str(c["text"]) for c in cases if c["benign"]]
    out: list[Case] = []
    for case in cases:
        if not case["positive"] or not benign:
            continue
        for _ in range(copies):
            text = "\n".join((rng.choice(benign), str(case["text"]), rng.choice(benign)))
            windows = window_features(folded(text).text)
            out.append({**case, "text": text, "windows": windows})
    return out


def _fit(
    cases: list[Case],
    params: dict[str, float],
    allowed: set[Feature] | None,
    rng: random.Random,
) -> tuple[dict[Feature, float], float]:
    """AdaGrad on the logistic loss with L2; only the ``allowed`` features get a weight
    (the others still count in a window's number of features, as at run time)."""
    w: dict[Feature, float] = defaultdict(float)
    g2: dict[Feature, float] = defaultdict(float)
    bias, bias_g2 = 0.0, 0.0
    rate, l2 = params["rate"], params["l2"]
    for epoch in range(int(params["epochs"])):
        examples: list[tuple[list[Feature], int]] = []
        for case in cases:
            windows: list[list[Feature]] = case["windows"]  # type: ignore[assignment]
            if case["positive"]:
                if epoch == 0 or len(windows) == 1:
                    examples.extend((f, 1) for f in windows)
                else:
                    best = max(windows, key=lambda f: _score(w, bias, f))
                    examples.append((best, 1))
            else:
                examples.extend((f, 0) for f in windows)
        rng.shuffle(examples)
        for feats, y in examples:
            z = _score(w, bias, feats)
            p = 1.0 / (1.0 + math.exp(-z)) if z > -35 else 0.0
            g = p - y
            if g == 0.0:
                continue
            counts: dict[Feature, int] = defaultdict(int)
            for f in feats:
                if allowed is None or f in allowed:
                    counts[f] += 1
            scale = _scale(feats)
            for f, c in counts.items():
                grad = g * c * scale + l2 * w[f]
                g2[f] += grad * grad
                w[f] -= rate * grad / math.sqrt(g2[f])
            bias_g2 += g * g
            bias -= rate * g / math.sqrt(bias_g2)
    return w, bias


def train(cases: list[Case], params: dict[str, float]) -> tuple[dict[Feature, float], float]:
    """The weights and bias: a fit over every feature, and with ``keep``, a second over the
    ``keep`` features of largest weight in the first (a smaller table costs less, but
    10,000 of them lost a third of the model's recall in cross-validation: 0, all, is the
    default). Weights under ``prune`` are dropped and all rounded, as written, so that
    cross-validation measures the model as it ships."""
    rng = random.Random(int(params["seed"]))
    counts: dict[Feature, int] = defaultdict(int)  # texts each feature is in
    for case in cases:
        for f in {f for window in case["windows"] for f in window}:  # type: ignore[attr-defined]
            counts[f] += 1
    seen = {f for f, n in counts.items() if n >= params["min_count"]}
    cases = cases + planted(cases, rng, int(params["planted"]))
    w, bias = _fit(cases, params, seen, rng)
    keep = int(params["keep"])
    if keep and len(w) > keep:
        ranked = sorted(w.items(), key=lambda kv: (-abs(kv[1]), str(kv[0])))
        w, bias = _fit(cases, params, {f for f, _ in ranked[:keep]}, rng)
    prune = params["prune"]
    return {f: round(v, 3) for f, v in w.items() if abs(v) >= prune}, round(bias, 4)


def doc_score(w: dict[Feature, float], bias: float, case: Case) -> float:
    return max(_score(w, bias, f) for f in case["windows"])  # type: ignore[attr-defined]


def rules(cases: list[Case]) -> list[bool]:
    return [bool(scan_injection(str(c["text"]), learned=False)) for c in cases]


def cv(cases: list[Case], params: dict[str, float], max_fp: float) -> tuple[list[Held], float]:
    """Leave-one-source-out: each text's score by the model trained without its source,
    and the lowest threshold that keeps the rules and the model together within ``max_fp``
    false positives on the benign texts of all sources."""
    fired = rules(cases)
    held: list[Held] = []
    for source in sorted({str(c["source"]) for c in cases} - {EXTRA}):
        train_on = [c for c in cases if c["source"] != source]
        w, bias = train(train_on, params)
        for c, r in zip(cases, fired, strict=True):
            if c["source"] == source:
                held.append(
                    (source, bool(c["positive"]), bool(c["benign"]), r, doc_score(w, bias, c))
                )
    benign = [h for h in held if h[2]]
    allowed = math.floor(max_fp * len(benign))
    extra = sorted((h[4] for h in benign if not h[3]), reverse=True)
    room = allowed - sum(h[3] for h in benign)
    lowest = extra[room] + 1e-4 if 0 <= room < len(extra) else extra[0] + 1e-4
    print(
        f"the lowest threshold within {max_fp:.1%} false positives over the cross-validation: "
        f"{lowest:.4f} ({len(benign)} benign texts, {allowed} allowed)"
    )
    return held, lowest


Held = tuple[str, bool, bool, bool, float]  # source, injection, benign, rules fired, score


def table(held: list[Held], sources: list[str], threshold: float) -> dict[str, list[float]]:
    tests = {
        "rules": lambda h: h[3],
        "model": lambda h: h[4] >= threshold,
        "or": lambda h: h[3] or h[4] >= threshold,
    }

    def rate(rows: list[Held], which: str) -> float:
        return sum(map(tests[which], rows)) / len(rows) if rows else 0.0

    figures: dict[str, list[float]] = {}
    print(f"{'source':<14}{'inj':>5}{'ben':>5}  {'rules':>13}  {'model':>13}  {'rules|model':>13}")
    for source in [*sources, "all"]:
        part = [h for h in held if source in ("all", h[0])]
        pos = [h for h in part if h[1]]
        ben = [h for h in part if h[2]]
        cells = [f"{rate(pos, k):6.1%} {rate(ben, k):5.1%}" for k in tests]
        print(f"{source:<14}{len(pos):>5}{len(ben):>5}  " + "  ".join(cells))
        figures[source] = [
            round(r(rows, k), 4) for k in tests for r, rows in ((rate, pos), (rate, ben))
        ]
    print("(each cell: recall on injections, false positives on benign texts)")
    return figures


EXTRA = "instructions"  # the extra negatives' source: always trained on, never held out
MARGIN = 0.1  # the threshold's least distance above the product's own texts' scores


def product_texts() -> list[tuple[str, str]]:
    """The product's own prompts and tool descriptions, as
    ``tests/guardrails/test_product_texts.py`` scans them: a request they make must not be
    blocked, so the threshold stays above their scores (they are not trained on): the
    bundled loops' first requests, their requests through the eval cases with tool results,
    the tools and the examples' texts."""
    from fleet.runtime import prompts
    from tests.guardrails.test_product_texts import (
        BUILTINS,
        _demo_tools,
        eval_requests,
        joined,
    )

    task = prompts.task("bug-report-triage", "manual", None, {}, 0)
    out = [("task prompt", task), ("nudge", prompts.NUDGE)]
    # Every bundled loop's first request, started each way, with and without a trigger input
    # and with earlier state: the gateway reads a request's texts joined, so windows run
    # across the task and the tool definitions.
    loops = sorted(p.stem for p in (ROOT / "examples").glob("*/agents/*.yaml"))
    inputs: list[object] = [None, {"issue": 44}, {"pr": 17, "repo": "northwind/web"}]
    for loop in loops:
        for trigger in ("manual", "schedule", "webhook"):
            for payload in inputs:
                for state in (None, {"last_run": "done"}):
                    text = prompts.task(loop, trigger, payload, state, 1 if state else 0)
                    body = {
                        "messages": [
                            {"role": "user", "content": text},
                            {"role": "user", "content": prompts.NUDGE},
                        ],
                        "tools": BUILTINS + _demo_tools(),
                    }
                    out.append((f"{loop}'s first request ({trigger})", joined(body)))
    out.extend((name, joined(body)) for name, body in eval_requests())
    for tool in BUILTINS + _demo_tools():
        name = tool["function"]["name"]
        out.append((name, json.dumps(tool)))
        out.append((f"{name} description", tool["function"].get("description", "")))
    for path in sorted((ROOT / "examples").rglob("*.md")):
        out.append((path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")))
    return out


def product_max(w: dict[Feature, float], bias: float) -> tuple[float, str]:
    return max(
        (max(_score(w, bias, f) for f in window_features(folded(text).text)), name)
        for name, text in product_texts()
        if text
    )


def write(
    w: dict[Feature, float],
    bias: float,
    threshold: float,
    files: list[tuple[str, str]],
    params: dict[str, float],
    figures: dict[str, list[float]] | None,
) -> None:
    weights = {}
    for f, v in sorted(w.items(), key=lambda kv: str(kv[0])):
        key = " ".join(f) if isinstance(f, tuple) else str(f)
        weights[key] = v
    data = {
        "header": {
            "about": "Learned prompt-injection scorer: logistic regression over the distinct "
            "words, word bigrams, character n-grams (text not ASCII) and indicators of a "
            "window of two chunks, summed over the square root of their number; see "
            "fleet/detect/model.py.",
            "trained": datetime.date.today().isoformat(),
            "script": "scripts/train_injection_model.py",
            "corpus": [{"file": f, "sha256": h} for f, h in files],
            "params": {**params, "chunk": CHUNK},
            "threshold_from": "the lowest within 1% false positives on benign texts over "
            "leave-one-source-out cross-validation, and above the product's own texts"
            if figures
            else "given",
            "cross_validation": {
                "columns": "recall, false positives: rules, model, rules or model",
                **(figures or {}),
            },
        },
        "bias": round(bias, 4),
        "threshold": round(threshold, 4),
        "weights": weights,
    }
    WEIGHTS.write_text(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    print(
        f"wrote {WEIGHTS.relative_to(ROOT)}: {len(weights)} weights, "
        f"{WEIGHTS.stat().st_size // 1024} KB, threshold {threshold:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cv", action="store_true", help="cross-validate and pick the threshold")
    parser.add_argument("--threshold", type=float, default=None, help="instead of picking one")
    parser.add_argument("--max-fp", type=float, default=0.01)
    parser.add_argument("--no-write", action="store_true")
    for name, value in PARAMS.items():
        parser.add_argument(f"--{name}", type=type(value), default=value)
    args = parser.parse_args()
    params = {name: getattr(args, name) for name in PARAMS}
    cases, files = load()
    print(f"{len(cases)} texts, {sum(bool(c['positive']) for c in cases)} injections")
    w, bias = train(cases, params)
    top, name = product_max(w, bias)
    print(f"the product's own texts score at most {top:.4f} ({name})")
    threshold = args.threshold
    figures: dict[str, list[float]] | None = None
    if args.cv:
        held, lowest = cv(cases, params, args.max_fp)
        if threshold is None:
            threshold = max(lowest, top + MARGIN)
        print(f"threshold {threshold:.4f}")
        figures = table(held, sorted({h[0] for h in held}), threshold)
    if threshold is None:
        previous = json.loads(WEIGHTS.read_text())["threshold"] if WEIGHTS.exists() else 0.0
        threshold = max(previous, top + MARGIN)
    if not args.no_write:
        write(w, bias, threshold, files, params, figures)


if __name__ == "__main__":
    main()
