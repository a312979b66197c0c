"""Keeping secrets out of what cascadepolicy prints, records and logs.

Two kinds of secret, two scrubbers, both plain text → text:

* Values a policy took from the environment (or `.env`) through `${VAR}`.
  `Masker.of(source_map)` replaces each such value, and each interpolated
  string holding one, with the reference it came from (`${AWS_SECRET}`,
  `gpt-${SUFFIX}`). The loader passes every diagnostic through it; `graph`,
  `explain`, `diff` and `test` pass what they print through it too.
* API keys. `scrub_keys` masks the current values of the `api_key_env`
  variables policies name (`watch_key_variables`) and anything shaped like a
  credential (`sk-…`, `AKIA…`, `Bearer …`, `api_key=…`, long random tokens).
  Provider error texts pass through it where litellm's exceptions become ours
  (`calls.map_exception`), and litellm's loggers get `KeyScrubbingFilter`, so
  no result, decision record, sink line or log carries a key.

Values shorter than `MIN_MASKED_CHARS` are not masked by value: masking "1"
or "us" everywhere would garble every message. Where a view knows the data
path of what it prints, it shows the written reference whatever the length.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from cascadepolicy.diagnostics import Diagnostic, Location

if TYPE_CHECKING:
    from cascadepolicy.loading.source import SourceMap

MIN_MASKED_CHARS = 4
MIN_TRUNCATED_CHARS = 8  # in a diagnostic about an interpolated value, a value cut to this many characters is still masked
REDACTED = "[redacted]"
PROVIDER_TEXT_CHARS = 500  # a provider's error text is cut to this after scrubbing
_SCAN_CHARS = 4 * PROVIDER_TEXT_CHARS  # and scrubbed over this much, so a key straddling the cut is still found


class Masker:
    """Replaces known secret texts (in their plain, repr and JSON spellings) with what names them.

    A diagnostic that stands on an interpolated value (`spans`) is about that
    value, and may quote a piece of it: there, the pieces of each environment
    value between separators (`:`, `/`, `.`, ...; the module of
    `module:function`, a file's directory or name) and the value cut short
    (at least `MIN_TRUNCATED_CHARS` of its beginning) are masked too.
    """

    def __init__(self, replacements: Mapping[str, str] | None = None, spans: Iterable[_Span] = ()) -> None:
        self.spans: dict[tuple[str, int], list[_Span]] = {}  # by file and line: a policy may hold thousands
        for span in spans:
            self.spans.setdefault((span.start.file, span.start.line), []).append(span)
        self.replacements = {s: shown for s, shown in (replacements or {}).items() if len(s) >= MIN_MASKED_CHARS}
        table: dict[str, str] = {}
        for secret, shown in self.replacements.items():
            for form in _spellings(secret):
                table.setdefault(form, shown)
        self._table = table
        # Longest first: the alternation takes the first that matches, so a value never loses to its own prefix.
        self._pattern = re.compile("|".join(map(re.escape, sorted(table, key=len, reverse=True)))) if table else None

    @classmethod
    def of(cls, *maps: SourceMap) -> Masker:
        """The masker for the values these source maps took from the environment."""
        replacements: dict[str, str] = {}
        spans: list[_Span] = []
        for source_map in maps:
            for name, value in source_map.substituted.items():
                replacements.setdefault(value, f"${{{name}}}")
            for path, item in source_map.interpolated.items():
                if item.environment:  # a string holding an environment value reads as it was written
                    replacements[item.value] = item.written
                    secrets = tuple((v, f"${{{n}}}") for n, v in item.environment if len(v) >= MIN_MASKED_CHARS)
                    start = source_map.values.get(path)
                    if secrets and start is not None:
                        spans.append(_Span(start, len(item.written) + 2, secrets))  # + 2: the quotes
        return cls(replacements, spans)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._table[m.group(0)], text)

    def data(self, value: Any) -> Any:
        """`value` (JSON-like data) with every string, keys included, masked."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.data(v) for v in value)
        return value

    def diagnostic(self, d: Diagnostic) -> Diagnostic:
        """`d` with environment values masked; a message that quoted one loses its "did you mean":
        a close suggestion would tell the reader most of the value."""
        if self._pattern is None:
            return d
        at = d.location
        spans = self.spans.get((at.file, at.line), []) if at is not None else []
        secrets = [s for span in spans if span.holds(at) for s in span.secrets]
        pieces = Masker({piece: shown for secret, shown in secrets for piece in _pieces(secret)})

        def mask(text: str) -> str:
            text = pieces.text(self.text(text))
            for secret, shown in secrets:
                text = _mask_truncated(text, secret, shown)
            return text

        message, hint = mask(d.message), d.hint
        if hint is not None:
            hint = mask(_SUGGESTION.sub("", hint) if message != d.message else hint).strip() or None
        return dataclasses.replace(d, message=message, hint=hint, context=tuple(mask(c) for c in d.context))


class _Span(NamedTuple):
    """Where an interpolated value stands, and the environment values in it."""

    start: Location
    width: int
    secrets: tuple[tuple[str, str], ...]

    def holds(self, location: Location | None) -> bool:
        return (location is not None and location.file == self.start.file and location.line == self.start.line
                and self.start.column <= location.column <= self.start.column + self.width)


def _pieces(value: str) -> set[str]:
    """The parts of `value` between separators, and the runs of them from either end (for values of ordinary length)."""
    if len(value) > _MAX_SPLIT_CHARS:
        return set()
    parts = _SEPARATORS.split(value)  # pieces at even indices, separators between them
    out = {parts[i] for i in range(0, len(parts), 2)}
    for end in range(1, len(parts) + 1, 2):
        out.add("".join(parts[:end]))
        out.add("".join(parts[len(parts) - end:]))
    return out


def _mask_truncated(text: str, secret: str, shown: str) -> str:
    """`text` with every run that begins like `secret` (at least `MIN_TRUNCATED_CHARS` of it) replaced by `shown`."""
    head = secret[:MIN_TRUNCATED_CHARS]
    if len(head) < MIN_TRUNCATED_CHARS:
        return text
    out, at = [], 0
    while (found := text.find(head, at)) >= 0:
        end = found + len(head)
        while end < len(text) and end - found < len(secret) and text[end] == secret[end - found]:
            end += 1
        out += [text[at:found], shown]
        at = end
    return "".join(out) + text[at:]


_SEPARATORS = re.compile(r"([:/\\.@=,;|\s]+)")
_MAX_SPLIT_CHARS = 1024  # a longer value (a certificate, say) is masked whole and cut short, not piece by piece


_SUGGESTION = re.compile(r"did you mean (?:'[^']*'|\"[^\"]*\")\?\s*")


def _spellings(secret: str) -> set[str]:
    return {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}


# ---------------------------------------------------------------- API keys

_KEY_VARIABLES: set[str] = set()

_KEY_SHAPES = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"                       # OpenAI, Anthropic (sk-ant-), OpenRouter (sk-or-)
    r"|\b[spr]k_(?:live|test)_[A-Za-z0-9]{8,}"                 # Stripe-style
    r"|\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{12,}"  # AWS key ids
    r"|\bAIza[0-9A-Za-z_\-]{20,}"                               # Google
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"                        # Slack
    r"|\b(?:hf|gsk|r8|fw|pplx|xai|nvapi)[_-][A-Za-z0-9_\-]{16,}"  # Hugging Face, Groq, Replicate, ...
    r"|\beyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]*"  # JWTs
)
_AUTH_SCHEME = re.compile(r"\b((?i:bearer)\s+|Basic\s+)([A-Za-z0-9._~+/=\-]{8,})")
_KEY_VALUE = re.compile(
    r"(?i)\b(api[\s_-]?key|apikey|x-api-key|access[\s_-]?key(?:[\s_-]?id)?|secret(?:[\s_-]?(?:access[\s_-]?)?key)?"
    r"|private[\s_-]?key|client[\s_-]?secret|(?:access|refresh|auth|session|api|id)[\s_-]?token|token|password|passwd"
    r"|authorization|credentials?|key)\b"
    r"((?:\s+[a-z]+){0,2}\s*[\"']?\s*[:=]\s*[\"']?)"           # `: `, `=`, `': '`, ` provided: `
    r"(?!\$\{|\[redacted\]|//)([^\s\"',;&)}\]<>]{6,})"                  # not what was masked already
)
_BLOB = re.compile(r"[A-Za-z0-9+/_=\-]{32,}")


def watch_key_variables(names: Iterable[str | None]) -> None:
    """Mask the values of these environment variables (a policy's `api_key_env`s) wherever keys are scrubbed."""
    _KEY_VARIABLES.update(n for n in names if n)


def scrub_keys(text: str) -> str:
    """`text` with every known API key value and anything shaped like a credential masked."""
    known = tuple(sorted((value, name) for name in _KEY_VARIABLES if (value := os.environ.get(name))))
    if known:
        text = _key_masker(known).text(text)
    text = _KEY_SHAPES.sub(REDACTED, text)
    text = _AUTH_SCHEME.sub(lambda m: m.group(1) + REDACTED, text)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + m.group(2) + REDACTED, text)
    return _BLOB.sub(_blob, text)


def provider_text(text: str) -> str:
    """A provider's error text as records may hold it: scrubbed, then cut to `PROVIDER_TEXT_CHARS`."""
    return scrub_keys(text[:_SCAN_CHARS])[:PROVIDER_TEXT_CHARS]


@lru_cache(maxsize=8)
def _key_masker(known: tuple[tuple[str, str], ...]) -> Masker:
    return Masker({value: f"${{{name}}}" for value, name in known})


def _blob(match: re.Match[str]) -> str:
    # A long run counts as a token when it looks random: hex, or letters of both cases with digits.
    run = match.group(0)
    hexadecimal = all(c in "0123456789abcdefABCDEF" for c in run)
    mixed = any(c.isdigit() for c in run) and any(c.islower() for c in run) and any(c.isupper() for c in run)
    return REDACTED if hexadecimal or mixed else run


class KeyScrubbingFilter(logging.Filter):
    """Scrubs keys out of every record a logger emits (message, arguments and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot render itself is left to the handler
            return True
        record.msg, record.args = scrub_keys(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub_keys(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub_keys(record.stack_info)
        return True


def guard_loggers(names: Iterable[str]) -> None:
    """Attach `KeyScrubbingFilter` to these loggers (once each)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, KeyScrubbingFilter) for f in logger.filters):
            logger.addFilter(KeyScrubbingFilter())
