"""Generated corpora for the PII benchmark: held-out PII rows and benign look-alike text.

    python benchmarks/pii_corpora.py [--seed N] [--rows N]   # prints a sample of each

Used by `benchmarks/guardrail_eval.py` (and `tests/guardrails/test_pii_benign.py`). Nothing here
comes from the evaluation files: every value is built from its format's specification (Luhn and
IIN prefixes, the SWIFT IBAN registry through python-stdnum, the SSA's SSN rules, phonenumbers'
example numbers and formats, RFC 4291 and RFC 5321/6531 text forms), and every sentence template
was written for this file.

`held_out(seed, rows)`: rows in the shape of `pii_dev.jsonl` (`text`, `spans` with `type`,
`start`, `end`), so the same span-matching evaluation applies.
`benign(seed, docs)`: texts with no PII at all but with the numbers that look like it: source
code, arithmetic, prices, dates and times, version numbers, order and tracking numbers, hex
hashes, UUIDs, product codes. Any finding on it is a false positive.
"""

from __future__ import annotations

import argparse
import random
import string
import uuid
from typing import Any

import phonenumbers
from stdnum import iban as stdnum_iban

from cascadepolicy.guardrails import pii, pii_iban

# --- values from their specifications ------------------------------------------------------

_CARD_PREFIXES = (("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16),
                  ("65", 16), ("3528", 16), ("36", 14), ("4", 13), ("4", 19))


def card(rng: random.Random) -> str:
    prefix, length = rng.choice(_CARD_PREFIXES)
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    digits = next(body + d for d in string.digits if pii.luhn_valid(body + d))
    style = rng.randrange(3)
    if style == 0:
        return digits
    if length == 15:
        parts = [digits[:4], digits[4:10], digits[10:]]
    else:
        parts = [digits[i : i + 4] for i in range(0, length, 4)]
    return (" " if style == 1 else "-").join(parts)


def ssn(rng: random.Random) -> str:
    while True:
        area = rng.randrange(1, 900)
        if area != 666:
            break
    parts = (f"{area:03d}", f"{rng.randrange(1, 100):02d}", f"{rng.randrange(1, 10000):04d}")
    return rng.choice(("-", "-", " ", ".")).join(parts)


_BBAN_CLASSES = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}


def iban(rng: random.Random) -> str:
    table = pii_iban.lengths()
    country = rng.choice(sorted(table))
    from stdnum import numdb

    structure = numdb.get("iban").info(country)[0][1]["bban"]
    bban = "".join(
        rng.choice(_BBAN_CLASSES[kind]) for n, kind in _bban_parts(structure) for _ in range(n)
    )
    value = country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban
    style = rng.randrange(3)
    if style == 0:
        return value
    return (" " if style == 1 else "-").join(value[i : i + 4] for i in range(0, len(value), 4))


def _bban_parts(structure: str) -> list[tuple[int, str]]:
    import re

    return [(int(n), kind) for n, kind in re.findall(r"(\d+)!?([nac])", structure)]


_PHONE_REGIONS = ("US", "US", "US", "GB", "DE", "FR", "IN", "AU", "CA", "BR", "JP", "ES", "IT", "NL", "MX", "ZA")


def phone(rng: random.Random) -> str:
    pn = phonenumbers
    region = rng.choice(_PHONE_REGIONS)
    kind = rng.choice((pn.PhoneNumberType.FIXED_LINE, pn.PhoneNumberType.MOBILE))
    example = pn.example_number_for_type(region, kind) or pn.example_number(region)
    # other numbers of the same plan: vary the last digits, keep the ones that stay valid
    national = str(example.national_number)
    for _ in range(20):
        tail = "".join(rng.choice(string.digits) for _ in range(4))
        candidate = pn.parse(f"+{example.country_code}{national[:-4]}{tail}")
        if pn.is_valid_number(candidate):
            break
    else:
        candidate = example
    if region == "US" and rng.random() < 0.5:
        d = str(candidate.national_number)
        return rng.choice((f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}-{d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}"))
    fmt = rng.choice((pn.PhoneNumberFormat.INTERNATIONAL, pn.PhoneNumberFormat.E164, pn.PhoneNumberFormat.NATIONAL))
    return str(pn.format_number(candidate, fmt))


_NAMES = ("maria", "j.smith", "li.wei", "olga_k", "a.b+news", "ahmed", "sofia.r", "kenji", "zoe-l", "pat99")
_DOMAINS = ("example.com", "mail.example.org", "example.co.uk", "xn--mller-kva.de", "bücher.example",
            "example.xn--p1ai", "uni-example.edu", "corp.example.io", "пример.рф", "example.museum")


def email(rng: random.Random) -> str:
    return f"{rng.choice(_NAMES)}@{rng.choice(_DOMAINS)}"


def ip(rng: random.Random) -> str:
    style = rng.randrange(7)
    if style == 0:
        return ".".join(str(rng.randrange(256)) for _ in range(4))
    if style == 1:
        return ".".join(str(rng.randrange(10)) for _ in range(4))  # one-digit octets
    if style == 2:
        return f"{rng.choice((10, 172, 192))}.{rng.randrange(256)}.{rng.randrange(256)}.0/{rng.choice((8, 16, 24))}"
    address = ipaddressv6(rng)
    if style == 3:
        return address
    if style == 4:
        return f"::ffff:{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
    if style == 5:
        return f"fe80::{rng.randrange(1, 0xffff):x}:{rng.randrange(1, 0xffff):x}%eth{rng.randrange(3)}"
    return f"2001:db8:{rng.randrange(0xffff):x}::/{rng.choice((32, 48, 64))}"


def ipaddressv6(rng: random.Random) -> str:
    import ipaddress

    groups = [rng.randrange(0x10000) if rng.random() < 0.7 else 0 for _ in range(8)]
    value = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    return value.compressed if rng.random() < 0.6 else value.exploded


GENERATORS = {"EMAIL_ADDRESS": email, "PHONE_NUMBER": phone, "CREDIT_CARD": card, "IBAN_CODE": iban,
              "US_SSN": ssn, "IP_ADDRESS": ip}

_TEMPLATES = {
    "EMAIL_ADDRESS": ("Please send the contract to {} before Friday.", "My address is {}", "cc: {}; thanks",
                      "Contact {} for access."),
    "PHONE_NUMBER": ("You can call me at {} tomorrow.", "Phone: {}", "my mobile is {}, text first",
                     "Reach the front desk on {} anytime."),
    "CREDIT_CARD": ("I paid with card {} last week.", "card number {} exp 04/27", "Charge {} please.",
                    "Use {} for the deposit."),
    "IBAN_CODE": ("Wire the refund to {} today.", "IBAN: {}", "my account {} at the bank",
                  "Please transfer the amount to {}."),
    "US_SSN": ("SSN: {}", "My social security number is {}.", "the applicant's SSN {} is on file",
               "ssn {} / dob unknown"),
    "IP_ADDRESS": ("The login came from {} at noon.", "Allow {} in the firewall.", "server ip {}",
                   "blocked {} after five attempts"),
}
_FILLER = ("Thanks.", "See below.", "Regards, the team.", "Let me know.", "", "It is urgent.")


def held_out(seed: int = 7, rows: int = 1200) -> list[dict[str, Any]]:
    """Rows of one to three entities in sentences, with gold spans."""
    rng = random.Random(seed)
    kinds = sorted(GENERATORS)
    out: list[dict[str, Any]] = []
    for n in range(rows):
        text, spans = "", []
        for _ in range(rng.choice((1, 1, 2, 3))):
            kind = rng.choice(kinds)
            value = GENERATORS[kind](rng)
            template = rng.choice(_TEMPLATES[kind])
            head, tail = template.split("{}")
            if text:
                text += " "
            start = len(text) + len(head)
            text += head + value + tail
            spans.append({"type": kind, "start": start, "end": start + len(value)})
            filler = rng.choice(_FILLER)
            text += (" " + filler) if filler else ""
        out.append({"id": f"heldout-{n:05d}", "text": text, "spans": spans})
    return out


# --- benign look-alikes --------------------------------------------------------------------


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


_BENIGN = (
    lambda r: f"The total is ${r.randrange(1, 9999)}.{r.randrange(100):02d} including {r.randrange(5, 25)}% VAT.",
    lambda r: f"Price dropped from {r.randrange(1000, 99999):,} EUR to {r.randrange(1000, 99999):,} EUR.",
    lambda r: f"Order #{_digits(r, 9)} shipped on {r.randrange(2015, 2030)}-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}.",
    lambda r: f"Order number {r.choice('ABCDEFG')}-{_digits(r, 7)} was refunded.",
    lambda r: f"Tracking: 1Z{_digits(r, 3)}{''.join(r.choice(string.ascii_uppercase) for _ in range(3))}{_digits(r, 10)}",
    lambda r: f"USPS tracking {' '.join(_digits(r, 4) for _ in range(5))} {_digits(r, 2)} is in transit.",
    lambda r: f"FedEx tracking number {_digits(r, 12)} arrives Monday.",
    lambda r: f"Upgrade to version {r.randrange(1, 20)}.{r.randrange(30)}.{r.randrange(50)} before the release.",
    lambda r: f"Requires Python {r.randrange(2, 4)}.{r.randrange(13)} and numpy>={r.randrange(1, 3)}.{r.randrange(30)}.{r.randrange(9)}.",
    lambda r: f"Chrome {r.randrange(90, 130)}.0.{r.randrange(4000, 7000)}.{r.randrange(200)} crashed.",
    lambda r: f"commit {_hex(r, 40)} fixed the build",
    lambda r: f"sha256: {_hex(r, 64)}",
    lambda r: f"request id {uuid.UUID(int=r.getrandbits(128), version=4)} failed",
    lambda r: f"Timestamp {r.randrange(2000, 2030)}-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}Z",
    lambda r: f"epoch {r.randrange(1_500_000_000, 1_900_000_000)} ms {r.randrange(10**12, 10**13)}",
    lambda r: f"Meeting at {r.randrange(1, 13)}:{r.randrange(60):02d} on {r.randrange(1, 13)}/{r.randrange(1, 29)}/{r.randrange(2000, 2030)}.",
    lambda r: f"Solve {r.randrange(100, 999)} * {r.randrange(100, 999)} = {r.randrange(10000, 999999)} and x^2 + {r.randrange(10)}x = {r.randrange(100)}.",
    lambda r: f"The sequence {', '.join(str(r.randrange(100)) for _ in range(8))} sums to {r.randrange(1000)}.",
    lambda r: f"We shipped {r.randrange(1, 999)} {r.randrange(100, 999):03d} {r.randrange(100, 999):03d} units last year.",
    lambda r: f"Part no. {r.choice(('SKU', 'PN', 'MOD'))}-{_digits(r, 4)}-{_digits(r, 3)}-{_digits(r, 2)} is out of stock.",
    lambda r: f"Model {_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 4)}X ships in {r.randrange(2, 9)} days.",
    lambda r: f"ISBN 978-{r.randrange(10)}-{_digits(r, 3)}-{_digits(r, 5)}-{r.randrange(10)} is the second edition.",
    lambda r: f"for (int i = 0; i < {r.randrange(10, 1000)}; i++) {{ buf[i] = 0x{_hex(r, 2)}; }}",
    lambda r: f"std::vector<int> v({r.randrange(100)}); auto it = std::find(v.begin(), v.end(), {r.randrange(100)});",
    lambda r: f"use std::collections::HashMap; let x: u32 = {r.randrange(10**6)};",
    lambda r: f"color: #{_hex(r, 6)}; margin: {r.randrange(20)}px {r.randrange(20)}px;",
    lambda r: f"matrix = [[{r.randrange(10)}, {r.randrange(10)}], [{r.randrange(10)}, {r.randrange(10)}]] # {r.random():.6f}",
    lambda r: f"See section {r.randrange(1, 10)}.{r.randrange(1, 10)}.{r.randrange(1, 10)} and RFC {r.randrange(800, 9000)}.",
    lambda r: f"Coordinates {r.uniform(-90, 90):.5f}, {r.uniform(-180, 180):.5f} at elevation {r.randrange(3000)} m.",
    lambda r: f"Invoice INV-{r.randrange(2015, 2030)}-{_digits(r, 6)} due {r.randrange(1, 29)}.{r.randrange(1, 13)}.{r.randrange(2015, 2030)}.",
    lambda r: f"The population grew from {r.randrange(1, 99)} {r.randrange(100, 999)} {r.randrange(100, 999)} to {r.randrange(1, 99)} {r.randrange(100, 999)} {r.randrange(100, 999)}.",
    lambda r: f"MAC {':'.join(_hex(r, 2) for _ in range(6))} joined VLAN {r.randrange(1, 4095)}.",
    lambda r: f"Log [{r.randrange(10, 24)}:{r.randrange(60):02d}:{r.randrange(60):02d}.{_digits(r, 3)}] worker {r.randrange(64)} took {r.randrange(1000)} ms.",
    lambda r: f"Ticket JIRA-{r.randrange(100, 99999)} and PR #{r.randrange(100, 9999)} are linked.",
    lambda r: f"Run pip install torch=={r.randrange(1, 3)}.{r.randrange(10)}.{r.randrange(5)} then python train.py --lr {r.random():.4f} --epochs {r.randrange(1, 200)}",
)
_PROSE = ("Here is the summary you asked for.", "The team reviewed the numbers.", "Nothing else changed.",
          "Please double-check the figures.", "This is a follow-up to yesterday's note.", "All tests pass now.")


def benign(seed: int = 11, docs: int = 600) -> list[str]:
    """Texts of a few sentences, each holding number shapes that are not personal data."""
    rng = random.Random(seed)
    out = []
    for _ in range(docs):
        parts = [rng.choice(_PROSE)]
        for _ in range(rng.randrange(2, 6)):
            parts.append(rng.choice(_BENIGN)(rng))
        out.append(" ".join(parts))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=5)
    args = parser.parse_args()
    for row in held_out(args.seed, args.rows):
        print(row)
    for text in benign(args.seed, args.rows):
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
