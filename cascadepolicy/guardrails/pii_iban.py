"""IBANs for the PII detector, by the SWIFT IBAN registry's length per country.

Sits under `pii.py`, which calls `ibans` on every text it scans. An IBAN is a
country code, two check digits and a BBAN whose length and character classes
the registry fixes per country (15 characters in Norway, 16 in Belgium, up to
34). A candidate is any upper-case country code and check digits
followed by letters and digits in groups joined by single spaces or hyphens;
the country's length says where it ends, so a following word or a second IBAN
is never swallowed. It must then pass python-stdnum's ISO 13616 check: the
BBAN structure of the registry and the mod-97 check digits. Countries' own
national check digits inside the BBAN are not required: they are a bank's
internal check, and not every issuer's numbers satisfy stdnum's version.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

Span = tuple[int, int, float]

# upper case, as the standard prints it: a pattern that starts with a character class is searched
# in C, and ordinary words rarely start with two capitals and two digits
_CANDIDATE = re.compile(r"[A-Z]{2}[0-9]{2}(?:[ -]?[A-Za-z0-9]){11,30}")
_SEPARATOR = re.compile(r"[ -]")
_ENTRY = re.compile(r'^([A-Z]{2}) .*?bban="([^"]+)"', re.MULTILINE)
_PART = re.compile(r"(\d+)!?[nac]")


@lru_cache(maxsize=1)
def lengths() -> dict[str, int]:
    """Country code -> IBAN length, from the registry file python-stdnum ships (`stdnum/iban.dat`)."""
    table = resources.files("stdnum").joinpath("iban.dat").read_text(encoding="utf-8")
    return {
        cc: 4 + sum(int(n) for n in _PART.findall(bban)) for cc, bban in _ENTRY.findall(table)
    }


def valid(compact: str) -> bool:
    """ISO 13616: the registry's BBAN format for the country and the mod-97 check digits."""
    from stdnum import iban

    return bool(iban.is_valid(compact, check_country=False))


def ibans(text: str) -> list[Span]:
    spans: list[Span] = []
    table = lengths()
    pos = 0
    while (m := _CANDIDATE.search(text, pos)) is not None:
        start = pos = m.start()
        pos += 1
        if start and text[start - 1].isalnum():
            continue
        want = table.get(text[start : start + 2])
        if want is None:
            continue
        end = _end_of(text, start, m.end(), want)
        if end is None:
            continue
        compact = _SEPARATOR.sub("", text[start:end]).upper()
        if valid(compact):
            spans.append((start, end, 0.95))
            pos = end
    return spans


def _end_of(text: str, start: int, limit: int, want: int) -> int | None:
    """Where the IBAN that starts at `start` ends after `want` letters and digits; None when the
    candidate is shorter or its last character runs on into a longer word."""
    count = 0
    for i in range(start, limit):
        if text[i].isalnum():
            count += 1
            if count == want:
                end = i + 1
                return None if end < len(text) and text[end].isalnum() else end
    return None
