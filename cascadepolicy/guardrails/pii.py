"""PII detector: finds personal data and secrets in a prompt or an answer.

Sits in the guardrail stage (input and output). Pure and offline: every
pattern is compiled at import, and the expensive validators (phonenumbers,
IBAN checksum, `ipaddress`) only see the few candidates a cheap regex let
through. Structured identifiers are validated (Luhn, IBAN mod-97, SSN area
rules, address parsing); person names and street addresses are heuristic and
opt-in (see docs/guardrails.md for measured precision and recall).
"""

from __future__ import annotations

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
from cascadepolicy.guardrails.pii_iban import ibans
from cascadepolicy.guardrails.pii_net import emails, ipv4s, ipv6s

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

_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}$")
# area, group and serial with one separator used throughout, or none
_SSN_SHAPE = re.compile(r"(\d{3})([- .]?)(\d{2})\2(\d{4})$")
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
# Words that say the next number is one to dial. Whole words: "ring" is not in "string", "tel" not
# in "hotel". "number" alone names order, tracking and invoice numbers too: only a person's number.
_PHONE_CUE = re.compile(
    # an escaped "\n" (backslash, n) before the word is a line break, as in JSON-ish text
    r"(?i)(?:\b|(?<=\\n))(?:(?:tele)?phone|tel|mobile|cell|fax|desk|contact|landline|hotline|whatsapp|sms|"
    r"(?:call|text|message|ring|dial|reach|answer)(?:s|ed|ing)?)\b"
    r"|\b(?:my|your|his|her|our|their)\s+(?:new\s+|direct\s+|home\s+|work\s+)?(?:number|no\.|#)(?!\w)"
)
# a number glued to letters by a hyphen (SKU-3269-910, INV-2015-0042), a signed or a money amount
_NOT_AFTER = frozenset("-$€£¥₹")
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
# Issuer identification numbers (ISO/IEC 7812) of the card schemes, and the lengths each issues:
# (prefix, prefix, ...) -> lengths. A prefix range "2221-2720" is listed by its leading digits.
_IIN_LENGTHS: tuple[tuple[tuple[str, ...], frozenset[int]], ...] = (
    (("4",), frozenset({13, 16, 19})),  # Visa
    (("51", "52", "53", "54", "55", "2221", "2222", "2223", "2224", "2225", "2226", "2227", "2228",
      "2229", "223", "224", "225", "226", "227", "228", "229", "23", "24", "25", "26", "270", "271",
      "2720"), frozenset({16})),  # Mastercard
    (("34", "37"), frozenset({15})),  # American Express
    (("300", "301", "302", "303", "304", "305", "36", "38", "39"), frozenset(range(14, 20))),  # Diners Club
    (("6011", "644", "645", "646", "647", "648", "649", "65", "62", "60", "81", "82"), frozenset(range(16, 20))),  # Discover, UnionPay, RuPay
    (("35",), frozenset(range(16, 20))),  # JCB (3528-3589, and test generators use all of 35)
    (("1800", "2131"), frozenset({15})),  # JCB, early ranges
    (("2200", "2201", "2202", "2203", "2204"), frozenset(range(16, 20))),  # Mir
)
# Maestro, issued from 12 digits
_MAESTRO: tuple[tuple[str, ...], frozenset[int]] = (("50", "56", "57", "58", "63", "67"), frozenset(range(12, 20)))
# A bare run of 12 to 15 digits that only a Maestro range explains is as often an id or a
# timestamp that passes Luhn by chance (one in ten): it counts after a word about cards.
_SHORT_CARD_ONLY_WITH_CUE = 15
_CARD_CUE = re.compile(r"(?i)\b(?:card|cards|cc|credit|debit|visa|maestro|mastercard|amex|charge|pay|paid)\b")


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


@lru_cache(maxsize=1)
def _phonenumbers() -> Any:
    import phonenumbers

    return phonenumbers


# --- entity scanners -------------------------------------------------------

Span = tuple[int, int, float]


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


def _issued(digits: str, table: tuple[tuple[tuple[str, ...], frozenset[int]], ...]) -> bool:
    return any(len(digits) in lengths and digits.startswith(prefixes) for prefixes, lengths in table)


def _card_score(raw: str, digits: str) -> float:
    if not (_issued(digits, _IIN_LENGTHS) or _issued(digits, (_MAESTRO,))):
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
    if separated and (
        any(len(g) == 1 for g in groups[1:])
        or (len(groups) == 2 and "." in raw)
    ):
        # a single digit after the first group is a version (120.0.4845.51) or an ISBN, and two
        # dotted groups are a decimal; no numbering plan writes a phone number so
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
    return _PHONE_CUE.search(text, max(0, start - 40), start) is not None


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
            if start > 0 and (text[start - 1].isalpha() or text[start - 1] in "@_/" or text[start - 1] in _NOT_AFTER):
                if not (start > 1 and text[start - 2] == "\\"):  # an escaped "\n" is a line break
                    continue
            digits = _NON_DIGIT.sub("", raw)
            if len(digits) < 6:
                continue
            kind, score = _classify(text, raw, digits, start, end, wanted, region)
            if kind and score >= DEFAULT_MIN_SCORE:
                out.append((kind, (start, end, score)))
                continue
            split = _partition(text, start, m.end(), end, wanted, region)
            if split:
                out.extend(split)
            elif kind:
                out.append((kind, (start, end, score)))
    return out


# a run of at most this many space-separated groups is tried as several numbers
_MAX_GROUPS = 16


def _partition(
    text: str, start: int, raw_end: int, end: int, wanted: Collection[str], region: str
) -> list[tuple[str, Span]]:
    """The numbers side by side in one run of digit groups (two card numbers separated by a space),
    when the run splits at spaces into pieces that are each a validated number; [] otherwise.

    Only numbers whose form carries its own proof count (a Luhn-valid card, an SSN, a phone number
    with a country code or one phonenumbers validates): a long grouped id such as a parcel
    tracking number splits into plausible-looking pieces too."""
    cuts = [i for i in range(start + 1, raw_end - 1)
            if text[i] == " " and text[i - 1].isdigit() and text[i + 1] in "+0123456789"]
    if not cuts or len(cuts) >= _MAX_GROUPS:
        return []
    starts = [start] + [c + 1 for c in cuts]
    ends = cuts + [raw_end]
    n = len(starts)
    # best[i]: the fewest pieces covering groups i.. to the end, and the first piece's (end group, kind, score)
    best: list[tuple[int, int, str, float] | None] = [None] * n + [(0, n, "", 0.0)]
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n + 1):
            if (i, j) == (0, n) or best[j] is None:
                continue
            raw = text[starts[i] : ends[j - 1]]
            digits = _NON_DIGIT.sub("", raw)
            if len(digits) > 19:
                break
            if len(digits) < 6:
                continue
            kind, score = _classify(text, raw, digits, starts[i], end if j == n else ends[j - 1], wanted, region)
            if not _proven(kind, score, raw, region):
                continue
            rest = best[j]
            assert rest is not None
            count = 1 + rest[0]
            current = best[i]
            if current is None or count < current[0]:
                best[i] = (count, j, kind, score)
    out: list[tuple[str, Span]] = []
    i = 0
    while i < n:
        step = best[i]
        if step is None:
            return []
        _, j, kind, score = step
        out.append((kind, (starts[i], end if j == n else ends[j - 1], score)))
        i = j
    return out


def _proven(kind: str, score: float, raw: str, region: str) -> bool:
    if kind in ("credit_card", "ssn"):
        return score >= DEFAULT_MIN_SCORE
    if kind == "phone":
        return _grouped_as_its_plan(raw, region)
    return False


@lru_cache(maxsize=4096)
def _grouped_as_its_plan(raw: str, region: str) -> bool:
    """A valid phone number whose digit groups are the ones its numbering plan writes
    (phonenumbers' national or international format): "(403) 733-2608", not "4037 3326 08"."""
    pn = _phonenumbers()
    try:
        parsed = pn.parse(raw, None if raw.startswith("+") else region)
    except pn.NumberParseException:
        return False
    if not pn.is_valid_number(parsed):
        return False
    groups = [len(g) for g in _NON_DIGIT.split(raw) if g]
    for fmt in (pn.PhoneNumberFormat.NATIONAL, pn.PhoneNumberFormat.INTERNATIONAL):
        plan = [len(g) for g in _NON_DIGIT.split(pn.format_number(parsed, fmt)) if g]
        if groups == plan or groups == plan[1:] or groups[1:] == plan[1:]:
            return True
    return False


def _classify(
    text: str, raw: str, digits: str, start: int, end: int, wanted: Collection[str], region: str
) -> tuple[str, float]:
    if _IPV4_SHAPE.match(raw):
        return "", 0.0  # a dotted quad is an address or a version (`pii_net.ipv4s`), never a phone
    ssn = _SSN_SHAPE.match(raw)
    if ssn is not None and ssn_valid(ssn.group(1), ssn.group(3), ssn.group(4)):
        cued = _SSN_CUE.search(text, max(0, start - 40), start) is not None
        if ssn.group(2) or cued:
            # 3-2-4 groups are the SSN's own layout; a bare run of nine digits needs the cue
            score = 0.95 if cued else (0.85 if ssn.group(2) == "-" else 0.7)
            return ("ssn", score) if "ssn" in wanted else ("", 0.0)
    if "credit_card" in wanted and not raw.startswith(("+", "(")):
        card = _card_score(raw, digits)
        if card and (
            len(digits) > _SHORT_CARD_ONLY_WITH_CUE
            or len(_NON_DIGIT.split(raw)) > 1
            or _issued(digits, _IIN_LENGTHS)
            or _CARD_CUE.search(text, max(0, start - 40), start) is not None
        ):
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
    ("email", emails),
    ("iban", ibans),
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
        found.extend(("ip_address", span) for span in ipv6s(text))
        found.extend(("ip_address", span) for span in ipv4s(text))
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
