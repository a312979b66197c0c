"""Redaction: replaces guardrail findings with typed placeholders, and maps them back.

Used by the engine's `redact` action. One `Redactor` lives for one request,
so the same value gets the same placeholder in every message it redacts
("[EMAIL_1]" stays "[EMAIL_1]"). A text made of pieces (a message's text
parts, a tool call's JSON strings) is scanned as one and redacted piece by
piece (`redact_pieces`). Placeholders made by a rule with `restore: true` are
mapped back to the caller's values in the answer (`restore`, as LLM Guard's
Deanonymize does). `mask` makes values safe to keep in decision records.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from cascadepolicy.guardrails.base import Coverage, Finding

SEPARATOR = "\n"  # between the pieces of one scanned text, as `features.message_text` joins text parts
LABEL_CHARS = 48  # a placeholder's label is at most this long, of [A-Za-z0-9_]
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_]")
# a placeholder candidate: `[`, a label and a number, `]`; bounded, so finding them all is linear in the text
_PLACEHOLDER = re.compile(rf"\[[A-Za-z0-9_]{{1,{LABEL_CHARS}}}_[0-9]{{1,9}}\]")


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
        self._restorable: set[str] = set()
        self._kept: set[str] = set()  # made (also) by a rule without `restore`: never mapped back

    @property
    def mapping(self) -> dict[str, str]:
        """Placeholder -> original value, for every value redacted so far."""
        return dict(self._mapping)

    @property
    def restores(self) -> bool:
        """Whether `restore` would map any placeholder back."""
        return bool(self._restorable - self._kept)

    def placeholder(self, label: str, value: str, *, restore: bool = False) -> str:
        key = (label, value)
        token = self._by_value.get(key)
        if token is None:
            # a label a custom check chose may hold any character: the placeholder's stays findable
            safe = _UNSAFE_LABEL.sub("_", label)[:LABEL_CHARS] or "REDACTED"
            n = self._counts.get(safe, 0) + 1
            self._counts[safe] = n
            token = f"[{safe}_{n}]"
            self._by_value[key] = token
            self._mapping[token] = value
        (self._restorable if restore else self._kept).add(token)
        return token

    def redact(self, text: str, findings: Sequence[Finding], *, restore: bool = False) -> str:
        """`text` with every (non-overlapping) finding replaced by its placeholder."""
        pieces: list[str] = []
        pos = 0
        for f in resolve_overlaps([f for f in findings if 0 <= f.start < f.end <= len(text)]):
            pieces += (text[pos : f.start], self.placeholder(f.label, text[f.start : f.end], restore=restore))
            pos = f.end
        pieces.append(text[pos:])
        return "".join(pieces)

    def redact_pieces(self, pieces: Sequence[str], findings: Sequence[Finding], *, restore: bool = False) -> list[str]:
        """`pieces` redacted, given the findings of a scan of `SEPARATOR.join(pieces)`.

        Each piece is redacted in place. A finding that spans pieces is replaced in the piece
        where it starts (the placeholder stands for the whole value) and cut from the others."""
        starts: list[int] = []
        pos = 0
        for piece in pieces:
            starts.append(pos)
            pos += len(piece) + len(SEPARATOR)
        total = max(0, pos - len(SEPARATOR))
        joined: str | None = None
        edits: list[list[tuple[int, int, str]]] = [[] for _ in pieces]
        for f in resolve_overlaps([f for f in findings if 0 <= f.start < f.end <= total]):
            if joined is None:
                joined = SEPARATOR.join(pieces)
            token = self.placeholder(f.label, joined[f.start : f.end], restore=restore)
            index = bisect.bisect_right(starts, f.start) - 1
            while index < len(pieces) and starts[index] < f.end:
                begin, piece_end = starts[index], starts[index] + len(pieces[index])
                a, b = max(f.start, begin) - begin, min(f.end, piece_end) - begin
                if a < b or begin <= f.start:
                    edits[index].append((a, max(a, b), token if begin <= f.start else ""))
                index += 1
        return [_edited(piece, spans) if spans else piece for piece, spans in zip(pieces, edits, strict=True)]

    def restore(self, text: str) -> str:
        """`text` with the placeholders of rules with `restore: true` mapped back to the caller's values.

        Only placeholders this request issued for such rules are replaced; one a model invented, or
        one a rule without `restore` also made, stays as it is. Linear in the text."""
        restorable = self._restorable - self._kept
        if not restorable or "[" not in text:
            return text
        mapping = self._mapping

        def back(match: re.Match[str]) -> str:
            token = match.group()
            return mapping[token] if token in restorable else token
        return _PLACEHOLDER.sub(back, text)


def _edited(piece: str, spans: list[tuple[int, int, str]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, replacement in spans:  # in order and disjoint: resolve_overlaps sorts its findings
        out += (piece[pos:start], replacement)
        pos = end
    out.append(piece[pos:])
    return "".join(out)
