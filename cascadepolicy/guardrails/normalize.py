"""Text folding shared by the injection and toxicity detectors.

Attackers hide trigger words behind zero-width characters, look-alike letters
from other scripts, full-width or "mathematical" letters, leetspeak and
spaced-out letters. These helpers fold such text back to plain lower-case
ASCII-ish words so the detectors' patterns see what a model would read.
Everything here is cheap on ASCII input, which is the common case.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

ZERO_WIDTH = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

# Letters of Cyrillic and Greek that render like Latin ones (NFKC keeps them).
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁһӏԛԝьАВЕКМНОРСТХІЈЅ"
    "οαεικνρτυχΑΒΕΖΗΙΚΜΝΟΡΤΧΥ",
    "aeopcyxijsdhlqwbABEKMHOPCTXIJS"
    "oaeikvptuxABEZHIKMNOPTXY",
)
_LEET = str.maketrans("0134578@$!|", "oieastbasil")
# a letter touching a leet digit/symbol on both sides: "1gn0re", "pr0mpt"
_LEET_INSIDE = re.compile(r"[a-z][0134578@$!|]+[a-z]")
_LEET_LEADING = re.compile(r"[0134578@$][a-z]{2}")
_ORDINALS = ("st", "nd", "rd", "th")
# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e"
_SPACED = re.compile(r"\b(?:[a-z][ ._\-*]){3,}[a-z]\b")
_WORD_BYTES = bytes(c if (97 <= c <= 122 or 48 <= c <= 57 or c == 95) else 32 for c in range(256))
_WORD = re.compile(r"[^\W]+")


def fold(text: str) -> str:
    """Lower-case text with zero-width characters, look-alikes and width variants folded."""
    if text.isascii():
        return text.lower()
    text = ZERO_WIDTH.sub("", text)
    text = unicodedata.normalize("NFKC", text).translate(_HOMOGLYPHS)
    return text.lower()


def has_hidden_characters(text: str) -> bool:
    return not text.isascii() and ZERO_WIDTH.search(text) is not None


_LOOKALIKE = "аеорсухіјѕԁһӏԛԝьАВЕКМНОРСТХІЈЅοαεικνρτυχΑΒΕΖΗΙΚΜΝΟΡΤΧΥ"
# a look-alike letter touching a Latin one inside a word ("ignоre" with a
# Cyrillic o); Russian or Greek text on its own is not obfuscation
_MIXED = re.compile(f"[A-Za-z][{_LOOKALIKE}]|[{_LOOKALIKE}][A-Za-z]")


def has_homoglyphs(text: str) -> bool:
    return not text.isascii() and _MIXED.search(text) is not None


# A one-byte-per-character "shape" of ASCII text lets the leet and spacing
# checks search for literal strings, which the regex engine skips to quickly,
# instead of trying a character class at every position of a long prompt.
_SHAPE = bytes(
    ord("a") if 97 <= c <= 122 else
    ord("1") if chr(c) in "0134578$" else
    ord("@") if c == 64 else
    ord("2") if chr(c) in "!|" else
    ord("9") if 48 <= c <= 57 else
    ord(" ")
    for c in range(256)
)
_SHAPE_INSIDE = re.compile(r"a[12@]+a")
_SHAPE_LEADING = re.compile(r" [1@]aa")
_SHAPE_SPACED = re.compile(r" [a-z](?: [a-z]){3,}(?![a-z])")
_SPACERS = bytes.maketrans(b"._-*", b"    ")
_DOMAIN = re.compile(r"[a-z0-9-]+\.[a-z]{2,}")


def _has_leet(folded: str) -> bool:
    if not folded.isascii():
        return _LEET_INSIDE.search(folded) is not None or any(
            not (m.start() and folded[m.start() - 1].isalnum()) and m.group()[1:] not in _ORDINALS
            for m in _LEET_LEADING.finditer(folded)
        )
    shape = " " + folded.encode("ascii").translate(_SHAPE).decode("ascii")
    for m in _SHAPE_INSIDE.finditer(shape):
        run = shape[m.start() + 1:m.end() - 1]
        # "name@example.com" and "user42@mail.org" are addresses, not "h@ck"
        if run.endswith("@") and _DOMAIN.match(folded, m.end() - 2):
            continue
        return True
    for m in _SHAPE_LEADING.finditer(shape):
        start = m.start()  # index in folded of the leet character (shape has one leading space)
        if folded[start + 1:start + 3] not in _ORDINALS:
            return True
    return False


def _has_spaced(folded: str) -> bool:
    if not folded.isascii():
        return _SPACED.search(folded) is not None
    return _SHAPE_SPACED.search(" " + folded.encode("ascii").translate(_SPACERS).decode("ascii")) is not None


@lru_cache(maxsize=8)
def deobfuscate(folded: str) -> str | None:
    """A second reading of folded text with leetspeak and spaced letters undone.

    Returns None when the text shows no sign of either, so callers only pay
    for a second scan when there is something to undo.
    """
    leet = _has_leet(folded)
    # spelled-out letters leave several distinct one-letter words behind
    spaced = sum(len(w) == 1 for w in _cached_words(folded)) >= 4 and _has_spaced(folded)
    if not (leet or spaced):
        return None
    out = folded
    if spaced:
        out = _SPACED.sub(lambda m: re.sub(r"[ ._\-*]", "", m.group()), out)
    if leet:
        out = out.translate(_LEET)
    return out


def words(folded: str) -> frozenset[str]:
    """The set of word tokens (letters, digits, underscore) of folded text."""
    if folded.isascii():
        return frozenset(folded.encode("ascii").translate(_WORD_BYTES).decode("ascii").split())
    return frozenset(_WORD.findall(folded))


_cached_words = lru_cache(maxsize=8)(words)


@lru_cache(maxsize=8)
def analyse(text: str) -> tuple[str, frozenset[str]]:
    """`fold(text)` and its words, shared by the detectors that scan the same text."""
    folded = fold(text)
    return folded, _cached_words(folded)
