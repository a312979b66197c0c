"""Measure the guardrail detectors on the shared evaluation files.

    python benchmarks/guardrail_eval.py [--pii FILE] [--injection FILE] [--json OUT] [--roc OUT.png]

PII: per-entity precision, recall and F1 on span matches. A predicted span
matches a gold span of the same entity when their character overlap covers at
least half of the longer of the two (each gold and each predicted span is
matched at most once). All entity kinds the detector knows are scanned.
Injection: TPR and FPR at the detector's default threshold, ROC AUC, and an
optional ROC curve PNG; recall (attack sources) or false-positive rate
(benign sources) and precision per source, and the figures on the sources
held out while the structure rules were built (`INJECTION_HELD_OUT`). Latency: median wall time of the default input
checks (pii + prompt_injection + toxicity) on a 4 KB prompt. PII held out: the
same figures on the dev file's two fixed halves and on rows generated from the
formats' specifications (`pii_corpora.held_out`), and the default PII scan's
findings per 10,000 words of benign look-alike text (`pii_corpora.benign`).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT.parent / "shared" / "data"
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import pii_corpora  # noqa: E402

from cascadepolicy.guardrails import injection, pii, toxicity  # noqa: E402

# file entity name -> detector entity name
ENTITY_MAP: dict[str, str] = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "credit_card",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "IP_ADDRESS": "ip_address",
    "PERSON": "person",
    "STREET_ADDRESS": "street_address",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def spans_match(a: tuple[int, int], b: tuple[int, int]) -> bool:
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    return overlap > 0 and overlap * 2 >= max(a[1] - a[0], b[1] - b[0])


def _count_matches(gold: Sequence[tuple[int, int]], pred: Sequence[tuple[int, int]]) -> int:
    used: set[int] = set()
    hits = 0
    for g in gold:
        for i, p in enumerate(pred):
            if i not in used and spans_match(g, p):
                used.add(i)
                hits += 1
                break
    return hits


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else (1.0 if not n_gold else 0.0)
    recall = tp / n_gold if n_gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": n_gold}


def eval_pii(rows: Iterable[dict[str, Any]], errors: list[dict[str, Any]] | None = None) -> dict[str, dict[str, float]]:
    tp = dict.fromkeys(ENTITY_MAP, 0)
    n_pred = dict.fromkeys(ENTITY_MAP, 0)
    n_gold = dict.fromkeys(ENTITY_MAP, 0)
    for row in rows:
        verdict = pii.scan(row["text"], pii.PII_ENTITIES)
        for entity, kind in ENTITY_MAP.items():
            gold = [(s["start"], s["end"]) for s in row["spans"] if s["type"] == entity]
            pred = [(f.start, f.end) for f in verdict.findings if f.kind == kind]
            hits = _count_matches(gold, pred)
            tp[entity] += hits
            n_pred[entity] += len(pred)
            n_gold[entity] += len(gold)
            if errors is not None and (hits != len(gold) or hits != len(pred)):
                errors.append({"id": row["id"], "entity": entity, "gold": gold, "pred": pred})
    return {e: _prf(tp[e], n_pred[e], n_gold[e]) for e in ENTITY_MAP}


def pii_halves(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """PII figures on the dev file's two fixed halves (crc32 of the row id, even/odd)."""
    halves: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for row in rows:
        halves["ab"[zlib.crc32(str(row["id"]).encode()) % 2]].append(row)
    return {name: eval_pii(part) for name, part in halves.items()}


def benign_fp_rate(texts: Sequence[str]) -> dict[str, Any]:
    """Findings of the default PII scan on text with no personal data, per 10,000 words."""
    words = sum(len(t.split()) for t in texts)
    kinds: dict[str, int] = {}
    for text in texts:
        for finding in pii.scan(text).findings:
            kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
    total = sum(kinds.values())
    return {"words": words, "findings": total, "per_10k_words": round(total * 10_000 / words, 3), "by_kind": kinds}


def roc_points(scores: Sequence[float], labels: Sequence[bool]) -> list[tuple[float, float]]:
    pos = sum(labels)
    neg = len(labels) - pos
    points = [(0.0, 0.0)]
    tp = fp = 0
    ranked = sorted(zip(scores, labels, strict=True), key=lambda x: -x[0])
    for i, (score, label) in enumerate(ranked):
        tp += label
        fp += not label
        if i + 1 == len(ranked) or ranked[i + 1][0] != score:
            points.append((fp / neg if neg else 0.0, tp / pos if pos else 0.0))
    return points


def auc(points: Sequence[tuple[float, float]]) -> float:
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False))


def eval_injection(rows: Sequence[dict[str, Any]], roc_png: Path | None = None) -> dict[str, float]:
    scores = [injection.scan(r["text"]).score for r in rows]
    labels = [bool(r["attack"]) for r in rows]
    threshold = injection.DEFAULT_THRESHOLD
    pos = sum(labels)
    neg = len(labels) - pos
    tp = sum(1 for s, y in zip(scores, labels, strict=True) if y and s >= threshold)
    fp = sum(1 for s, y in zip(scores, labels, strict=True) if not y and s >= threshold)
    points = roc_points(scores, labels)
    if roc_png is not None:
        _plot_roc(points, tp / pos if pos else 0.0, fp / neg if neg else 0.0, roc_png)
    return {
        "tpr": round(tp / pos, 4) if pos else 0.0,
        "fpr": round(fp / neg, 4) if neg else 0.0,
        "threshold": threshold,
        "auc": round(auc(points), 4),
    }


# Sources of injection_dev.jsonl whose rows nobody read while
# cascadepolicy/guardrails/injection_structure.py was written (issue 14.1):
# two attack families and the benign family that looks most like an attack.
INJECTION_HELD_OUT = (
    "spikee/seeds-sysmsg-extraction-2025-04",
    "spikee/zzz_LEGACY_seeds-cybersec-2025-04",
    "spikee/investment-advice-fp",
)


def eval_injection_by_source(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per `source`: recall of an attack source, false-positive rate of a benign one.

    An attack source's precision is taken against every benign row of the file,
    as if the traffic were that family and all the benign prompts.
    """
    threshold = injection.DEFAULT_THRESHOLD
    fired: dict[str, list[bool]] = {}
    attack: dict[str, bool] = {}
    for row in rows:
        fired.setdefault(row["source"], []).append(injection.scan(row["text"]).score >= threshold)
        attack[row["source"]] = bool(row["attack"])
    false_positives = sum(sum(f) for s, f in fired.items() if not attack[s])
    out: dict[str, dict[str, Any]] = {}
    for source in sorted(fired):
        n, hits = len(fired[source]), sum(fired[source])
        if attack[source]:
            precision = hits / (hits + false_positives) if hits + false_positives else 1.0
            out[source] = {"attack": True, "n": n, "recall": round(hits / n, 4), "precision": round(precision, 4)}
        else:
            out[source] = {"attack": False, "n": n, "fpr": round(hits / n, 4)}
    return out


def eval_injection_held_out(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Injection figures on the held-out sources' rows together."""
    return eval_injection([r for r in rows if r["source"] in INJECTION_HELD_OUT])


def eval_injection_halves(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Injection figures on two fixed halves (crc32 of the row id, even/odd):
    tune on "a", report "b" as the check that was not looked at."""
    halves: dict[str, list[dict[str, Any]]] = {"a": [], "b": []}
    for row in rows:
        halves["ab"[zlib.crc32(str(row["id"]).encode()) % 2]].append(row)
    return {name: eval_injection(part) for name, part in halves.items()}


def _plot_roc(points: Sequence[tuple[float, float]], tpr: float, fpr: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([p[0] for p in points], [p[1] for p in points], label="prompt_injection")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.scatter([fpr], [tpr], color="red", zorder=3, label="default threshold")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title("Prompt-injection detector ROC")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


_SENTENCES = (
    "Hello, I am writing about my account and a problem with my last invoice.",
    "Last month I was charged twice for the same order and I would like a refund.",
    "Could you also explain how the loyalty points are computed on discounted items?",
    "I tried the mobile app, but the page keeps loading and never shows my orders.",
    "The delivery arrived two days late and the box was damaged on one side.",
    "Please let me know whether the 15% discount applies to items already on sale.",
    "My colleague said the premium plan includes priority support, is that right?",
    "Thanks a lot for your help, I have been a customer for almost six years now.",
    "Here is the error the site shows: request failed with status 502 at checkout.",
    "Can you summarise the return policy in plain words and list the steps?",
)


def sample_prompt(seed: int, size: int = 4096) -> str:
    """A 4 KB support prompt with a few contact details; different digits per seed."""
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < size:
        parts.append(rng.choice(_SENTENCES))
        if len(parts) % 12 == 3:
            parts.append(f"You can reach me at user{rng.randrange(10**4)}@example.com.")
        if len(parts) % 12 == 7:
            parts.append(f"My number is +44 20 7946 {rng.randrange(10**4):04d} in the afternoon.")
        if len(parts) % 12 == 11:
            parts.append(f"The order number is A-{rng.randrange(10**7):07d}.")
    return " ".join(parts)[:size]


def latency_ms(repeats: int = 300) -> float:
    """Median ms of pii + prompt_injection + toxicity on distinct 4 KB prompts."""
    checks = (pii.scan, injection.scan, toxicity.scan)
    for check in checks:
        check(sample_prompt(-1))  # warm lazy imports
    timings = []
    for i in range(repeats):
        text = sample_prompt(i)
        t0 = time.perf_counter()
        for check in checks:
            check(text)
        timings.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(timings), 4)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pii", type=Path, default=DATA / "pii_dev.jsonl")
    parser.add_argument("--injection", type=Path, default=DATA / "injection_dev.jsonl")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--roc", type=Path, default=None, help="write the ROC curve PNG here")
    parser.add_argument("--halves", action="store_true", help="also report the injection figures per fixed half")
    parser.add_argument("--errors", type=Path, default=None, help="write PII mismatches (JSONL) here")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated held-out PII rows and benign text")
    args = parser.parse_args(argv)

    errors: list[dict[str, Any]] | None = [] if args.errors else None
    result = {
        "pii": eval_pii(read_jsonl(args.pii), errors),
        "injection": eval_injection(read_jsonl(args.injection), args.roc),
        "latency_ms_4kb": latency_ms(),
    }
    # held-out PII: the dev file's halves, and rows generated from the formats' specifications
    # (benchmarks/pii_corpora.py, written without the dev file); benign look-alike text
    result["pii_halves"] = pii_halves(read_jsonl(args.pii))
    result["pii_held_out"] = eval_pii(pii_corpora.held_out(args.seed))
    result["pii_benign"] = benign_fp_rate(pii_corpora.benign(args.seed))
    injection_rows = read_jsonl(args.injection)
    result["injection_by_source"] = eval_injection_by_source(injection_rows)
    result["injection_held_out"] = eval_injection_held_out(injection_rows)
    if args.halves:
        result["injection_halves"] = eval_injection_halves(injection_rows)
    if args.errors and errors is not None:
        args.errors.write_text("".join(json.dumps(e) + "\n" for e in errors), encoding="utf-8")
    text = json.dumps(result, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
