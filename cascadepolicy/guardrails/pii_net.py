"""Network identifiers for the PII detector: e-mail addresses and IP addresses.

Sits under `pii.py`, which calls `emails`, `ipv6s` and `ipv4s` on every text
it scans and merges their spans with the other entities'. Each scanner finds
candidates with one cheap pattern (the regex engine skips the text between
them in C) and checks them against the format's own rules:

- e-mail (RFC 5321/6531): a local part read backwards from each "@" and a
  domain of dot-separated labels, which may be internationalised (Unicode
  letters) or IDNA-encoded (`xn--` labels, the TLD included);
- IPv6 (RFC 4291 text forms, checked by `ipaddress`): full, compressed,
  IPv4-embedded (`::ffff:192.0.2.1`), with a zone id (`fe80::1%eth0`) and a
  CIDR prefix length (`/64`), each as one span;
- IPv4: four decimal octets of any length from 1 to 3 digits (`8.8.8.8`),
  with an optional CIDR prefix length (`/24`); not after a version word.
"""

from __future__ import annotations

import ipaddress
import re

Span = tuple[int, int, float]

# the local part is read backwards from the "@", on the reversed characters
# before it: a search for `[\w.%+-]{1,64}$` tries each of the 64 starts
_EMAIL_LOCAL_REVERSED = re.compile(r"[\w.%+-]{1,64}")
# an "@" that a domain may follow (a letter or digit of any script)
_EMAIL_AT = re.compile(r"@(?=[^\W_])")
# labels of letters (any script), digits and inner hyphens; the TLD is letters,
# or an IDNA A-label such as `xn--p1ai`
_EMAIL_DOMAIN = re.compile(
    r"(?:[^\W_](?:[^\W_]|-){0,62}\.)+(?:xn--[A-Za-z0-9-]{1,59}|[^\W\d_]{2,63})(?![\w-])"
)
_LABEL = re.compile(r"[^.]+")

# a run of hex digits, colons and dots holding a colon, taken at the start of
# the run only (the look-behind) and possessively, so each run is read once
_IPV6_RUN = re.compile(r"(?<![\w:.])[0-9A-Fa-f.]*+:[0-9A-Fa-f:.]*+")
_ZONE = re.compile(r"%[0-9A-Za-z._~-]{1,32}")
_PREFIX = re.compile(r"/(\d{1,3})(?!\w|\.\d)")
# the last three octets, from the first dot: a pattern that starts with a literal is searched in C;
# the first octet is read backwards from the dot
_IPV4_TAIL = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_VERSION_CUE = re.compile(r"(?i)(?:version|release|build|firmware|update|patch|v\.?)\s*$")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")


def emails(text: str) -> list[Span]:
    spans: list[Span] = []
    for m in _EMAIL_AT.finditer(text):
        # expand around each "@" instead of scanning the whole text with a
        # pattern that would retry the local part at every position
        at = m.start()
        domain = _EMAIL_DOMAIN.match(text, at + 1)
        if domain is None or not _domain_ok(domain.group()):
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


def _domain_ok(domain: str) -> bool:
    """No label starts or ends with a hyphen (RFC 1035), and the whole fits in 253 characters."""
    return len(domain) <= 253 and all(
        not (label.startswith("-") or label.endswith("-")) for label in _LABEL.findall(domain)
    )


def _has_hex_colon(text: str) -> bool:
    i = text.find(":")
    while i != -1:
        if (0 < i < len(text) - 1 and text[i - 1] in _HEX_COLON and text[i + 1] in _HEX_COLON):
            return True
        i = text.find(":", i + 1)
    return False


def _ipv6_value(run: str) -> str | None:
    """The address a run of hex digits, colons and dots spells, with sentence punctuation cut off."""
    for value in (run, run.rstrip("."), run[:-1] if run.endswith(":") and not run.endswith("::") else ""):
        if value.count(":") < 2 or len(value) > 45:
            continue
        if sum(c.isalnum() for c in value) < 3 and value != "::1":
            continue  # "a::b" and "::" are code, not addresses
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            continue
        return value
    return None


def ipv6s(text: str) -> list[Span]:
    spans: list[Span] = []
    if not _has_hex_colon(text):
        return spans
    for m in _IPV6_RUN.finditer(text):
        value = _ipv6_value(m.group())
        if value is None:
            continue
        end = m.start() + len(value)
        if end == m.end():
            zone = _ZONE.match(text, end)
            if zone is not None:
                end = zone.end()
            end = _with_prefix(text, end, 128)
        if end < len(text) and (text[end].isalnum() or text[end] == "_"):
            continue  # the run goes on as a word
        spans.append((m.start(), end, 0.9))
    return spans


def _with_prefix(text: str, end: int, longest: int) -> int:
    """`end` moved past a CIDR prefix length (`/24`) that is valid for the address family."""
    prefix = _PREFIX.match(text, end)
    if prefix is not None and int(prefix.group(1)) <= longest:
        return prefix.end()
    return end


def ipv4s(text: str) -> list[Span]:
    """Dotted-quad addresses; one after a colon is the tail of an IPv6 address (`ipv6s` has it)."""
    spans: list[Span] = []
    for m in _IPV4_TAIL.finditer(text):
        start, end = m.start(), m.end()
        while start > m.start() - 3 and start > 0 and text[start - 1].isdigit():
            start -= 1
        if start == m.start():
            continue
        if start and (text[start - 1].isalnum() or text[start - 1] in "._:"):
            continue  # part of a longer dotted number, a word or an IPv6 address
        if end < len(text) and (
            text[end].isalnum() or text[end] == "_" or (text[end] == "." and text[end + 1 : end + 2].isdigit())
        ):
            continue
        try:
            ipaddress.IPv4Address(text[start:end])
        except ValueError:
            continue
        if _VERSION_CUE.search(text, max(0, start - 12), start):
            continue
        spans.append((start, _with_prefix(text, end, 32), 0.9))
    return spans
