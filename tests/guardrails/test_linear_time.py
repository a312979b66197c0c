"""Every detector and the redaction step run in linear time on any text (issue 11).

Each check on the request path (benchmarks/detector_bench.py's CHECKS: PII,
the redact step, prompt injection, toxicity, moderation offline, grounding,
domain and complexity, the token count) runs on generated adversarial shapes
at SMALL and at 8 x SMALL characters. Linear work grows 8-fold, quadratic work
64-fold; the CPU-time ratio, the fastest of REPS runs with cold caches, must
stay below MAX_GROWTH. A call is interrupted after CALL_LIMIT seconds, so a
quadratic detector fails in seconds rather than running for minutes.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import detector_bench as bench  # noqa: E402

SMALL = 8 * 1024
LARGE = 8 * SMALL
REPS = 3
MAX_GROWTH = 24.0  # for 8x the text: linear is 8, quadratic 64
MIN_TIMED = 0.002  # seconds at LARGE below which a check is too fast to judge
TIME_FLOOR = 0.0002  # seconds: the SMALL time is taken as at least this
CALL_LIMIT = 5.0  # seconds per call; linear checks take milliseconds

# One or more shapes of every generated family; the shapes are the benchmark's.
SHAPES = (
    "run '0'", "run '1'", "run '@'", "run '#'", "run '+'", "run '('", "run '\\n'", "run ' '",
    "random 01", "random leet+@$!|", "random digits+punct", "random markup",
    "period 'a0'", "leet runs between letters", "base64 blob", "base64 of injection",
    "pii mixed", "pii glued", "pii overlapping", "pii at signs", "digits '1' sep ' '", "digits '12345' sep '('",
    "repeat injection phrase", "partial lexicon phrases", "anchor words one per line",
    "triggers, run '\\n'", "triggers, run '#'", "triggers, run ' '", "triggers, run '*'", "triggers, run '<'",
    "markup openings after triggers", "long word lower", "short lines",
    "zero-width between letters", "look-alike letters", "mixed scripts", "words with long whitespace",
)


class TooSlow(Exception):
    pass


@contextmanager
def call_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` (the regex engine checks for signals)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TooSlow

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cpu_time(check: Callable[[str], object], text: str) -> float:
    best = float("inf")
    for _ in range(REPS):
        bench.forget()
        started = time.process_time()
        check(text)
        best = min(best, time.process_time() - started)
    return best


def test_the_shapes_exist() -> None:
    assert set(SHAPES) <= bench.shapes().keys()


@pytest.mark.parametrize("shape", SHAPES)
def test_cost_grows_linearly(shape: str) -> None:
    make = bench.shapes()[shape]
    small, large = make(SMALL), make(LARGE)
    slow = []
    for name, check in bench.CHECKS.items():
        try:
            with call_limit(CALL_LIMIT):
                t_small = cpu_time(check, small)
                t_large = cpu_time(check, large)
        except TooSlow:
            slow.append(f"{name}: a call took over {CALL_LIMIT:g} s")
            continue
        growth = t_large / max(t_small, TIME_FLOOR)
        if t_large >= MIN_TIMED and growth >= MAX_GROWTH:
            slow.append(f"{name}: {t_small * 1000:.1f} ms -> {t_large * 1000:.1f} ms ({growth:.0f}x for 8x the text)")
    assert not slow, f"superlinear on {shape!r}: " + "; ".join(slow)


def test_redaction_of_many_overlapping_findings_is_not_pairwise() -> None:
    from cascadepolicy.guardrails.base import Finding
    from cascadepolicy.guardrails.redaction import Redactor

    def findings(n: int) -> list[Finding]:
        # nested and chained spans: each overlaps its neighbours
        return [Finding("x", i, i + 3 + i % 5, 0.5 + (i % 7) / 10, "X") for i in range(0, 2 * n, 2)]

    text_small, text_large = "a" * (2 * 4000 + 10), "a" * (2 * 32000 + 10)
    with call_limit(CALL_LIMIT):
        t_small = cpu_time(lambda t: Redactor().redact(t, findings(4000)), text_small)
        t_large = cpu_time(lambda t: Redactor().redact(t, findings(32000)), text_large)
    assert t_large / max(t_small, TIME_FLOOR) < MAX_GROWTH
