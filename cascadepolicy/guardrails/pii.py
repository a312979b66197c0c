"""PII detector: finds personal data and secrets in a prompt or an answer.

Sits in the guardrail stage (input and output). Pure and offline: every
pattern is compiled at import, and the expensive validators (phonenumbers,
IBAN checksum, `ipaddress`) only see the few candidates a cheap regex let
through. Structured identifiers are validated (Luhn, IBAN mod-97, SSN area
rules, address parsing); person names and street addresses are heuristic and
opt-in (see docs/guardrails.md for measured precision and recall).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection
from functools import lru_cache
from typing import Any

from cascadepolicy.guardrails.base import (
    Coverage,
    DetectorUnavailable,
    Finding,
    Verdict,
    count_kinds,
    passing,
)
from cascadepolicy.guardrails.normalize import analyse

PII_ENTITIES: frozenset[str] = frozenset(
    {
        "email",
        "phone",
        "ssn",
        "credit_card",
        "iban",
        "ip_address",
        "api_key",
        "street_address",
        "person",
    }
)
# Person names and street addresses are guesses from context; they are only
# scanned when a policy names them, so `entities: null` stays high-precision.
DEFAULT_ENTITIES: frozenset[str] = PII_ENTITIES - {"street_address", "person"}

LABELS: dict[str, str] = {
    "email": "EMAIL",
    "phone": "PHONE",
    "ssn": "SSN",
    "credit_card": "CREDIT_CARD",
    "iban": "IBAN",
    "ip_address": "IP_ADDRESS",
    "api_key": "API_KEY",
    "street_address": "ADDRESS",
    "person": "PERSON",
}

DEFAULT_MIN_SCORE = 0.5
DEFAULT_REGION = "US"

# --- patterns --------------------------------------------------------------

# the local part is read backwards from the "@", on the reversed characters
# before it: a search for `[\w.%+-]{1,64}$` tries each of the 64 starts
_EMAIL_LOCAL_REVERSED = re.compile(r"[\w.%+-]{1,64}")
# an "@" that a domain may follow: the regex engine skips the others in C
_EMAIL_AT = re.compile(r"@(?=[A-Za-z0-9])")
_EMAIL_DOMAIN = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])")
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}$")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:){1,7}(?::|[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])"
)
_VERSION_CUE = re.compile(r"(?i)(?:version|release|build|v\.?)\s*$")
_SSN_SHAPE = re.compile(r"(\d{3})([- ]?)(\d{2})\2(\d{4})$")
_SSN_CUE = re.compile(r"(?i)\b(?:ssn|ss#|social\s+security|tax\s*id|tin)\b")
# Cheap candidate scan for phone and card numbers: digit groups joined by one
# separator; a bracketed trunk prefix such as "(0)" may sit between groups.
_NUMBERISH = re.compile(
    r"(?:\+\s?)?(?:\(\d{1,5}\)\s?)?\d+(?:(?:[ .\-]|\s?\(\d{1,5}\)\s?)\d+)*"
)
_EXTENSION = re.compile(r"\s?(?:x|ext\.?|extension)\s?\d{1,6}\b")
# cheap first pass: runs of digits and phone punctuation; starts on a class so
# the regex engine can skip the text between numbers quickly
# the module reports no number written in fewer than six characters.
# The run is taken whole and cut back to its last digit by `_number_runs`:
# a pattern ending in `[0-9]` would scan "++++...+" to its end from each "+".
_COARSE_NUMBER = re.compile(r"[0-9+(][0-9 .()+\-]{5,}+")
_RUN_TAIL = " .()+-"
_SEPARATORS = re.compile(r"[ .\-]")
_DATE_SHAPE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b|\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)?\d{2}$")
_FOLLOWED_BY_NAME = re.compile(r",?[ \t]+(?:[A-ZÀ-Þ]|(?i:rue|via|calle|avenida|rua|strada)\b)")
_PHONE_CUES: tuple[str, ...] = (
    "phone", "tel", "mobile", "cell", "call", "fax", "desk", "reach", "contact", "dial", "ring",
    "sms", "text", "message", "whatsapp", "number", "no.", "#", "registered",
)
_IBAN = re.compile(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b")
_HEX = frozenset("0123456789abcdefABCDEF:")
# (name, substrings one of which must occur, pattern, score)
_API_KEY_RULES: tuple[tuple[str, tuple[str, ...], re.Pattern[str], float], ...] = tuple(
    (name, triggers, re.compile(pattern, re.DOTALL), score)
    for name, triggers, pattern, score in (
        ("openai", ("sk-",), r"\bsk-(?:proj-|svcacct-|admin-|ant-[a-z0-9]+-)?[A-Za-z0-9_\-]{20,}", 0.95),
        ("aws", ("AKIA", "ASIA", "ABIA", "ACCA"), r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b", 0.95),
        ("github", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})", 0.95),
        ("slack", ("xox", "hooks.slack.com"),
         r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+", 0.95),
        ("google", ("AIza",), r"\bAIza[0-9A-Za-z_\-]{35}", 0.95),
        ("stripe", ("_live_", "_test_"), r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}", 0.95),
        ("huggingface", ("hf_",), r"\bhf_[A-Za-z0-9]{30,}", 0.95),
        ("jwt", ("eyJ",), r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 0.9),
        ("private_key", ("PRIVATE KEY-----",),
         r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----", 0.99),
        ("assigned", ("key", "secret", "token", "passw"),
         r"(?i:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|password|passwd)"
         r"\s*[:=]\s*[\"']?(?P<value>[A-Za-z0-9_\-/+=.]{12,})", 0.7),
    )
)
_NAME = r"[A-ZÀ-ÖØ-Þ][^\W\d_]+(?:[-'’][A-ZÀ-ÖØ-Þ]?[^\W\d_]+)?"
_PERSON = re.compile(
    r"(?:\b(?i:mr|mrs|ms|miss|mx|dr|prof|sir|madam|dame|lord|lady)\.?\s+"
    r"|\b(?i:my\s+name\s+is|name\s*:|dear|signed,?|regards,|sincerely,|thanks,|i\s+am|i'm|"
    r"this\s+is|call\s+me|ask\s+for|speak\s+to|talk\s+to|contact)\s*)"
    rf"(?P<name>{_NAME}(?:\s+[A-Z]\.?(?=\s))?(?:\s+{_NAME}){{0,2}})"
)
_NOT_A_NAME = frozenset(
    {"The", "A", "An", "Here", "There", "Sorry", "Not", "Happy", "Glad", "Going", "Looking",
     "Trying", "Sure", "Fine", "Good", "Okay", "Ok", "Interested", "Writing", "Calling",
     "Customer", "Sir", "Madam", "All", "Team", "Support", "Hi", "Hello", "Thanks", "Thank"}
)
_STREET_TYPES = (
    r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|place|pl|square|sq|"
    r"terrace|way|highway|hwy|parkway|pkwy|circle|cir|crescent|close|row|alley|trail|plaza"
)
_STREET = re.compile(
    # "221B Baker Street", "1600 Pennsylvania Ave NW, Suite 5"
    rf"\b\d{{1,6}}[A-Za-z]?\s+(?:{_NAME}\.?\s+){{0,4}}(?i:{_STREET_TYPES})\b"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
    r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|floor|fl|#)\.?\s*#?\w+)?"
    # "Hauptstraße 5", "Storgatan 12", "Keizersgracht 123"
    r"|\b[A-ZÀ-Þ][^\W\d_]*(?i:straße|strasse|gasse|weg|allee|platz|gatan|vägen|gade|vej|katu|tie|"
    r"laan|straat|gracht|plein|utca|ulica)\s+\d{1,5}[a-zA-Z]?\b"
    # "rue de la Paix 12", "Calle Mayor 5", "Via Roma 10"
    r"|\b(?i:rue|avenue|calle|avenida|via|viale|rua|piazza|plaza|paseo|carrer)\s+(?:[^\W\d_]+\s+){0,4}\d{1,5}\b"
)

_NON_DIGIT = re.compile(r"\D+")
_CARD_PREFIX = re.compile(r"^(?:4|5[0-9]|2[2-7]|3[0-9]|6|1800|2131)")


# --- validators ------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def ssn_valid(area: str, group: str, serial: str) -> bool:
    return (
        area not in ("000", "666")
        and not area.startswith("9")
        and group != "00"
        and serial != "0000"
        # published in advertising and on sample cards, never issued to a person
        and f"{area}{group}{serial}" not in ("078051120", "219099999", "123456789")
    )


def iban_valid(candidate: str) -> bool:
    from stdnum import iban

    return bool(iban.is_valid(candidate))


@lru_cache(maxsize=1)
def _phonenumbers() -> Any:
    import phonenumbers

    return phonenumbers


# --- entity scanners -------------------------------------------------------

Span = tuple[int, int, float]


def _emails(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _EMAIL_AT.finditer(text):
        # expand around each "@" instead of scanning the whole text with a
        # pattern that would retry the local part at every position
        at = m.start()
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        if domain is None:
            continue
        # a line break right before the "@" is passed over, as `$` would
        end = at - 1 if at and text[at - 1] == "\n" else at
        local = _EMAIL_LOCAL_REVERSED.match(text[max(0, at - 64) : end][::-1])
        if local is not None:
            start = end - local.end()
            while start < at and text[start] in ".-":
                start += 1
            if start < at:
                spans.append((start, domain.end(), 0.95))
    return spans


def _has_hex_colon(text: str) -> bool:
    i = text.find(":")
    while i != -1:
        if 0 < i < len(text) - 1 and text[i - 1] in _HEX and text[i + 1] in _HEX:
            return True
        i = text.find(":", i + 1)
    return False


def _ipv6s(text: str) -> list[Span]:
    spans: list[Span] = []
    if not _has_hex_colon(text):
        return spans
    for m in _IPV6.finditer(text):
        value = m.group()
        if sum(c.isalnum() for c in value) < 3 and value != "::1":
            continue
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        spans.append((m.start(), m.end(), 0.9))
    return spans


def _ibans(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _IBAN.finditer(text):
        if m.start() and (text[m.start() - 1].isalnum()):
            continue
        value = m.group()
        # the pattern may run into a following word; shrink until the checksum holds
        while len(value) >= 15:
            if iban_valid(value):
                spans.append((m.start(), m.start() + len(value), 0.95))
                break
            value = value[:-1].rstrip()
    return spans


def _api_keys(text: str) -> list[Span]:
    spans: list[Span] = []
    lowered: str | None = None
    for name, triggers, pattern, score in _API_KEY_RULES:
        if name == "assigned":
            lowered = analyse(text)[0] if lowered is None else lowered
            if not any(t in lowered for t in triggers):
                continue
        elif not any(t in text for t in triggers):
            continue
        for m in pattern.finditer(text):
            group = "value" if "value" in pattern.groupindex else 0
            spans.append((m.start(group), m.end(group), score))
    return spans


def _persons(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _PERSON.finditer(text):
        name = m.group("name")
        first = name.split()[0]
        if first in _NOT_A_NAME:
            continue
        spans.append((m.start("name"), m.end("name"), 0.6))
    return spans


def _streets(text: str) -> list[Span]:
    return [(m.start(), m.end(), 0.6) for m in _STREET.finditer(text)]


def _card_score(raw: str, digits: str) -> float:
    if not 12 <= len(digits) <= 19 or not _CARD_PREFIX.match(digits):
        return 0.0
    groups = _SEPARATORS.split(raw)
    if len(groups) > 1 and not all(len(g) in (4, 5, 6) for g in groups[:-1]):
        return 0.0
    return 0.95 if luhn_valid(digits) else 0.0


@lru_cache(maxsize=4096)
def _phonenumbers_score(raw: str, region: str) -> float:
    pn = _phonenumbers()
    try:
        parsed = pn.parse(raw, None if raw.startswith("+") else region)
    except pn.NumberParseException:
        return 0.0
    if pn.is_valid_number(parsed):
        return 0.9
    return 0.5 if pn.is_possible_number(parsed) else 0.0


def _phone_score(raw: str, digits: str, region: str) -> float:
    n = len(digits)
    if not 6 <= n <= 15:
        return 0.0
    international = raw.startswith("+") or (raw.startswith("00") and n >= 10)
    groups = [g for g in _NON_DIGIT.split(raw) if g]
    separated = len(groups) > 1
    if international:
        # a known country code and a plausible length; a full parse per number
        # would cost more than every other check on a prompt together
        national = digits if raw.startswith("+") else digits[2:]
        known = _phonenumbers().COUNTRY_CODE_TO_REGION_CODE
        if any(int(national[:k]) in known for k in (1, 2, 3)) and 8 <= len(national) <= 15:
            return 0.85
        return 0.0
    if separated and n >= 7 and max(len(g) for g in groups) <= 5:
        # "1 000 000" and "12 345" read as quantities, not as a number to dial
        if groups[0][0] != "0" and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
            return 0.35
        return 0.6
    if n >= 10 and not separated:
        return 0.7 if _phonenumbers_score(raw, region) >= 0.9 else 0.3
    return 0.3


def _cued(text: str, start: int) -> bool:
    window = text[max(0, start - 40) : start].lower()
    return any(cue in window for cue in _PHONE_CUES)


def _number_runs(text: str) -> list[tuple[int, int]]:
    """Spans of digit-and-punctuation runs of six or more characters ending in a digit."""
    spans = []
    for m in _COARSE_NUMBER.finditer(text):
        end = m.start() + len(m.group().rstrip(_RUN_TAIL))
        if end - m.start() >= 6:
            spans.append((m.start(), end))
    return spans


def _numbers(text: str, wanted: frozenset[str], region: str) -> list[tuple[str, Span]]:
    out: list[tuple[str, Span]] = []
    for run_start, run_end in _number_runs(text):
        for m in _NUMBERISH.finditer(text, run_start, run_end):
            raw = m.group()
            start, end = m.start(), m.end()
            ext = _EXTENSION.match(text, end)
            if ext is not None:
                end = ext.end()
            if end < len(text) and (text[end].isalnum() or text[end] in "@_"):
                continue  # part of a word, an id or an address
            if start > 0 and (text[start - 1].isalpha() or text[start - 1] in "@_/"):
                if not (start > 1 and text[start - 2] == "\\"):  # an escaped "\n" is a line break
                    continue
            digits = _NON_DIGIT.sub("", raw)
            if len(digits) < 6:
                continue
            kind, score = _classify(text, raw, digits, start, end, wanted, region)
            if kind:
                out.append((kind, (start, end, score)))
    return out


def _classify(
    text: str, raw: str, digits: str, start: int, end: int, wanted: Collection[str], region: str
) -> tuple[str, float]:
    if "ip_address" in wanted and _IPV4_SHAPE.match(raw):
        try:
            ipaddress.IPv4Address(raw)
        except ValueError:
            return "", 0.0
        if _VERSION_CUE.search(text, max(0, start - 12), start):
            return "", 0.0
        return "ip_address", 0.9
    ssn = _SSN_SHAPE.match(raw)
    if ssn is not None and ssn_valid(ssn.group(1), ssn.group(3), ssn.group(4)):
        cued = _SSN_CUE.search(text, max(0, start - 40), start) is not None
        if ssn.group(2) == "-" or cued:
            return ("ssn", 0.95 if cued else 0.85) if "ssn" in wanted else ("", 0.0)
    if "credit_card" in wanted and not raw.startswith(("+", "(")):
        card = _card_score(raw, digits)
        if card:
            return "credit_card", card
    if "phone" not in wanted or _DATE_SHAPE.match(raw):
        return "", 0.0
    score = _phone_score(raw, digits, region)
    if score < DEFAULT_MIN_SCORE or len(_NON_DIGIT.split(raw)) <= 2:
        cued = _cued(text, start)
        if cued and score:
            score = min(0.95, score + 0.35)
        elif not cued and _FOLLOWED_BY_NAME.match(text, end):
            # "2910 4010 Rockford Road": building and house numbers, not a phone
            return "", 0.0
    return ("phone", score) if score else ("", 0.0)


# --- public API ------------------------------------------------------------


_SIMPLE: tuple[tuple[str, Callable[[str], list[Span]]], ...] = (
    ("email", _emails),
    ("iban", _ibans),
    ("api_key", _api_keys),
    ("person", _persons),
    ("street_address", _streets),
)
_NUMBER_KINDS = frozenset({"phone", "credit_card", "ssn", "ip_address"})


def _builtin(
    text: str, simple: tuple[tuple[str, Callable[[str], list[Span]]], ...], wanted: frozenset[str], region: str
) -> list[Finding]:
    found: list[tuple[str, Span]] = []
    for kind, fn in simple:
        found.extend((kind, span) for span in fn(text))
    if "ip_address" in wanted:
        found.extend(("ip_address", span) for span in _ipv6s(text))
    if not wanted.isdisjoint(_NUMBER_KINDS):
        numbers = _numbers(text, wanted, region)
        if numbers and found:
            # a digit run inside an IBAN, a key or an email is not a phone number
            taken = Coverage(0, len(text))
            for _, (start, end, _score) in found:
                taken.take(start, end)
            found.extend((kind, p) for kind, p in numbers if not taken.overlaps(p[0], p[1]))
        else:
            found.extend(numbers)
    return [Finding(kind, s, e, sc, LABELS[kind]) for kind, (s, e, sc) in found]


_PRESIDIO_NAMES = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "ssn": "US_SSN",
    "credit_card": "CREDIT_CARD",
    "iban": "IBAN_CODE",
    "ip_address": "IP_ADDRESS",
    "person": "PERSON",
    "street_address": "LOCATION",
}


@lru_cache(maxsize=1)
def _presidio_engine() -> Any:
    try:
        from presidio_analyzer import AnalyzerEngine
    except ImportError as e:
        raise DetectorUnavailable(
            "the PII backend 'presidio' needs the package presidio-analyzer "
            "(pip install presidio-analyzer and a spaCy model)"
        ) from e
    return AnalyzerEngine()


def _presidio(text: str, wanted: Collection[str]) -> list[Finding]:
    engine = _presidio_engine()
    back = {v: k for k, v in _PRESIDIO_NAMES.items()}
    names = [_PRESIDIO_NAMES[k] for k in wanted if k in _PRESIDIO_NAMES]
    results = engine.analyze(text=text, entities=names, language="en")
    return [
        Finding(back[r.entity_type], r.start, r.end, float(r.score), LABELS[back[r.entity_type]])
        for r in results
        if r.entity_type in back
    ]


def scanner(
    entities: Collection[str] | None = None,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    region: str = DEFAULT_REGION,
    backend: str = "builtin",
) -> Callable[[str], Verdict]:
    """`scan` with its settings checked once, for a guardrail that runs on every request."""
    wanted = DEFAULT_ENTITIES if entities is None else frozenset(entities)
    unknown = wanted - PII_ENTITIES
    if unknown:
        raise ValueError(
            f"unknown PII entity {sorted(unknown)[0]!r}; known entities: {', '.join(sorted(PII_ENTITIES))}"
        )
    if backend == "builtin":
        simple = tuple((kind, fn) for kind, fn in _SIMPLE if kind in wanted)
        find: Callable[[str], list[Finding]] = lambda text: _builtin(text, simple, wanted, region)  # noqa: E731
    elif backend == "presidio":
        find = lambda text: _presidio(text, wanted)  # noqa: E731
    else:
        raise ValueError(f"unknown PII backend {backend!r}; use 'builtin' or 'presidio'")

    def scan_text(text: str) -> Verdict:
        findings = find(text)
        if not findings:
            return passing()
        kept = sorted((f for f in findings if f.score >= min_score), key=lambda f: (f.start, -f.end))
        if not kept:
            return passing()
        return Verdict(
            fired=True,
            score=max(f.score for f in kept),
            findings=tuple(kept),
            reason=f"found {count_kinds(kept)}",
        )

    return scan_text


def scan(
    text: str,
    entities: Collection[str] | None = None,
    *,
    min_score: float = DEFAULT_MIN_SCORE,
    region: str = DEFAULT_REGION,
    backend: str = "builtin",
) -> Verdict:
    """Find PII of the given entity kinds (None: `DEFAULT_ENTITIES`).

    `region` is the ISO country assumed for phone numbers written without a
    country code. Findings scoring below `min_score` are dropped.
    """
    return scanner(entities, min_score=min_score, region=region, backend=backend)(text)
