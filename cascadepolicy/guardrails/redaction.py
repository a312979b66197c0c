"""Redaction: replaces guardrail findings with typed placeholders.

Used by the engine's `redact` action. One `Redactor` lives for one request,
so the same value gets the same placeholder in every message it redacts
("[EMAIL_1]" stays "[EMAIL_1]"), and `mapping` lets the caller restore the
originals in the answer if it wants to. `mask` makes values safe to keep in
decision records.
"""

from __future__ import annotations

from collections.abc import Sequence

from cascadepolicy.guardrails.base import Coverage, Finding


def resolve_overlaps(findings: Sequence[Finding]) -> list[Finding]:
    """Keep non-overlapping findings, preferring the longer span, then the higher score."""
    ranked = sorted((f for f in findings if f.start < f.end), key=lambda f: (-(f.end - f.start), -f.score, f.start))
    if not ranked:
        return []
    # each finding is checked against the characters kept so far, not against
    # every kept finding: linear in the findings' length, not quadratic in their number
    covered = Coverage(min(f.start for f in ranked), max(f.end for f in ranked))
    kept: list[Finding] = []
    for f in ranked:
        if not covered.overlaps(f.start, f.end):
            covered.take(f.start, f.end)
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def mask(value: str) -> str:
    """A hint of a sensitive value that is safe to log: 'j***@e***.com', '****1234'."""
    value = value.strip()
    if "@" in value:
        local, _, domain = value.rpartition("@")
        host, dot, tld = domain.rpartition(".")
        if not dot:
            host, tld = domain, ""
        return f"{local[:1]}***@{host[:1]}***{dot}{tld}"
    digits = [c for c in value if c.isdigit()]
    if len(digits) >= 6 and len(digits) * 2 >= len(value.replace(" ", "")):
        return "****" + "".join(digits[-4:])
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[:2]}***{value[-2:]}" if len(value) >= 12 else f"{value[:1]}***"


class Redactor:
    """Replaces findings with numbered placeholders, consistently within one request."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._mapping: dict[str, str] = {}

    @property
    def mapping(self) -> dict[str, str]:
        """Placeholder -> original value, for every value redacted so far."""
        return dict(self._mapping)

    def placeholder(self, label: str, value: str) -> str:
        key = (label, value)
        existing = self._by_value.get(key)
        if existing is not None:
            return existing
        n = self._counts.get(label, 0) + 1
        self._counts[label] = n
        token = f"[{label}_{n}]"
        self._by_value[key] = token
        self._mapping[token] = value
        return token

    def redact(self, text: str, findings: Sequence[Finding]) -> str:
        """`text` with every (non-overlapping) finding replaced by its placeholder."""
        pieces: list[str] = []
        pos = 0
        for f in resolve_overlaps([f for f in findings if 0 <= f.start < f.end <= len(text)]):
            pieces.append(text[pos : f.start])
            pieces.append(self.placeholder(f.label, text[f.start : f.end]))
            pos = f.end
        pieces.append(text[pos:])
        return "".join(pieces)
