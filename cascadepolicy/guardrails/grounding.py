"""Grounding: are the answer's claims supported by the source documents?

An opt-in output check for retrieval-augmented requests. The answer is split
into sentences (claims); a claim is supported when enough of its content
words occur in the sources and every number it states appears there too.
Lexical overlap misses paraphrase and cannot see contradiction between
words the sources do contain; a judge model is the engine's alternative.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cascadepolicy.guardrails.base import Finding, Verdict, passing

SUPPORT_THRESHOLD = 0.6

# A sentence starts after a sentence end or a line break: tried from every
# character of a long line without an ending, it would be scanned to its end
# from each, quadratic in the line's length.
_SENTENCE = re.compile(r"(?<![^.!?\n])[^.!?\n]++(?:[.!?]+|$)")
_WORD = re.compile(r"[a-z][a-z'\-]+|\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_STOPWORDS = frozenset(
    """a an the and or but if then than so as of at by for from in into on onto to with without
    is are was were be been being am do does did done have has had having will would shall should
    can could may might must this that these those it its it's they them their there here he she
    his her him we us our you your i me my not no yes also very more most less least such same
    other which who whom whose what when where why how all any each both few many much some only
    own just about above below over under again further once because while during before after up
    down out off too can't don't isn't aren't wasn't weren't based according answer source sources
    document documents text""".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and not w[0].isdigit()}


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def claim_support(claim: str, source_words: set[str], source_numbers: set[str]) -> float:
    """Share of the claim's content words found in the sources; 0 if a number is not."""
    return _support(_content(claim), _numbers(claim), source_words, source_numbers)


def _support(words: set[str], numbers: set[str], source_words: set[str], source_numbers: set[str]) -> float:
    if numbers - source_numbers:
        return 0.0
    if not words:
        return 1.0
    return len(words & source_words) / len(words)


def scan(answer: str, sources: Sequence[str], threshold: float = 0.5) -> Verdict:
    """Fires when the share of unsupported claims exceeds `1 - threshold`."""
    if not sources:
        raise ValueError("the grounding check needs at least one source document")
    joined = "\n".join(sources)
    source_words = _content(joined)
    source_numbers = _numbers(joined)
    # one pass, each sentence read once and nothing kept but what is unsupported:
    # an answer of many tiny sentences ("7.7.7.") is all per-sentence work
    claims = 0
    unsupported: list[Finding] = []
    for m in _SENTENCE.finditer(answer):
        claim = m.group()
        words, numbers = _content(claim), _numbers(claim)
        if not (words or numbers):
            continue
        claims += 1
        support = _support(words, numbers, source_words, source_numbers)
        if support < SUPPORT_THRESHOLD:
            start = m.start() + (len(claim) - len(claim.lstrip()))
            unsupported.append(Finding("unsupported_claim", start, m.end(), 1.0 - support, "UNSUPPORTED"))
    if not claims:
        return passing("the answer makes no checkable claim")
    share = len(unsupported) / claims
    reason = f"{len(unsupported)} of {claims} claims not supported by the sources"
    return Verdict(share > 1.0 - threshold, share, tuple(unsupported), reason)
