"""Built-in request features that route conditions read.

`request.tokens` counts prompt tokens offline with the cl100k tokenizer that
litellm bundles (the encoding `litellm.token_counter` uses by default, with
OpenAI's per-message overhead), loaded through tiktoken directly so that
routing does not import litellm (only a request with an inline image loads
it, to read the image's size: `part_tokens`). Image parts, tool calls and
parts the engine does not know count too (`prompt_count`), so that the
reservation and context windows see the whole prompt. `request.domain` and `request.complexity`
come from small keyword detectors; a policy's `features:` section replaces
their word lists. Features are computed lazily: a value no condition reads is
never computed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from cascadepolicy.language.model import Features
from cascadepolicy.runtime.part_tokens import image_tokens, payload_bytes, unknown_part_tokens

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


# The tokenizer's byte-pair merge grows faster than the length of one
# pre-token, and a run of letters, of punctuation or of whitespace is one
# pre-token: 256 KB of "=" took 57 ms, 4 MiB 2.5 s. A run longer than
# LONG_RUN characters is counted in pieces of that length, which adds at most
# a token or so per cut; text without such a run is counted as it is.
LONG_RUN = 4096
# (class, "not right after one of the class"): a run is entered only at its
# start, so none is scanned again from inside
_RUN_CLASSES = (
    (r"[^\W\d_]", r"(?<![^\W\d_])"),  # letters
    (r"(?:[^\w\s]|_)", r"(?<![^\w\s])(?<!_)"),  # punctuation and symbols
    (r"\s", r"(?<!\s)"),  # whitespace
)
_LONG_RUNS = tuple(re.compile(rf"{start}{c}{{{LONG_RUN}}}{c}*+") for c, start in _RUN_CLASSES)
_LONG_SPACE = re.compile(rf"\s(?<!\s\s)\s{{{LONG_RUN - 1}}}")


def _cuts(text: str) -> list[int]:
    """Where runs longer than LONG_RUN are cut, in order."""
    # the common case, cheaply: no long stretch without a space, no long space
    if max(map(len, text.split()), default=0) < LONG_RUN and _LONG_SPACE.search(text) is None:
        return []
    cuts: list[int] = []
    for pattern in _LONG_RUNS:
        for m in pattern.finditer(text):
            cuts.extend(range(m.start() + LONG_RUN, m.end(), LONG_RUN))
    return sorted(cuts)


@lru_cache(maxsize=4096)
def text_tokens(text: str) -> int:
    # Cached: system prompts and templates repeat, and the tokenizer releases the
    # GIL, so every call can wait behind litellm's background logging threads.
    encode = _encoding().encode
    cuts = _cuts(text) if len(text) > LONG_RUN else []
    if not cuts:
        return len(encode(text, disallowed_special=()))
    bounds = [0, *cuts, len(text)]
    return sum(len(encode(text[a:b], disallowed_special=())) for a, b in zip(bounds, bounds[1:], strict=False))


CLIPPED = "…"


def clip_tokens(text: str, limit: int) -> str:
    """`text`, cut at the end (marked with CLIPPED) so that `text_tokens` counts at most `limit` tokens."""
    if len(text) <= limit // 4 or text_tokens(text) <= limit:  # a character is at most four bytes, a token at least one
        return text
    encoding = _encoding()
    # A prefix long enough for `limit` tokens of ordinary text, short enough to encode in one piece.
    ids = encoding.encode(text[: limit * 8], disallowed_special=())
    keep = limit - 1
    while keep > 0:
        clipped = encoding.decode(ids[:keep]).rstrip("\ufffd") + CLIPPED
        if text_tokens(clipped) <= limit:
            return clipped
        keep -= 8
    return CLIPPED if limit >= 1 else ""


def message_text(message: Mapping[str, Any]) -> str:
    """The text of a chat message; multi-part content keeps its text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


class PromptCount(NamedTuple):
    """A prompt's tokens: every part counted (`tokens`), of which `unmeasured` were counted by their size."""

    tokens: int  # `request.tokens`, the reservation and its backstop
    unmeasured: int  # parts the engine cannot measure (`part_tokens`): not held against a context window


# A request's parameters a provider reads as part of the prompt, and bills as prompt tokens.
PROMPT_PARAMS = ("tools", "functions", "response_format")


def params_prompt(params: Mapping[str, Any]) -> str:
    """The text of the parameters a provider counts in the prompt (tool definitions, a response schema), or ''."""
    if not params:
        return ""
    parts = {k: params[k] for k in PROMPT_PARAMS if params.get(k) is not None}
    if not parts:
        return ""
    if isinstance(parts.get("response_format"), type) and hasattr(parts["response_format"], "model_json_schema"):
        parts["response_format"] = parts["response_format"].model_json_schema()  # a pydantic class, as litellm takes it
    return json.dumps(parts, default=str, ensure_ascii=False, separators=(",", ":"))


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]]) -> int:
    """The prompt tokens of `messages`, conservatively: text, images and every other part (`prompt_count`)."""
    return prompt_count(messages).tokens


def prompt_count(messages: Sequence[Mapping[str, Any]]) -> PromptCount:
    """Text with the offline tokenizer and OpenAI's message overhead; image parts by litellm's tile formula;
    tool calls by their names and arguments; anything else by its size (`part_tokens`)."""
    total, unmeasured = TOKENS_PER_REPLY, 0
    for message in messages:
        total += TOKENS_PER_MESSAGE + text_tokens(str(message.get("role", "")))
        content = message.get("content")
        if isinstance(content, str):
            total += text_tokens(content)
        elif isinstance(content, list):
            texts = []
            for part in content:
                kind = part.get("type") if isinstance(part, Mapping) else None
                if kind == "text":
                    texts.append(str(part.get("text", "")))
                    continue
                image = image_tokens(part.get("image_url")) if kind == "image_url" else None
                if image is None:
                    image = unknown_part_tokens(part)
                    unmeasured += image
                total += image
            total += text_tokens("\n".join(texts))
        elif content is not None:
            unmeasured += (size := unknown_part_tokens(content))
            total += size
        if len(message) > 2:  # name, tool_call_id, tool_calls, ...: sent, so counted
            measured, size = _other_fields(message)
            total += measured + size
            unmeasured += size
    return PromptCount(total, unmeasured)


def _other_fields(message: Mapping[str, Any]) -> tuple[int, int]:
    """Tokens of a message's fields besides role and content: (measured, counted by size)."""
    measured = size = 0
    for key, value in message.items():
        if key in ("role", "content") or value is None:
            continue
        if isinstance(value, str):
            measured += text_tokens(value)
        elif key in ("tool_calls", "function_call"):
            calls = value if key == "tool_calls" and isinstance(value, list) else [{"function": value}]
            for call in calls:
                function = call.get("function") if isinstance(call, Mapping) else None
                name, arguments = (function.get("name", ""), function.get("arguments", "")) if isinstance(function, Mapping) else (None, None)
                if isinstance(name, str) and isinstance(arguments, str):
                    measured += text_tokens(name) + text_tokens(arguments)
                else:
                    size += payload_bytes(call)
        else:
            size += payload_bytes(value)
    return measured, size


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


class KeywordIndex:
    """Which labelled word lists a text hits, counted in one pass over its words.

    A keyword matches at the start of a word, so stems like `diagnos` work;
    keywords of three letters or fewer, and those written with a trailing
    space (`def `), match whole words only. Keywords with inner spaces or
    symbols (`stack trace`, `+`) are searched for only when the text has their
    first word, or by plain substring counts.
    Each word counts once per list it hits.
    """

    def __init__(self, lists: Mapping[str, Sequence[str]]) -> None:
        self.labels = tuple(lists)
        self.whole: dict[str, set[str]] = {}  # word -> labels
        self.stems: dict[str, list[tuple[str, str]]] = {}  # first four letters -> (stem, label)
        phrases: dict[str, set[str]] = {}  # phrase -> labels
        for label, words in lists.items():
            for keyword in words:
                lowered = keyword.lower()
                bare = lowered.strip()
                if not _WORD.fullmatch(bare):
                    phrases.setdefault(lowered, set()).add(label)
                elif len(bare) <= 3 or lowered != lowered.rstrip():
                    self.whole.setdefault(bare, set()).add(label)
                else:
                    self.stems.setdefault(bare[:4], []).append((bare, label))
        self.symbols = [(p, labels) for p, labels in phrases.items() if not p[:1].isalnum()]
        self.by_first_word: dict[str, list[tuple[re.Pattern[str], set[str]]]] = {}
        for phrase, labels in phrases.items():
            first = _WORD.match(phrase)
            if first is not None:
                self.by_first_word.setdefault(first.group(), []).append((re.compile(r"\b" + re.escape(phrase)), labels))

    def counts(self, lowered: str) -> dict[str, int]:
        """Hits per label in already lower-cased text."""
        counts: dict[str, int] = {}
        whole, stems = self.whole, self.stems
        words = _WORD.findall(lowered)
        for word in words:
            labels = whole.get(word)
            candidates = stems.get(word[:4])
            if candidates:
                labels = set(labels or ())
                labels.update(label for stem, label in candidates if word.startswith(stem))
            if labels:
                for label in labels:
                    counts[label] = counts.get(label, 0) + 1
        found = [(lowered.count(symbol), labels) for symbol, labels in self.symbols]
        for first in self.by_first_word.keys() & set(words):
            found += [(len(pattern.findall(lowered)), labels) for pattern, labels in self.by_first_word[first]]
        for hits, labels in found:
            for label in labels if hits else ():
                counts[label] = counts.get(label, 0) + hits
        return counts


class Detectors:
    """Domain and complexity detectors with the policy's word lists."""

    def __init__(self, features: Features) -> None:
        domains: dict[str, tuple[str, ...]] = {**DEFAULT_DOMAINS, **{k: tuple(v) for k, v in features.domains.items()}}
        complexity: dict[str, tuple[str, ...]] = {**DEFAULT_COMPLEXITY, **{k: tuple(v) for k, v in features.complexity.items()}}
        self.domains = KeywordIndex(domains)
        self.complexity = KeywordIndex(complexity)

    def domain(self, text: str) -> str:
        counts = self.domains.counts(text.lower())
        best, best_hits = "general", 0
        for name in self.domains.labels:  # the first of equally hit domains wins
            hits = counts.get(name, 0)
            if hits > best_hits:
                best, best_hits = name, hits
        return best

    def complexity_of(self, text: str) -> str:
        lowered = text.lower()
        hits = self.complexity.counts(lowered)
        words = len(_WORD.findall(lowered))
        for level in ("expert", "hard"):
            if level in hits:
                return level
        if words > 300:
            return "hard"
        if "moderate" in hits or words > 60:
            return "moderate"
        if words <= 4 and "simple" not in hits:
            return "trivial"
        return "simple"


class RequestValues(Mapping[str, Any]):
    """The flat, lazily computed mapping of dotted names conditions read."""

    def __init__(self, messages: Sequence[Mapping[str, Any]], detectors: Detectors, *, user: str | None,
                 tier: str | None, context: Mapping[str, Any], metadata: Mapping[str, Any],
                 model: str | None = None, tool_count: int = 0, params_tokens: int = 0) -> None:
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
        self.given["request.model"] = model or ""
        self.given["request.tool_count"] = tool_count
        self.params_tokens = params_tokens  # tool definitions and a response schema: prompt tokens too

    def _compute(self, key: str) -> Any:
        if key == "request.tokens":
            return count_prompt_tokens(self.messages) + self.params_tokens
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
