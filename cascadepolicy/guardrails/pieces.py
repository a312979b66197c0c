"""What a guardrail scans, as pieces of text it can put back where they came from.

    input guardrails: ▶ a message's text parts (and an assistant's tool-call arguments) · a document
    output guardrails: the answer's text · ▶ each tool call's arguments

A detector scans one text; a chat message is not always one. Its content may
be a list of parts (text, image_url, input_audio, file, parts this library
does not know), and an assistant message of an earlier turn may carry tool
calls whose arguments are JSON. `Pieces` lists the texts of such a carrier in
order, so the detector scans them joined by `redaction.SEPARATOR` and the
redactor writes each piece back in place (`Redactor.redact_pieces`): every
part without text, and every other key of a part, survives untouched and in
order. JSON arguments are scanned by their decoded strings (keys, string
values and numbers), so an escape such as `\\u0040` hides nothing, and a
redaction is made inside those strings: the arguments stay valid JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cascadepolicy.guardrails.redaction import SEPARATOR


@dataclass(frozen=True)
class Pieces:
    """The texts of one carrier, in order, and how to write new ones back (same count, same order)."""

    texts: tuple[str, ...]
    put: Callable[[Sequence[str]], None]

    @property
    def text(self) -> str:
        texts = self.texts
        return texts[0] if len(texts) == 1 else SEPARATOR.join(texts)


def _field(owner: Any, key: str) -> Any:
    return owner.get(key) if isinstance(owner, Mapping) else getattr(owner, key, None)


# ------------------------------------------------------------ chat messages

def content_texts(content: Any) -> list[tuple[int, str]]:
    """(part index, text) of a message content's text: the string itself (index -1), or every part
    that is a string or has a string `text` (a `text` part; parts without text are not text)."""
    if isinstance(content, str):
        return [(-1, content)]
    if isinstance(content, list):
        return [(k, p if isinstance(p, str) else p["text"]) for k, p in enumerate(content)
                if isinstance(p, str) or (isinstance(p, Mapping) and isinstance(p.get("text"), str))]
    return []


def _with_texts(content: Any, slots: Sequence[int], texts: Sequence[str]) -> Any:
    """A new content with the text at each slot replaced; every other part is the same object."""
    if slots == [-1]:
        return texts[0]
    parts = list(content)
    for k, text in zip(slots, texts, strict=True):
        part = parts[k]
        parts[k] = text if isinstance(part, str) else {**part, "text": text}
    return parts


def message_pieces(message: dict[str, Any], *, tool_calls: bool = True) -> Pieces:
    """The texts of a chat message (its working copy, which `put` updates): its content's text parts,
    then, with `tool_calls`, each of its tool calls' arguments (an assistant message of an earlier turn)."""
    content = message.get("content")
    if isinstance(content, str) and not (tool_calls and message.get("tool_calls")):
        return Pieces((content,), functools.partial(_put_content, message, content))  # the common case: one text
    slots_texts = content_texts(content)
    slots = [k for k, _ in slots_texts]
    calls = message.get("tool_calls") if tool_calls else None
    arguments: list[tuple[int, Arguments]] = []
    if isinstance(calls, list):
        for j, call in enumerate(calls):
            raw = _field(_field(call, "function"), "arguments")
            if isinstance(raw, str):
                arguments.append((j, Arguments.of(raw)))
    texts = tuple(t for _, t in slots_texts) + tuple(t for _, a in arguments for t in a.texts)

    def put(new: Sequence[str]) -> None:
        if len(new) != len(texts):
            raise ValueError("put needs one text per piece")
        n = len(slots)
        if list(new[:n]) != [t for _, t in slots_texts]:
            message["content"] = _with_texts(content, slots, new[:n])
        if arguments:
            entries = list(calls or ())
            for j, args in arguments:
                own, n = new[n : n + len(args.texts)], n + len(args.texts)
                if list(own) != list(args.texts):
                    entries[j] = _with_arguments(entries[j], args.rebuilt(own))
            message["tool_calls"] = entries
    return Pieces(texts, put)


def _put_content(message: dict[str, Any], content: str, new: Sequence[str]) -> None:
    if len(new) != 1:
        raise ValueError("put needs one text per piece")
    if new[0] != content:
        message["content"] = new[0]


def _with_arguments(call: Any, arguments: str) -> dict[str, Any]:
    """A tool call (a mapping or an object) as a new mapping with other `arguments`; the caller's is untouched."""
    function = _field(call, "function")
    if isinstance(call, Mapping) and isinstance(function, Mapping):
        return {**call, "function": {**function, "arguments": arguments}}
    return {"id": _field(call, "id"), "type": _field(call, "type") or "function",
            "function": {"name": _field(function, "name"), "arguments": arguments}}


def text_pieces(texts: list[Any], index: int) -> Pieces:
    """One text of a list (`metadata.documents`), as `str` gives it; `put` replaces it in the list."""
    def put(new: Sequence[str]) -> None:
        texts[index] = new[0]
    return Pieces((str(texts[index]),), put)


# ------------------------------------------------------------ tool-call arguments

@dataclass(frozen=True)
class Arguments:
    """A tool call's arguments: the decoded strings of its JSON (keys, string values, numbers, in
    document order), or the whole text when it is not JSON."""

    raw: str
    is_json: bool
    decoded: Any  # the parsed JSON
    texts: tuple[str, ...]

    @classmethod
    def of(cls, raw: str) -> Arguments:
        try:
            decoded = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON (or too deep to parse): scanned as text
            return cls(raw, False, None, (raw,))
        return cls(raw, True, decoded, tuple(_leaves(decoded)))

    @property
    def text(self) -> str:
        return SEPARATOR.join(self.texts)

    def rebuilt(self, texts: Sequence[str]) -> str:
        """The arguments with each text replaced by the one in the same place of `texts`; JSON stays
        JSON (a number that changed becomes a string). Unchanged texts give the raw arguments back."""
        if list(texts) == list(self.texts):
            return self.raw
        if not self.is_json:
            return texts[0]
        try:
            return json.dumps(_replaced(self.decoded, iter(texts)), ensure_ascii=False)
        except (ValueError, RecursionError):
            # nested too deep to write back (the parser's limit is near the writer's): the redacted
            # texts as one JSON string, so no original value survives and the arguments stay JSON
            return json.dumps(SEPARATOR.join(texts), ensure_ascii=False)


def restore_arguments(arguments: str, restore: Callable[[str], str]) -> str:
    """A tool call's arguments with `restore` (`Redactor.restore`) applied inside its JSON strings, so a
    restored value can never add keys or break the JSON; arguments that are not JSON are restored as text."""
    parsed = Arguments.of(arguments)
    return parsed.rebuilt([restore(t) for t in parsed.texts])


def _scalar_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def _leaves(decoded: Any) -> list[str]:
    """The decoded JSON's keys and scalars as text, in document order (iterative: depth is the parser's bound)."""
    out: list[str] = []
    stack: list[Any] = [decoded]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in reversed(list(node.items())):
                stack.append(value)
                stack.append(_Key(key))
        elif isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, _Key):
            out.append(node.name)
        else:
            text = _scalar_text(node)
            if text is not None:
                out.append(text)
    return out


@dataclass(frozen=True)
class _Key:
    name: str


def _replaced(decoded: Any, texts: Iterator[str]) -> Any:
    """A copy of the decoded JSON with its leaves taken from `texts`, in `_leaves` order."""
    root: list[Any] = [None]
    # work items, popped in `_leaves` order: (node, set its copy) or (_Key, the object's copy, a cell for the value's key)
    stack: list[tuple[Any, Callable[[Any], None]]] = [(decoded, functools.partial(root.__setitem__, 0))]
    while stack:
        node, put = stack.pop()
        if isinstance(node, dict):
            copy: dict[str, Any] = {}
            put(copy)
            for key, value in reversed(list(node.items())):
                cell: list[str] = [key]
                stack.append((value, functools.partial(_set_under, copy, cell)))
                stack.append((_Key(key), functools.partial(_rename, copy, cell)))
        elif isinstance(node, list):
            items: list[Any] = [None] * len(node)
            put(items)
            stack.extend((value, functools.partial(items.__setitem__, i)) for i, value in reversed(list(enumerate(node))))
        elif isinstance(node, _Key):
            put(next(texts))
        else:
            text = _scalar_text(node)
            new = next(texts) if text is not None else text
            put(node if new == text else new)
    return root[0]


def _rename(copy: dict[str, Any], cell: list[str], new_key: str) -> None:
    cell[0] = new_key
    copy[new_key] = None  # its place in the object's order; the value follows


def _set_under(copy: dict[str, Any], cell: list[str], value: Any) -> None:
    copy[cell[0]] = value
