"""Stage 1 of the pipeline: bytes → plain data + a source map.

A policy file is read as bytes, checked for size and encoding, checked by a
linear pass over its YAML events for what it would expand to
(`cascadepolicy.loading.yaml_limits`: aliases, merge keys, nesting, size), parsed
with ruamel.yaml's round-trip loader (which knows where every key and value
stands), and converted into plain Python data (dict, list, str, int, float,
bool, None). The `SourceMap` remembers the `file:line:col` of every key and
value by path, so every later stage can point at the exact place of a problem.
Problems are returned as diagnostics; nothing here raises on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from cascadepolicy.diagnostics import Diagnostic, Location
from cascadepolicy.loading.confine import Refused, read_bounded
from cascadepolicy.loading.yaml_limits import MAX_DEPTH, MAX_NODES, check_limits

MAX_FILE_BYTES = 1024 * 1024

PathKey = tuple[str | int, ...]
_TAB_INDENT = re.compile(r"^[ ]*\t", re.MULTILINE)


class Interpolation(NamedTuple):
    """A string value as written (`gpt-${SUFFIX}`) and as interpolated, for showing the one instead of the other."""

    written: str
    value: str
    environment: tuple[tuple[str, str], ...]  # (variable, value) for each reference the environment answered


@dataclass
class SourceMap:
    """Locations of keys and values in the source files, by data path.

    `interpolated` says which values came through `${VAR}` interpolation (it
    follows the data through `extends` like the locations do); `substituted`
    holds every variable any composed file took from the environment, kept
    even where the value was overridden, so no message can print it.
    """

    values: dict[PathKey, Location] = field(default_factory=dict)
    keys: dict[PathKey, Location] = field(default_factory=dict)
    quoted: set[PathKey] = field(default_factory=set)
    interpolated: dict[PathKey, Interpolation] = field(default_factory=dict)
    substituted: dict[str, str] = field(default_factory=dict)

    def value(self, path: PathKey) -> Location | None:
        """Where the value at `path` stands, or its nearest enclosing value."""
        for end in range(len(path), -1, -1):
            loc = self.values.get(path[:end])
            if loc is not None:
                return loc
        return None

    def key(self, path: PathKey) -> Location | None:
        """Where the key naming `path` stands (falls back to the value)."""
        return self.keys.get(path) or self.value(path)

    def drop(self, prefix: PathKey) -> None:
        n = len(prefix)
        for table in (self.values, self.keys, self.interpolated):
            for path in [p for p in table if p[:n] == prefix]:
                del table[path]
        self.quoted -= {p for p in self.quoted if p[:n] == prefix}

    def update(self, other: SourceMap) -> None:
        self.values.update(other.values)
        self.keys.update(other.keys)
        self.quoted |= other.quoted
        self.interpolated.update(other.interpolated)
        self.substituted.update(other.substituted)

    def rebase(self, prefix: PathKey) -> SourceMap:
        """A map of the entries under `prefix`, with the prefix kept."""
        n = len(prefix)
        out = SourceMap()
        out.values = {p: v for p, v in self.values.items() if p[:n] == prefix}
        out.keys = {p: v for p, v in self.keys.items() if p[:n] == prefix}
        out.quoted = {p for p in self.quoted if p[:n] == prefix}
        out.interpolated = {p: v for p, v in self.interpolated.items() if p[:n] == prefix}
        out.substituted = dict(self.substituted)
        return out


@dataclass
class SourceDocument:
    file: str
    data: Any
    source_map: SourceMap
    text: str = ""


def read_text(path: Path, display: str) -> tuple[str | None, list[Diagnostic]]:
    """Read a file as UTF-8 text, or explain why it cannot be."""
    try:
        raw, size = read_bounded(path, MAX_FILE_BYTES)  # a device or FIFO named on the command line never hangs
    except Refused as refused:
        message = f"{display} {refused.reason}." if refused.code == "missing" else f"{display} {refused.reason}; give a policy file."
        return None, [Diagnostic("file-not-found", message, Location(display, 1, 1))]
    return decode_bytes(raw, display, size)


def decode_bytes(raw: bytes, display: str, size: int | None = None) -> tuple[str | None, list[Diagnostic]]:
    start = Location(display, 1, 1)
    if len(raw) > MAX_FILE_BYTES:
        return None, [
            Diagnostic(
                "file-too-large",
                f"the file is {max(size or 0, len(raw)):,} bytes; a policy may be at most {MAX_FILE_BYTES:,} bytes.",
                start,
                hint="split it into several files composed with `extends`.",
            )
        ]
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [
            Diagnostic("file-encoding", "the file is UTF-16; policies must be UTF-8.", start,
                       hint="re-save the file as UTF-8.")
        ]
    if b"\x00" in raw:
        return None, [Diagnostic("file-encoding", "the file contains NUL bytes; it looks binary, not a YAML policy.", start)]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [
            Diagnostic("file-encoding", f"byte 0x{raw[exc.start]:02x} is not valid UTF-8; policies must be UTF-8 text.",
                       Location(display, line, column), hint="re-save the file as UTF-8.")
        ]
    return text, []


def parse_yaml(text: str, display: str) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Parse YAML text into plain data plus source map, or diagnostics."""
    tabs = [
        Diagnostic("yaml-tab", "a tab character is used for indentation; YAML allows only spaces there.",
                   Location(display, text.count("\n", 0, m.end()) + 1, m.end() - m.start()),
                   hint="replace the tab with spaces.")
        for m in _TAB_INDENT.finditer(text)
    ]
    if tabs:
        return None, tabs
    too_complex = check_limits(text, display)
    if too_complex:
        return None, too_complex
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    try:
        documents = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        return None, [_marked_error(exc, display)]
    except ReaderError as exc:
        return None, [_reader_error(exc, text, display)]
    except (YAMLError, RecursionError) as exc:
        return None, [Diagnostic("yaml-syntax", f"the YAML cannot be parsed: {exc}", Location(display, 1, 1))]
    except Exception as exc:  # ruamel's constructors fail on some hostile scalars (`+_`: IndexError): not parseable
        return None, [Diagnostic("yaml-syntax", f"the YAML cannot be parsed: {type(exc).__name__}: {exc}",
                                 Location(display, 1, 1))]
    documents = [d for d in documents if d is not None]
    if not documents:
        return None, [Diagnostic("file-empty", "the file is empty; a policy needs at least `version` and `name`.",
                                 Location(display, 1, 1))]
    if len(documents) > 1:
        return None, [Diagnostic("yaml-unsupported", "the file holds several YAML documents; a policy is one document.",
                                 Location(display, 1, 1), hint="remove the `---` separators or split the file.")]
    converter = _Converter(display)
    try:
        data = converter.convert(documents[0], ())
    except _TooBig as exc:  # yaml_limits stops these first; this is the second line
        return None, [Diagnostic("yaml-too-complex", str(exc), Location(display, 1, 1))]
    if not isinstance(data, dict):
        return None, [Diagnostic("yaml-not-mapping",
                                 f"the document is {_kind(data)}; a policy is a mapping of sections such as `version`, `name` and `routes`.",
                                 Location(display, 1, 1))]
    return SourceDocument(display, data, converter.source_map, text), []


def load_file(path: Path, display: str | None = None) -> tuple[SourceDocument | None, list[Diagnostic]]:
    display = display or str(path)
    text, diagnostics = read_text(path, display)
    if text is None:
        return None, diagnostics
    return parse_yaml(text, display)


def _marked_error(exc: Any, display: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    location = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
    problem = (exc.problem or "").strip()
    if type(exc).__name__ == "DuplicateKeyError":
        key = re.search(r'duplicate key "(.*?)"', problem)
        name = key.group(1) if key else "?"
        first = exc.context_mark
        where = f" (first defined on line {first.line + 1})" if first else ""
        return Diagnostic("yaml-duplicate-key", f"the key {name!r} appears twice in the same mapping{where}; YAML would keep only one.",
                          location, hint="remove or rename one of them.")
    context = f" {exc.context}" if exc.context else ""
    return Diagnostic("yaml-syntax", f"the YAML cannot be parsed: {problem}{context}.".replace("..", "."), location)


def _reader_error(exc: Any, text: str, display: str) -> Diagnostic:
    # ReaderError knows only the character offset; turn it into line and column.
    position = exc.position if isinstance(exc.position, int) and 0 <= exc.position <= len(text) else 0
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    character = exc.character if isinstance(exc.character, int) else ord(text[position]) if position < len(text) else 0
    return Diagnostic("yaml-syntax", f"the character U+{character:04X} is not allowed in YAML ({exc.reason}).",
                      Location(display, line, column), hint="remove it, or write it as an escape in a double-quoted string.")


class _TooBig(Exception):
    pass


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "plain text"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else "a single value"


class _Converter:
    def __init__(self, display: str) -> None:
        self.display = display
        self.source_map = SourceMap()
        self.source_map.values[()] = Location(display, 1, 1)
        self.count = 0
        self.active: set[int] = set()

    def loc(self, pair: Any) -> Location:
        line, col = pair
        return Location(self.display, line + 1, col + 1)

    def convert(self, node: Any, path: PathKey) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq
        from ruamel.yaml.scalarstring import ScalarString

        self.count += 1
        if self.count > MAX_NODES:
            raise _TooBig(f"the document expands to more than {MAX_NODES:,} nodes (aliases that multiply?); policies must be smaller.")
        if len(path) > MAX_DEPTH:
            raise _TooBig(f"the document nests deeper than {MAX_DEPTH} levels.")
        if isinstance(node, (CommentedMap, CommentedSeq)):
            if id(node) in self.active:
                raise _TooBig("the document refers to itself through an alias; recursive structures are not allowed.")
            self.active.add(id(node))
            try:
                if isinstance(node, CommentedMap):
                    return dict(self._items(node, path))
                return [self._item(node, i, path) for i in range(len(node))]
            finally:
                self.active.discard(id(node))
        if isinstance(node, ScalarString):
            if type(node).__name__ in ("DoubleQuotedScalarString", "SingleQuotedScalarString"):
                self.source_map.quoted.add(path)
            return str(node)
        if isinstance(node, bool) or node is None:
            return node
        if isinstance(node, int):
            return int(node)
        if isinstance(node, float):
            return float(node)
        if isinstance(node, str):
            return str(node)
        return str(node)  # timestamps and other tagged scalars stay text

    def _items(self, node: Any, path: PathKey) -> Iterator[tuple[str, Any]]:
        for key in node:
            child = (*path, str(key))
            try:
                self.source_map.keys[child] = self.loc(node.lc.key(key))
                self.source_map.values[child] = self.loc(node.lc.value(key))
            except (KeyError, TypeError, AttributeError):
                pass  # merged (`<<`) keys carry no position of their own
            yield str(key), self.convert(node[key], child)

    def _item(self, node: Any, index: int, path: PathKey) -> Any:
        child = (*path, index)
        try:
            self.source_map.values[child] = self.loc(node.lc.item(index))
        except (KeyError, TypeError, AttributeError):
            pass
        return self.convert(node[index], child)


def walk_strings(data: Any, path: PathKey = ()) -> Iterator[tuple[PathKey, str]]:
    """Every string value in `data` with its path (keys are not visited)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk_strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from walk_strings(value, (*path, index))
    elif isinstance(data, str):
        yield path, data
