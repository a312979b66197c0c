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
from collections.abc import Callable, Collection, Sequence
from functools import lru_cache
from typing import Any

from cascadepolicy.guardrails.base import (
    DetectorUnavailable,
    Finding,
    Verdict,
    count_kinds,
    passing,
)

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

_EMAIL = re.compile(
    r"(?<![\w.%+-])[\w.%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:){1,7}(?::|[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])"
)
_VERSION_CUE = re.compile(r"(?i)(?:version|release|build|v\.?)\s*$")
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_SSN_CUE = re.compile(r"(?i)\b(?:ssn|ss#|social\s+security|tax\s*id|tin)\b")
# Cheap candidate scan for phone and card numbers: digit groups joined by one
# separator; a bracketed trunk prefix such as "(0)" may sit between groups.
_NUMBERISH = re.compile(
    r"(?:\+\s?|(?<![\w+]))(?:\(\d{1,5}\)\s?)?\d+(?:(?:[ .\-]|\s?\(\d{1,5}\)\s?)\d+)*"
    r"(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?"
)
_EXTENSION = re.compile(r"\s?(?:x|ext\.?|extension)\s?\d{1,6}$")
_DATE_TIME = re.compile(
    r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b"
    r"|\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\b"
    r"|\b\d{1,2}[/.]\d{1,2}[/.](?:19|20)\d{2}\b"
)
_PHONE_CUE = re.compile(
    r"(?i)(?:phone|tel\b|telephone|mobile|cell|call|fax|desk|reach|contact|dial|ring|"
    r"sms|text|messages?|whats\s?app|number|no\.|#|registered)[^\n\w]{0,3}(?:\w+[^\n\w]{1,3}){0,3}$"
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_API_KEY = re.compile(
    r"(?P<openai>\bsk-(?:proj-|svcacct-|admin-|ant-[a-z0-9]+-)?[A-Za-z0-9_\-]{20,})"
    r"|(?P<aws>\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b)"
    r"|(?P<github>\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}))"
    r"|(?P<slack>\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+)"
    r"|(?P<google>\bAIza[0-9A-Za-z_\-]{35})"
    r"|(?P<stripe>\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,})"
    r"|(?P<huggingface>\bhf_[A-Za-z0-9]{30,})"
    r"|(?P<jwt>\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})"
    r"|(?P<private_key>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----)"
    r"|(?i:(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|password|passwd)"
    r"\s*[:=]\s*[\"']?)(?P<assigned>[A-Za-z0-9_\-/+=.]{12,})",
    re.DOTALL,
)
_API_KEY_SCORES = {"assigned": 0.7, "jwt": 0.9}
_NAME = r"[A-ZÀ-ÖØ-Þ][^\W\d_]+(?:[-'’][A-ZÀ-ÖØ-Þ]?[^\W\d_]+)?"
_PERSON = re.compile(
    r"(?:\b(?i:mr|mrs|ms|miss|mx|dr|prof|sir|madam|dame|lord|lady)\.?\s+"
    r"|\b(?i:my\s+name\s+is|name\s*:|dear|signed,?|regards,|sincerely,|thanks,|i\s+am|i'm|"
    r"this\s+is|call\s+me|ask\s+for|speak\s+to|talk\s+to|contact)\s*)"
    rf"(?P<name>{_NAME}(?:\s+[A-Z]\.?)?(?:\s+{_NAME}){{0,2}})"
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
    rf"\b\d{{1,6}}[A-Za-z]?\s+(?:{_NAME}\.?\s+){{0,4}}(?i:{_STREET_TYPES})\b\.?"
    r"(?:\s+(?:N|S|E|W|NE|NW|SE|SW)\b)?"
    r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|floor|fl|#)\.?\s*#?\w+)?"
    # "Hauptstraße 5", "Storgatan 12", "Keizersgracht 123"
    r"|\b[A-ZÀ-Þ][^\W\d_]*(?i:straße|strasse|gasse|weg|allee|platz|gatan|vägen|gade|vej|katu|tie|"
    r"laan|straat|gracht|plein|utca|ulica)\s+\d{1,5}[a-zA-Z]?\b"
    # "rue de la Paix 12", "Calle Mayor 5", "Via Roma 10"
    r"|\b(?i:rue|avenue|calle|avenida|via|viale|rua|piazza|plaza|paseo|carrer)\s+(?:[^\W\d_]+\s+){0,4}\d{1,5}\b"
)

_DIGIT = re.compile(r"\d")
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
    if "@" not in text:
        return []
    return [(m.start(), m.end(), 0.95) for m in _EMAIL.finditer(text)]


def _ips(text: str) -> list[Span]:
    spans: list[Span] = []
    if "." in text:
        for m in _IPV4.finditer(text):
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            if _VERSION_CUE.search(text, max(0, m.start() - 12), m.start()):
                continue
            spans.append((m.start(), m.end(), 0.9))
    if "::" in text or text.count(":") >= 5:
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


def _ssns(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _SSN.finditer(text):
        area, sep, group, serial = m.groups()
        if not ssn_valid(area, group, serial):
            continue
        cued = bool(_SSN_CUE.search(text, max(0, m.start() - 40), m.start()))
        if sep == "-":
            score = 0.95 if cued else 0.85
        elif cued:
            score = 0.85
        else:
            continue  # nine bare digits or "123 45 6789" are as likely anything else
        spans.append((m.start(), m.end(), score))
    return spans


def _ibans(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _IBAN.finditer(text):
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
    for m in _API_KEY.finditer(text):
        group = m.lastgroup or "assigned"
        spans.append((m.start(group), m.end(group), _API_KEY_SCORES.get(group, 0.95)))
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
    groups = re.split(r"[ .\-]", raw)
    if len(groups) > 1 and not all(len(g) in (4, 5, 6) for g in groups[:-1]):
        return 0.0
    return 0.95 if luhn_valid(digits) else 0.0


def _phone_score(raw: str, digits: str, cued: bool, region: str) -> float:
    pn = _phonenumbers()
    n = len(digits)
    international = raw.startswith("+") or (raw.startswith("00") and n >= 10)
    groups = [g for g in re.split(r"[^\d]+", raw) if g]
    separated = len(groups) > 1
    score = 0.0
    if n >= 7:
        try:
            parsed = pn.parse(raw, None if raw.startswith("+") else region)
        except pn.NumberParseException:
            parsed = None
        if parsed is not None and pn.is_valid_number(parsed):
            score = 0.9 if (separated or international) else 0.7
        elif parsed is not None and pn.is_possible_number(parsed) and separated:
            score = 0.7
    if score == 0.0 and separated and 7 <= n <= 15 and max(len(g) for g in groups) <= 5:
        score = 0.6
        # "1 000 000" and "12 345" read as quantities, not as a number to dial
        if groups[0][0] != "0" and len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:]):
            score = 0.35
    if score == 0.0 and n >= 6 and (separated or n >= 10):
        score = 0.3
    if international and score < 0.6 and 8 <= n <= 15:
        score = 0.6
    if cued and score:
        score = min(0.95, score + 0.35)
    return score


def _numbers(text: str, want_phone: bool, want_card: bool, region: str) -> tuple[list[Span], list[Span]]:
    phones: list[Span] = []
    cards: list[Span] = []
    if not _DIGIT.search(text):
        return phones, cards
    masked = _DATE_TIME.sub(lambda m: " " * len(m.group()), text)
    for m in _NUMBERISH.finditer(masked):
        raw = m.group()
        start, end = m.start(), m.end()
        if end < len(text) and (text[end].isalnum() or text[end] in "@_"):
            continue  # part of a word, an id or an address
        if start > 0 and (text[start - 1].isalpha() or text[start - 1] in "@_/"):
            continue
        digits = re.sub(r"\D", "", _EXTENSION.sub("", raw))
        if len(digits) < 6:
            continue
        if want_card and not raw.startswith(("+", "(")):
            card = _card_score(raw, digits)
            if card:
                cards.append((start, end, card))
                continue
        if want_phone:
            cued = bool(_PHONE_CUE.search(text, max(0, start - 40), start))
            score = _phone_score(raw, digits, cued, region)
            if score:
                phones.append((start, end, score))
    return phones, cards


# --- public API ------------------------------------------------------------


def _builtin(text: str, wanted: Collection[str], region: str) -> list[Finding]:
    found: list[tuple[str, Span]] = []

    def add(kind: str, spans: Sequence[Span]) -> None:
        found.extend((kind, s) for s in spans)

    simple: dict[str, Callable[[str], list[Span]]] = {
        "email": _emails,
        "ip_address": _ips,
        "ssn": _ssns,
        "iban": _ibans,
        "api_key": _api_keys,
        "person": _persons,
        "street_address": _streets,
    }
    for kind, fn in simple.items():
        if kind in wanted:
            add(kind, fn(text))
    if "phone" in wanted or "credit_card" in wanted:
        phones, cards = _numbers(text, "phone" in wanted, "credit_card" in wanted, region)
        add("credit_card", cards)
        # a digit run already explained by a stronger identifier is not a phone
        taken = [s for k, s in found if k in ("ssn", "ip_address", "iban", "credit_card", "api_key")]
        add("phone", [p for p in phones if not any(p[0] < t[1] and t[0] < p[1] for t in taken)])
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
    wanted = DEFAULT_ENTITIES if entities is None else frozenset(entities)
    unknown = wanted - PII_ENTITIES
    if unknown:
        raise ValueError(
            f"unknown PII entity {sorted(unknown)[0]!r}; known entities: {', '.join(sorted(PII_ENTITIES))}"
        )
    if backend == "builtin":
        findings = _builtin(text, wanted, region)
    elif backend == "presidio":
        findings = _presidio(text, wanted)
    else:
        raise ValueError(f"unknown PII backend {backend!r}; use 'builtin' or 'presidio'")
    kept = sorted((f for f in findings if f.score >= min_score), key=lambda f: (f.start, -f.end))
    if not kept:
        return passing()
    return Verdict(
        fired=True,
        score=max(f.score for f in kept),
        findings=tuple(kept),
        reason=f"found {count_kinds(kept)}",
    )
