r"""Every detector and the redaction step run in linear time on any text (issue 11).

Each check on the request path (benchmarks/detector_bench.py's CHECKS: PII,
the redact step, prompt injection, toxicity, moderation offline, grounding,
domain and complexity, the token count) runs on generated adversarial shapes
at SMALL and at 8 x SMALL characters. Linear work grows 8-fold, quadratic work
64-fold; the CPU-time ratio, the fastest of REPS runs with cold caches, must
stay below MAX_GROWTH. A call is interrupted after CALL_LIMIT seconds, so a
quadratic detector fails in seconds rather than running for minutes.

A static check reads every detector regex: two backtracking repeats that can
take the same character with only optional parts between them (`\s*,?\s+`)
split one long run every way, quadratic at a single start.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
# Random ones whose larger text holds trigger words the smaller lacks (base64
# spelling "key") cost more than 8x for linear work: a whole-text pass starts.
SHAPES = (
    "run '0'", "run '1'", "run '@'", "run '#'", "run '+'", "run '('", "run '\\n'", "run ' '",
    "random 01", "random leet+@$!|", "random digits+punct", "random markup",
    "period 'a0'", "leet runs between letters", "base64 blob", "hex blob",
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


def test_long_runs_are_tokenized_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tokenizer's merge is superlinear in one pre-token: a long run is cut."""
    from cascadepolicy.runtime import features

    encoding = features._encoding()
    lengths: list[int] = []

    class Recording:
        def encode(self, text: str, **options: Any) -> list[int]:
            lengths.append(len(text))
            return list(encoding.encode(text, **options))

    text = "=" * 262144 + " and some words" * 40
    features.text_tokens.cache_clear()
    monkeypatch.setattr(features, "_encoding", lambda: Recording())
    counted = features.text_tokens(text)
    features.text_tokens.cache_clear()
    assert max(lengths) < len(text) // 8
    assert counted == len(encoding.encode(text, disallowed_special=()))


# --- static check: adjacent repeats that can share a run ----------------------

from re import _compiler, _parser  # noqa: E402
from re._constants import (  # noqa: E402
    ANY,
    ASSERT,
    ASSERT_NOT,
    AT,
    ATOMIC_GROUP,
    BRANCH,
    IN,
    LITERAL,
    MAX_REPEAT,
    MIN_REPEAT,
    NOT_LITERAL,
    POSSESSIVE_REPEAT,
    SUBPATTERN,
)

# characters that stand for their classes: spaces, letters, digits, punctuation
SAMPLE = " \t\n\u00a0abzAZ09_.,:;!?-*#=<>[]()/'\"@$|+~\u00e9\u0430"
REPEATS = (MAX_REPEAT, MIN_REPEAT, POSSESSIVE_REPEAT)
LONG = 64  # repeats of at most this many are too short to matter

Item = tuple[Any, Any]  # (opcode, argument) as re._parser gives them


def _parts(op: Any, av: Any) -> list[list[Item]]:
    """The sub-sequences inside one parsed item."""
    if op in REPEATS:
        return [list(av[2])]
    if op == SUBPATTERN:
        return [list(av[3])]
    if op == ATOMIC_GROUP:
        return [list(av)]
    if op in (ASSERT, ASSERT_NOT):
        return [list(av[1])]
    if op == BRANCH:
        return [list(a) for a in av[1]]
    return []


class Backtracking:
    """Pairs of long repeats that can meet on one run of a shared character."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        parsed = _parser.parse(pattern.pattern, pattern.flags)
        self.state = parsed.state
        self.found: list[list[str]] = []
        self.sequence(list(parsed))

    def nullable(self, item: Item) -> bool:
        op, av = item
        if op in REPEATS and av[0] == 0:
            return True
        if op in (AT, ASSERT, ASSERT_NOT):
            return True
        parts = _parts(op, av)
        if op == BRANCH:
            return any(all(self.nullable(i) for i in part) for part in parts)
        return bool(parts) and all(self.nullable(i) for i in parts[0])

    def edge(self, items: list[Item], last: bool) -> frozenset[str]:
        """The characters a sequence can begin with (or end with)."""
        out: frozenset[str] = frozenset()
        for op, av in reversed(items) if last else items:
            if op in (LITERAL, NOT_LITERAL, IN, ANY):
                pattern = _compiler.compile(_parser.SubPattern(self.state, [(op, av)]), self.state.flags)
                out |= {c for c in SAMPLE if pattern.fullmatch(c)}
            elif op not in (ASSERT, ASSERT_NOT):
                out = out.union(*(self.edge(part, last) for part in _parts(op, av)))
            if not self.nullable((op, av)):
                break
        return out

    def ends(self, items: list[Item], last: bool) -> list[frozenset[str]]:
        """Long repeats that can end a sequence and give characters back (last),
        or that can begin it, each as the characters it meets the other with."""
        out: list[frozenset[str]] = []
        for op, av in reversed(items) if last else items:
            if op in REPEATS and av[1] > LONG and not (last and op == POSSESSIVE_REPEAT):
                out.append(self.edge(list(av[2]), last))
            elif not (last and op in (POSSESSIVE_REPEAT, ATOMIC_GROUP)) and op not in (ASSERT, ASSERT_NOT):
                out += [e for part in _parts(op, av) for e in self.ends(part, last)]
            if not self.nullable((op, av)):
                break
        return out

    def sequence(self, items: list[Item]) -> None:
        for i, (op, av) in enumerate(items):
            for part in _parts(op, av):
                self.sequence(part)
            tails = self.ends([(op, av)], True)
            for following in items[i + 1:]:
                self.found += [sorted(a & b) for a in tails for b in self.ends([following], False) if a & b]
                if not self.nullable(following):
                    break


def detector_patterns() -> dict[str, re.Pattern[str]]:
    from cascadepolicy.guardrails import (
        grounding,
        injection,
        injection_lexicon,
        injection_structure,
        normalize,
        pii,
        toxicity,
    )
    from cascadepolicy.runtime import features

    found: dict[str, re.Pattern[str]] = {}
    for module in (features, grounding, injection, injection_lexicon, injection_structure, normalize, pii, toxicity):
        found.update({f"{module.__name__}.{k}": v for k, v in vars(module).items() if isinstance(v, re.Pattern)})
    found.update({f"injection rule {i}": rule.pattern for i, rule in enumerate(injection.RULES)})
    found.update({f"toxicity phrase {i}": p for i, (_, _, _, p) in enumerate(toxicity._PHRASES)})
    found.update({f"toxicity word {w}": e for w, entry in toxicity._WORD_INDEX.items() for e in entry
                  if isinstance(e, re.Pattern)})
    found.update({f"api key {name}": p for name, _, p, _ in pii._API_KEY_RULES})
    for anchor, entries in injection_lexicon.BY_ANCHOR.items():
        found.update({f"lexicon {anchor} {i}": e.pattern for i, e in enumerate(entries)})
    return found


def test_the_static_check_sees_a_split_run() -> None:
    assert Backtracking(re.compile(r"instead\s*,?\s+do")).found
    assert Backtracking(re.compile(r"(?m)^\s*[#*]*\s*system")).found
    assert not Backtracking(re.compile(r"instead(?:\s*+,)?\s++do")).found
    assert not Backtracking(re.compile(r"\d+(?:[ .\-]\d+)*")).found


def test_no_detector_regex_splits_one_run_two_ways() -> None:
    flagged = {name: p.pattern for name, p in detector_patterns().items() if Backtracking(p).found}
    assert not flagged
