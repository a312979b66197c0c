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
from cascadepolicy.guardrails.normalize import analyse, deobfuscate, words

DEFAULT_THRESHOLD = 0.5
CATEGORIES: tuple[str, ...] = ("insult", "profanity", "threat", "hate", "sexual", "self_harm")

# Single words: category -> (weight, words). Weights are the chance one hit
# alone means the text is toxic; hits combine as independent evidence.
_WORDS: dict[str, tuple[tuple[float, str], ...]] = {
    "profanity": (
        (0.55, "fuck fucks fucked fucker fuckers fucking fuckin motherfucker motherfuckers "
               "fuckface fuckhead shit shits shitty shithead shithole bullshit bitch bitches "
               "bitchy bastard bastards asshole assholes arsehole arseholes dickhead dickheads "
               "cunt cunts wanker wankers twat twats goddamn goddamnit wtf stfu"),
        (0.25, "damn damned dammit crap crappy hell piss pissed bloody sucks"),
    ),
    "insult": (
        (0.55, "idiot idiots moron morons moronic imbecile imbeciles dumbass "
               "retard retarded retards scumbag scumbags halfwit halfwits dimwit dimwits"),
        # Words with everyday neutral senses ("the loser of the race", "a stupid
        # mistake"): weak alone, strong when aimed at someone (see _PHRASES).
        (0.25, "stupid dumb loser losers pathetic worthless jerk jerks brainless incompetent"),
        (0.3, "fool fools clown clowns freak freaks"),
    ),
    "hate": (
        (0.85, "nigger niggers nigga niggas faggot faggots fag fags kike kikes spic spics chink "
               "chinks wetback wetbacks tranny trannies raghead ragheads towelhead towelheads "
               "subhuman untermensch"),
    ),
    "sexual": (
        (0.6, "porn porno pornographic pornography blowjob blowjobs handjob handjobs cumshot "
              "dildo dildos orgasm orgasms horny nudes pussy pussies cock cocks tits titties "
              "boobs penis vagina milf hentai sexting"),
        (0.3, "sexy sex naked erotic nude"),
    ),
    "self_harm": (
        (0.8, "suicide suicidal selfharm kys"),
    ),
    "threat": (),
    }
# `\bword\b` written so that the word comes first: the regex engine then skips
# to its occurrences in C, where a leading `\b` is tried at every position
_WORD_INDEX: dict[str, tuple[str, float, re.Pattern[str]]] = {
    word: (cat, weight, re.compile(rf"{word}(?<!\w{word})\b"))
    for cat, groups in _WORDS.items() for weight, ws in groups for word in ws.split()
}

# Phrases: (category, weight, anchor words, pattern); a pattern runs only when
# one of its anchors is among the text's words.
_PHRASES: tuple[tuple[str, float, frozenset[str], re.Pattern[str]], ...] = tuple(
    (cat, weight, frozenset(anchors.split()), re.compile(pattern.removeprefix("\\b").replace("|\\b", "|")))
    for cat, weight, anchors, pattern in (
        ("threat", 0.85, "kill murder hurt shoot stab beat find destroy rape burn",
         r"\b(?:i(?:'ll|\s+will|\s+am\s+going\s+to|'m\s+going\s+to|\s+gonna)|we(?:'ll|\s+will))\s+"
         r"(?:kill|murder|hurt|shoot|stab|beat|find|destroy|rape|burn)\s+(?:you|u|your|him|her|them)\b"),
        ("threat", 0.85, "dead die", r"\byou(?:'re|\s+are)\s+(?:dead|going\s+to\s+die|gonna\s+die)\b"),
        ("threat", 0.7, "watch know", r"\bwatch\s+your\s+back\b|\bi\s+know\s+where\s+you\s+live\b"),
        ("threat", 0.5, "kill bomb shoot",
         r"\bkill\s+(?:you|u|him|her|them)\b|\bbomb\s+(?:the|your)\b|\bshoot\s+up\b"),
        ("insult", 0.35, "shut lost nobody",
         r"\bshut\s+up\b|\bget\s+lost\b|\bnobody\s+(?:cares|likes\s+you)\b"),
        ("insult", 0.55, "useless", r"\buseless\s+(?:piece|idiot|bot|moron)\b"),
        # aimed at the reader: "you're so stupid", "you pathetic loser"
        ("insult", 0.6, "stupid dumb loser losers pathetic worthless jerk jerks brainless incompetent fool clown freak",
         r"\b(?:you(?:'re|\s+are)?|u\s+r|ur)\s+(?:(?:so|such|a|an|absolute|total|complete|fucking|little)\s+){0,2}"
         r"(?:stupid|dumb|losers?|pathetic|worthless|jerks?|brainless|incompetent|fools?|clowns?|freaks?)\b"),
        # a person called a name: "what a loser", "bunch of clowns" (not "what a stupid mistake")
        ("insult", 0.6, "loser losers jerk jerks fool fools clown clowns freak freaks",
         r"\b(?:such\s+an?|what\s+an?|bunch\s+of)\s+(?:(?:absolute|total|complete|pathetic|stupid|little)\s+)?"
         r"(?:losers?|jerks?|fools?|clowns?|freaks?)\b(?!\s+(?:of|in|at)\b)"),
        ("profanity", 0.55, "piss", r"\bpiss\s+off\b"),
        ("sexual", 0.6, "blow hand", r"\b(?:blow|hand)\s+jobs?\b"),
        ("hate", 0.6, "die killed exterminated",
         r"\b(?:all|those|these)\s+\w+\s+(?:should|must|deserve\s+to)\s+(?:die|be\s+killed|be\s+exterminated)\b"),
        ("hate", 0.7, "gas power heil", r"\bgas\s+the\s+\w+|\bwhite\s+power\b|\bsieg\s+heil\b"),
        ("self_harm", 0.8, "kill end cut die hang overdose harm cutting",
         r"\bkill\s+myself\b|\bend\s+(?:my\s+life|it\s+all)\b|\bcut(?:ting)?\s+myself\b|"
         r"\bi\s+(?:want|wanna)\s+to\s+die\b|\bhow\s+to\s+(?:hang\s+myself|overdose)\b|\bself[-\s]harm\b"),
    )
)
# elongated or starred spellings: "fuuuck", "f*ck", "sh*t"
_SQUEEZE = re.compile(r"([a-z])\1{2,}")
_MASKED = re.compile(r"\bf[*#]+c?k|\bsh[*#]+t|\bb[*#]+tch|\bc[*#]+nt|\ba[*#]+hole")
_UNMASK = {"f": "fuck", "s": "shit", "b": "bitch", "c": "cunt", "a": "asshole"}


def _hits(folded: str, words: frozenset[str]) -> Iterable[tuple[str, float, int, int]]:
    for word in sorted(words & _WORD_INDEX.keys()):  # sorted: set order changes with the hash seed
        cat, weight, pattern = _WORD_INDEX[word]
        m = pattern.search(folded)
        if m is not None:
            yield cat, weight, m.start(), m.end()
    for cat, weight, anchors, pattern in _PHRASES:
        if anchors.isdisjoint(words):
            continue
        m = pattern.search(folded)
        if m is not None:
            yield cat, weight, m.start(), m.end()


def category_scores(text: str) -> tuple[dict[str, float], list[Finding]]:
    """Per-category scores in 0..1 and the matched spans."""
    folded, folded_words = analyse(text)
    aligned = len(folded) == len(text)
    views = [(folded, folded_words, aligned)]
    alt = deobfuscate(folded)
    # elongations are looked for among the distinct words, a much shorter text
    if "*" in folded or _SQUEEZE.search(" ".join(folded_words)) is not None:
        alt = _MASKED.sub(lambda m: _UNMASK[m.group()[0]], _SQUEEZE.sub(r"\1", alt or folded))
    if alt is not None:
        views.append((alt, words(alt), False))
    keep: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
    findings: dict[tuple[str, int, int], Finding] = {}
    for view, view_words, exact in views:
        for cat, weight, start, end in _hits(view, view_words):
            span = (start, end) if exact else (0, len(text))
            if (cat, *span) in findings:
                continue
            findings[(cat, *span)] = Finding(cat, span[0], span[1], weight, cat.upper())
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
