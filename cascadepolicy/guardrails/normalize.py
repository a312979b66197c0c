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
from collections.abc import Callable, Mapping
from functools import lru_cache

ZERO_WIDTH = re.compile("[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")

Replacements = tuple[tuple[str, str], ...]


def replacements(table: Mapping[str, str]) -> Replacements:
    """A character -> text table for `replace_chars`."""
    pairs = tuple(table.items())
    # replacing one character after another equals translating all at once
    # only while no replacement brings back a character still to be replaced
    if any(old in new for _, new in pairs for old, _ in pairs):
        raise ValueError("a replacement contains a replaced character")
    return pairs


def replace_chars(text: str, pairs: Replacements) -> str:
    """`text.translate(dict(pairs))`, faster: translating a non-ASCII text looks
    every character up in the table, while this only touches those present."""
    for old, new in pairs:
        if old in text:
            text = text.replace(old, new)
    return text


# Letters of Cyrillic and Greek that render like Latin ones (NFKC keeps them).
_HOMOGLYPHS = replacements(dict(zip(
    "аеорсухіјѕԁһӏԛԝьАВЕКМНОРСТХІЈЅ"
    "οαεικνρτυχΑΒΕΖΗΙΚΜΝΟΡΤΧΥ",
    "aeopcyxijsdhlqwbABEKMHOPCTXIJS"
    "oaeikvptuxABEZHIKMNOPTXY",
    strict=True,
)))
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
    text = replace_chars(unicodedata.normalize("NFKC", text), _HOMOGLYPHS)
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
# a run of leet characters followed by a letter, and a leet character followed
# by two letters: both start on a rare character, which the regex engine skips
# to quickly; the letter or space before it is checked by hand. A run is only
# tried from its first character: from every character of "0000...0" it would
# be scanned to its end again, quadratic in its length.
_SHAPE_RUN = re.compile(r"[12@](?<![12@][12@])[12@]*+a")
_SHAPE_LEADING = re.compile(r"[1@]aa")
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
    return _leet_inside(folded, shape) or _leet_leading(folded, shape)


def _leet_inside(folded: str, shape: str) -> bool:
    # the matches of "a[12@]+a", one after another without overlap
    end = 0
    for m in _SHAPE_RUN.finditer(shape):
        start = m.start() - 1
        if start < end or shape[start] != "a":
            continue
        end = m.end()
        # "name@example.com" and "user42@mail.org" are addresses, not "h@ck"
        if shape[end - 2] == "@" and _DOMAIN.match(folded, end - 2):
            continue
        return True
    return False


def _leet_leading(folded: str, shape: str) -> bool:
    for m in _SHAPE_LEADING.finditer(shape):
        start = m.start()  # index in shape of the leet character, in folded of the letter after it
        if shape[start - 1] == " " and folded[start:start + 2] not in _ORDINALS:
            return True
    return False


def _has_spaced(folded: str) -> bool:
    if not folded.isascii():
        return _SPACED.search(folded) is not None
    return _SHAPE_SPACED.search(" " + folded.encode("ascii").translate(_SPACERS).decode("ascii")) is not None


_ASCII_WORD_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _one_character_words(folded: str) -> int:
    found = _cached_words(folded)
    if folded.isascii():
        return len(found & _ASCII_WORD_CHARACTERS)
    return sum(len(w) == 1 for w in found)


@lru_cache(maxsize=8)
def deobfuscate(folded: str) -> str | None:
    """A second reading of folded text with leetspeak and spaced letters undone.

    Returns None when the text shows no sign of either, so callers only pay
    for a second scan when there is something to undo.
    """
    leet = _has_leet(folded)
    # spelled-out letters leave several distinct one-letter words behind
    spaced = _one_character_words(folded) >= 4 and _has_spaced(folded)
    if not (leet or spaced):
        return None
    out = folded
    if spaced:
        out = _SPACED.sub(lambda m: re.sub(r"[ ._\-*]", "", m.group()), out)
    if leet:
        out = out.translate(_LEET)
    return out


def ascii_separators(is_word: Callable[[str], bool]) -> bytes:
    """A `bytes.translate` table turning every ASCII non-word character into a space."""
    return bytes(c if c >= 128 or is_word(chr(c)) else 32 for c in range(256))


_WORD_SEPARATORS = ascii_separators(lambda c: c.isalnum() or c == "_")


def tokens(text: str, separators: bytes, word: re.Pattern[str]) -> frozenset[str]:
    """The distinct matches of `word` (a run of Unicode word characters) in `text`.

    `separators` comes from `ascii_separators` with the ASCII characters that
    `word` matches; they split the text first, so only the pieces holding other
    characters go through the Unicode-aware pattern, which is ten times slower.
    The set is built from the matches in text order, as `word.findall` gives
    them: callers iterate it, and the order of a set depends on its history.
    """
    pieces = text.encode("utf-8", "surrogatepass").translate(separators).decode("utf-8", "surrogatepass").split()
    return frozenset([
        token for piece in pieces for token in ((piece,) if piece.isascii() else word.findall(piece))
    ])


def words(folded: str) -> frozenset[str]:
    """The set of word tokens (letters, digits, underscore) of folded text."""
    if folded.isascii():
        return frozenset(folded.encode("ascii").translate(_WORD_BYTES).decode("ascii").split())
    return tokens(folded, _WORD_SEPARATORS, _WORD)


_cached_words = lru_cache(maxsize=8)(words)


@lru_cache(maxsize=8)
def analyse(text: str) -> tuple[str, frozenset[str]]:
    """`fold(text)` and its words, shared by the detectors that scan the same text."""
    folded = fold(text)
    return folded, _cached_words(folded)
