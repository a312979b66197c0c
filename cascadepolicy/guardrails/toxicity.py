"""Toxicity detector: a lexicon of abusive language in six categories.

Sits in the guardrail stage, mostly on output (a cheap model turning rude)
and as the offline fallback of `moderation`. Words match on word boundaries
after `normalize.fold` and, when the text shows leetspeak or spaced letters,
on a de-obfuscated second reading too. A lexicon cannot read intent: quoted
or discussed slurs fire, and politely phrased hostility does not. The
optional ML backend (`backend="ml"`) uses the alt-profanity-check package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from cascadepolicy.guardrails.base import DetectorUnavailable, Finding, Verdict, passing
from cascadepolicy.guardrails.normalize import deobfuscate, fold

DEFAULT_THRESHOLD = 0.5
CATEGORIES: tuple[str, ...] = ("insult", "profanity", "threat", "hate", "sexual", "self_harm")

# (category, weight, alternation). Weights are the chance one hit alone means
# the text is toxic; hits combine as independent evidence.
_LEXICON: tuple[tuple[str, float, str], ...] = (
    ("profanity", 0.55, r"f+u+c+k+\w*|motherf\w*|sh[i1]t+(?:ty|head|hole|s)?|bullshit|"
                        r"bitch\w*|bastards?|assholes?|arseholes?|dickheads?|cunts?|"
                        r"wank\w*|twats?|piss(?:ed)?\s+off|goddamn\w*|wtf|stfu"),
    ("profanity", 0.25, r"damn(?:ed|it)?|crap(?:py)?|hell|piss(?:ed|ing)?|bloody|sucks"),
    ("insult", 0.55, r"idiots?|morons?|imbeciles?|stupid|dumb(?:ass)?|retard(?:ed|s)?|losers?|"
                     r"pathetic|worthless|useless\s+(?:piece|idiot|bot)|scumbags?|"
                     r"jerks?|clowns?|freaks?|ignorant\s+fool|fools?|halfwits?|dimwits?|"
                     r"brainless|incompetent"),
    ("insult", 0.35, r"shut\s+up|get\s+lost|nobody\s+(?:cares|likes\s+you)"),
    ("threat", 0.85, r"(?:i(?:'ll|\s+will|\s+am\s+going\s+to|'m\s+going\s+to|\s+gonna)|we(?:'ll|\s+will))\s+"
                     r"(?:kill|murder|hurt|shoot|stab|beat|find|destroy|rape|burn)\s+(?:you|u|your|him|her|them)|"
                     r"you(?:'re|\s+are)\s+(?:dead|going\s+to\s+die|gonna\s+die)|"
                     r"watch\s+your\s+back|i\s+know\s+where\s+you\s+live"),
    ("threat", 0.5, r"kill\s+(?:you|u|him|her|them|yourself)|bomb\s+(?:the|your)|shoot\s+up"),
    ("hate", 0.85, r"n[i1]gg(?:er|a)s?|f[a@]gg?(?:ot)?s?|k[i1]kes?|sp[i1]cs?|ch[i1]nks?|"
                   r"wetbacks?|trann(?:y|ies)|raghead\w*|towelhead\w*|subhuman|untermensch"),
    ("hate", 0.6, r"(?:all|those|these)\s+\w+\s+(?:should|must|deserve\s+to)\s+(?:die|be\s+killed|be\s+exterminated)|"
                  r"gas\s+the\s+\w+|ethnic\s+cleansing\s+(?:now|is\s+good)|white\s+power|sieg\s+heil"),
    ("sexual", 0.6, r"porn\w*|blow\s*jobs?|hand\s*jobs?|cum(?:shot|ming)?|dildos?|"
                    r"orgasms?|horny|nudes?|pussy|pussies|cocks?|dicks?|tits|titties|boobs?|"
                    r"penis|vagina|anal|milf|hentai|sexting"),
    ("sexual", 0.3, r"sexy|sex|naked|erotic"),
    ("self_harm", 0.8, r"(?:i\s+(?:want|wanna|am\s+going|'m\s+going|plan)\s+to\s+)"
                       r"(?:kill\s+myself|end\s+(?:my\s+life|it\s+all)|die|cut\s+myself)|"
                       r"kill\s+myself|suicid(?:e|al)|self[-\s]?harm|cutting\s+myself|"
                       r"how\s+to\s+(?:hang\s+myself|overdose|kill\s+myself)|kys"),
)

_PATTERNS: tuple[tuple[str, float, re.Pattern[str]], ...] = tuple(
    (cat, weight, re.compile(rf"\b(?:{alt})\b")) for cat, weight, alt in _LEXICON
)
# One pass decides whether the per-category passes are worth running.
_ANY = re.compile("|".join(rf"\b(?:{alt})\b" for _, _, alt in _LEXICON))


def _hits(folded: str) -> Iterable[tuple[str, float, int, int]]:
    if _ANY.search(folded) is None:
        return
    for cat, weight, pattern in _PATTERNS:
        for m in pattern.finditer(folded):
            yield cat, weight, m.start(), m.end()


def category_scores(text: str) -> tuple[dict[str, float], list[Finding]]:
    """Per-category scores in 0..1 and the matched spans."""
    folded = fold(text)
    same_length = len(folded) == len(text)
    views = [folded]
    alt = deobfuscate(folded)
    if alt is not None:
        views.append(alt)
    keep: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
    findings: dict[tuple[int, int], Finding] = {}
    for view in views:
        aligned = same_length and len(view) == len(text)
        for cat, weight, start, end in _hits(view):
            span = (start, end) if aligned else (0, len(text))
            if span in findings:
                continue
            findings[span] = Finding(cat, span[0], span[1], weight, cat.upper())
            keep[cat] = 1 - (1 - keep[cat]) * (1 - weight)
    return keep, sorted(findings.values(), key=lambda f: f.start)


@lru_cache(maxsize=1)
def _ml_model() -> Any:
    try:
        from profanity_check import predict_prob
    except ImportError as e:
        raise DetectorUnavailable(
            "the toxicity backend 'ml' needs the package alt-profanity-check"
        ) from e
    return predict_prob


def scan(text: str, threshold: float = DEFAULT_THRESHOLD, *, backend: str = "lexicon") -> Verdict:
    """Score text for abusive language; fires when any category reaches `threshold`."""
    if backend == "ml":
        prob = float(_ml_model()([text])[0])
        if prob < threshold:
            return Verdict(False, prob, (), "the profanity model scored the text below the threshold")
        finding = Finding("profanity", 0, len(text), prob, "PROFANITY")
        return Verdict(True, prob, (finding,), f"the profanity model scored the text {prob:.2f}")
    if backend != "lexicon":
        raise ValueError(f"unknown toxicity backend {backend!r}; use 'lexicon' or 'ml'")
    scores, findings = category_scores(text)
    top = max(scores.values())
    if not findings:
        return passing()
    fired = [c for c in CATEGORIES if scores[c] >= threshold]
    if not fired:
        return Verdict(False, top, tuple(findings), "mild language below the threshold")
    return Verdict(
        fired=True,
        score=top,
        findings=tuple(f for f in findings if f.kind in fired),
        reason=f"toxic language: {', '.join(fired)}",
    )
