"""Which quality validators let a weak->strong math cascade keep 95 % of the strong model's accuracy cheaply?

Where this sits: research behind the math-tutor policy (issue 3). It replays
the recorded answers of `gsm8k_dev.jsonl` (see ../shared/data/README.md):
the weak model's answer is always paid for and scored by a candidate
validator set through `cascadepolicy.quality.score_draft`; answers scoring
below the acceptance threshold escalate to the strong model's recorded answer.

Tokens are approximated as len(text) / 4 here; `cascadepolicy replay` prices
exactly with litellm. Thresholds are chosen on one half of the rows and
reported on the other (even/odd rows, first/second half, and seeded random
halvings, each in both directions), so a figure is never measured on the rows
it was tuned on.

    .venv/bin/python benchmarks/cascade_research.py [--data PATH] [--set NAME ...] [--min-score X]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascadepolicy.quality import Check, Draft, build_check, score_draft

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k_dev.jsonl"
WEAK = "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG = "gpt-4-1106-preview"
# USD per token (input, output), from the providers' list prices
PRICES = {WEAK: (0.6e-6, 0.6e-6), STRONG: (10e-6, 30e-6)}
TARGET_QUALITY = 0.95
TARGET_SAVINGS = 0.50
RANDOM_SPLITS = 40  # random halvings for the cross-validation summary (20 seeds, both directions)

# Candidate validator sets, written exactly as a policy's `validators:` list.
CANDIDATES: dict[str, list[dict[str, Any]]] = {
    "format-only": [
        {"check": "answer_format", "weight": 1.0, "required": True},
    ],
    "format+arithmetic": [
        {"check": "answer_format", "weight": 1.0, "required": True},
        {"check": "arithmetic", "weight": 1.0, "required": True},
    ],
    "math-tutor": [
        {"check": "answer_format", "weight": 1.0, "required": True, "integer": True},
        {"check": "arithmetic", "weight": 1.0, "required": True, "min_equations": 1},
        {"check": "consistency", "weight": 1.0, "required": True},
        {"check": "coherence", "weight": 1.0, "required": True},
        {"check": "refusal", "weight": 1.0, "required": True},
        {"check": "hedging", "weight": 1.0, "max_ratio": 0.3},
        {"check": "grounding", "weight": 4.0, "min_share": 1.0},
        {"check": "provenance", "weight": 2.0},
        {"check": "exactness", "weight": 1.0, "required": True},
    ],
}


@dataclass(frozen=True)
class Row:
    weak_correct: bool
    strong_correct: bool
    weak_cost: float
    strong_cost: float
    score: float


@dataclass(frozen=True)
class Outcome:
    threshold: float
    escalation: float
    accuracy: float
    quality_vs_strongest: float
    savings_vs_strongest: float

    @property
    def meets_target(self) -> bool:
        return self.quality_vs_strongest >= TARGET_QUALITY and self.savings_vs_strongest >= TARGET_SAVINGS


def cost(model: str, prompt: str, answer: str) -> float:
    price_in, price_out = PRICES[model]
    return len(prompt) / 4 * price_in + len(answer) / 4 * price_out


def build(validators: Sequence[Mapping[str, Any]]) -> list[tuple[Check, float, bool]]:
    built = []
    for entry in validators:
        params = {k: v for k, v in entry.items() if k not in ("check", "weight", "required")}
        built.append((build_check(entry["check"], params), float(entry.get("weight", 1.0)), bool(entry.get("required", False))))
    return built


def load(path: Path, checks: list[tuple[Check, float, bool]]) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            prompt = record["messages"][-1]["content"]
            weak, strong = record["responses"][WEAK], record["responses"][STRONG]
            composite = score_draft(checks, Draft(text=weak["content"], prompt=prompt, logprobs=None))
            rows.append(Row(
                weak_correct=bool(weak["correct"]), strong_correct=bool(strong["correct"]),
                weak_cost=cost(WEAK, prompt, weak["content"]), strong_cost=cost(STRONG, prompt, strong["content"]),
                score=composite.score,
            ))  # fmt: skip
    return rows


def replay(rows: Sequence[Row], threshold: float) -> Outcome:
    escalated = [row.score < threshold for row in rows]
    correct = sum(r.strong_correct if esc else r.weak_correct for r, esc in zip(rows, escalated, strict=True))
    spent = sum(r.weak_cost + (r.strong_cost if esc else 0.0) for r, esc in zip(rows, escalated, strict=True))
    strong_accuracy = sum(r.strong_correct for r in rows) / len(rows)
    accuracy = correct / len(rows)
    return Outcome(
        threshold=threshold,
        escalation=sum(escalated) / len(rows),
        accuracy=accuracy,
        quality_vs_strongest=accuracy / strong_accuracy,
        savings_vs_strongest=1.0 - spent / sum(r.strong_cost for r in rows),
    )


def thresholds(rows: Sequence[Row]) -> list[float]:
    """Every threshold that changes the decision: just above each distinct score, plus 0."""
    scores = sorted({round(r.score, 9) for r in rows})
    return [0.0] + [s + 1e-9 for s in scores]


def choose(rows: Sequence[Row], margin: float = 0.0) -> Outcome:
    """The cheapest threshold reaching the quality target plus `margin`; the best quality when none does."""
    outcomes = [replay(rows, t) for t in thresholds(rows)]
    meeting = [o for o in outcomes if o.quality_vs_strongest >= TARGET_QUALITY + margin]
    if meeting:
        return max(meeting, key=lambda o: (o.savings_vs_strongest, -o.threshold))
    return max(outcomes, key=lambda o: (o.quality_vs_strongest, o.savings_vs_strongest))


def line(label: str, o: Outcome) -> str:
    flag = "  meets target" if o.meets_target else ""
    return (
        f"{label:>14}  min_score={o.threshold:6.4f}  escalated={o.escalation:6.1%}  accuracy={o.accuracy:6.1%}"
        f"  quality_vs_strongest={o.quality_vs_strongest:.3f}  savings_vs_strongest={o.savings_vs_strongest:6.1%}{flag}"
    )


def report(name: str, validators: list[dict[str, Any]], path: Path, min_score: float) -> None:
    rows = load(path, build(validators))
    print(f"\n=== validator set: {name} ({len(rows)} rows)")
    print(line("always weak", replay(rows, 0.0)))
    print(line("always strong", replay(rows, float("inf"))))
    print("sweep over all rows:")
    for t in (0.5, 0.8, 0.9, 0.92, 0.94, 0.96, 0.98, 1.0):
        print(line("", replay(rows, t)))
    for margin in (0.0, 0.01):
        print(f"split: threshold chosen on one half (quality >= {TARGET_QUALITY + margin:.2f}), measured on the other:")
        for (tune, test), (tune_rows, test_rows) in named_splits(rows)[:4]:
            chosen = choose(tune_rows, margin)
            if chosen.quality_vs_strongest < TARGET_QUALITY + margin:
                print(f"{'tuned ' + tune:>14}  no threshold reaches it; the best-quality one is used")
            print(line(f"tuned {tune}", chosen))
            print(line(f"on {test}", replay(test_rows, chosen.threshold)))
        summary(f"{RANDOM_SPLITS} random halvings", [replay(test, choose(tune, margin).threshold) for tune, test in random_splits(rows)])
    print(f"fixed min_score={min_score} (as a policy ships it) on each random half:")
    summary(f"{RANDOM_SPLITS} halves", [replay(test, min_score) for _, test in random_splits(rows)])


def named_splits(rows: Sequence[Row]) -> list[tuple[tuple[str, str], tuple[Sequence[Row], Sequence[Row]]]]:
    """Even/odd rows and first/second half, each used once to tune and once to test."""
    middle = len(rows) // 2
    halves = {"even": rows[0::2], "odd": rows[1::2], "first": rows[:middle], "second": rows[middle:]}
    pairs = (("even", "odd"), ("odd", "even"), ("first", "second"), ("second", "first"))
    return [((a, b), (halves[a], halves[b])) for a, b in pairs]


def random_splits(rows: Sequence[Row]) -> list[tuple[list[Row], list[Row]]]:
    """`RANDOM_SPLITS` seeded random halvings, each used in both directions."""
    splits = []
    for seed in range(RANDOM_SPLITS // 2):
        order = list(rows)
        random.Random(seed).shuffle(order)
        a, b = order[: len(order) // 2], order[len(order) // 2 :]
        splits += [(a, b), (b, a)]
    return splits


def summary(label: str, outcomes: Sequence[Outcome]) -> None:
    quality = sorted(o.quality_vs_strongest for o in outcomes)
    savings = sorted(o.savings_vs_strongest for o in outcomes)
    met = sum(o.meets_target for o in outcomes)
    print(
        f"{label:>14}  on the held-out half: quality_vs_strongest mean={statistics.fmean(quality):.3f} min={quality[0]:.3f}"
        f"  savings mean={statistics.fmean(savings):6.1%} min={savings[0]:6.1%}  meets target {met}/{len(outcomes)}"
    )

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--set", dest="sets", action="append", choices=sorted(CANDIDATES))
    parser.add_argument("--min-score", type=float, default=0.96, help="the fixed threshold to report on each random half")
    args = parser.parse_args(argv)
    for name in args.sets or list(CANDIDATES):
        report(name, CANDIDATES[name], args.data, args.min_score)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
