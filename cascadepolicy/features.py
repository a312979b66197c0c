"""Built-in request features that route conditions read.

`request.tokens` counts prompt tokens offline with the cl100k tokenizer that
litellm bundles (the encoding `litellm.token_counter` uses by default, with
OpenAI's per-message overhead), loaded through tiktoken directly so that
routing does not import litellm. `request.domain` and `request.complexity`
come from small keyword detectors; a policy's `features:` section replaces
their word lists. Features are computed lazily: a value no condition reads is
never computed.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

from cascadepolicy.model import Features

TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3

DEFAULT_DOMAINS: dict[str, tuple[str, ...]] = {
    "code": ("code", "function", "python", "javascript", "typescript", "java", "rust", "golang", "sql", "bug",
             "compile", "stack trace", "exception", "regex", "api", "class", "def ", "import ", "refactor", "unit test"),
    "math": ("calculate", "solve", "equation", "how many", "how much", "sum", "total", "percent", "average",
             "fraction", "integral", "derivative", "probability", "multiply", "divide", "+", "=", "math"),
    "medical": ("symptom", "diagnos", "medication", "dose", "doctor", "disease", "treatment", "pain", "prescription",
                "blood", "surgery", "allergy", "patient"),
    "legal": ("contract", "lawsuit", "legal", "law", "attorney", "lawyer", "liability", "court", "clause",
              "regulation", "gdpr", "copyright", "sue", "tenant"),
    "financial": ("invest", "stock", "tax", "loan", "mortgage", "interest rate", "portfolio", "budget", "credit",
                  "bank", "retirement", "dividend", "crypto", "inflation"),
    "creative": ("poem", "story", "write a song", "lyrics", "novel", "fiction", "character", "haiku", "creative",
                 "screenplay", "slogan"),
}
DEFAULT_COMPLEXITY: dict[str, tuple[str, ...]] = {
    "expert": ("prove", "proof", "formal", "derive", "theorem", "optimi", "architecture", "distributed", "research"),
    "hard": ("explain why", "analy", "compare", "design", "trade-off", "tradeoff", "step by step", "debug", "evaluate"),
    "moderate": ("how", "why", "describe", "summar", "write", "implement"),
    "simple": ("what is", "who is", "when", "define", "list", "translate"),
}
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1)
def _encoding() -> Any:
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.submodule_search_locations:
        bundled = os.path.join(next(iter(spec.submodule_search_locations)), "litellm_core_utils", "tokenizers")
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", bundled)
    import tiktoken

    return tiktoken.get_encoding("cl100k_base")


@lru_cache(maxsize=4096)
def text_tokens(text: str) -> int:
    # Cached: system prompts and templates repeat, and the tokenizer releases the
    # GIL, so every call can wait behind litellm's background logging threads.
    return len(_encoding().encode(text, disallowed_special=()))


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message; multi-part content keeps its text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    total = TOKENS_PER_REPLY
    for message in messages:
        total += TOKENS_PER_MESSAGE + text_tokens(message_text(message)) + text_tokens(str(message.get("role", "")))
    return total


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def keyword_pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    """One regex for a word list: a word matches at a word start (so stems like
    `diagnos` work); words of three letters or fewer must match whole."""
    parts = []
    for word in words:
        escaped = re.escape(word.lower())
        if word[:1].isalnum():
            escaped = r"\b" + escaped + (r"\b" if len(word) <= 3 else "")
        parts.append(escaped)
    return re.compile("|".join(parts)) if parts else None


class Detectors:
    """Domain and complexity detectors with the policy's word lists."""

    def __init__(self, features: Features) -> None:
        domains: dict[str, tuple[str, ...]] = {**DEFAULT_DOMAINS, **{k: tuple(v) for k, v in features.domains.items()}}
        complexity: dict[str, tuple[str, ...]] = {**DEFAULT_COMPLEXITY, **{k: tuple(v) for k, v in features.complexity.items()}}
        self.domains = {name: keyword_pattern(words) for name, words in domains.items()}
        self.complexity = {name: keyword_pattern(words) for name, words in complexity.items()}

    def domain(self, text: str) -> str:
        lowered = text.lower()
        best, best_hits = "general", 0
        for name, pattern in self.domains.items():
            hits = len(pattern.findall(lowered)) if pattern else 0
            if hits > best_hits:
                best, best_hits = name, hits
        return best

    def _has(self, level: str, lowered: str) -> bool:
        pattern = self.complexity.get(level)
        return bool(pattern and pattern.search(lowered))

    def complexity_of(self, text: str) -> str:
        lowered = text.lower()
        words = len(_WORD.findall(lowered))
        for level in ("expert", "hard"):
            if self._has(level, lowered):
                return level
        if words > 300:
            return "hard"
        if self._has("moderate", lowered) or words > 60:
            return "moderate"
        if words <= 4 and not self._has("simple", lowered):
            return "trivial"
        return "simple"


class RequestValues(Mapping[str, Any]):
    """The flat, lazily computed mapping of dotted names conditions read."""

    def __init__(self, messages: Sequence[Mapping[str, Any]], detectors: Detectors, *, user: str | None,
                 tier: str | None, context: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.messages = messages
        self.detectors = detectors
        self.given: dict[str, Any] = {}
        _flatten(context, "", self.given)
        _flatten(metadata, "metadata.", self.given)
        if user is not None:
            self.given["user.id"] = user
        if tier is not None:
            self.given["user.tier"] = tier
        self.given["request.message_count"] = len(messages)

    def _compute(self, key: str) -> Any:
        if key == "request.tokens":
            return count_prompt_tokens(self.messages)
        if key == "request.domain":
            return self.detectors.domain(last_user_text(self.messages))
        if key == "request.complexity":
            return self.detectors.complexity_of(last_user_text(self.messages))
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        try:
            return self.given[key]
        except KeyError:
            value = self._compute(key)
            self.given[key] = value
            return value

    def __contains__(self, key: object) -> bool:
        return key in self.given or key in ("request.tokens", "request.domain", "request.complexity")

    def __iter__(self) -> Iterator[str]:
        return iter(self.given)

    def __len__(self) -> int:
        return len(self.given)


def _flatten(data: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, name + ".", out)
        else:
            out[name] = value
