"""Stage 1, before the YAML is built: bound what a document expands to.

`source.parse_yaml` hands the text to ruamel.yaml only after this pass has
read its events (a linear scan that builds nothing) and found it within the
limits below. ruamel's round-trip loader is pure Python and costs tens of
microseconds per node, and its handling of merge keys is quadratic (each map
merging an anchor compares itself with every earlier one: 5,000 `<<: *a`
took 22 s); aliases to anchors that hold aliases multiply (a billion laughs).
Here each alias counts as the size of what it names (values, characters and
nesting), a merge key as an alias, and the first event past a limit is reported as `yaml-too-complex` at its
`file:line:col`.

The events come from libyaml (PyYAML's C parser, about 0.1 s per MiB) when it
is installed; if it is not, or it rejects text that ruamel might accept, from
ruamel's own parser, which stops at the same limits. A syntax error ends the
pass without a diagnostic: ruamel then reports it, after building no more
than this pass counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from cascadepolicy.diagnostics import Diagnostic, Location
from cascadepolicy.errors import CascadePolicyError

MAX_NODES = 20_000  # values in the file once every alias and merge key is expanded (keys not counted)
MAX_TEXT = 2 * 1024 * 1024  # characters of keys and scalars once expanded: an alias of a long text is that text again
MAX_DEPTH = 64  # nesting of mappings and sequences, also through aliases
MAX_ALIASES = 1_000  # `*name` references, including those under `<<`
MAX_MERGE_KEYS = 100  # maps merged in with `<<` (each alias of `<<: [*a, *b]` counts)
MAX_DOCUMENTS = 16  # `---` documents in one file (a policy is one; empty ones are tolerated)

_MERGE_TAG = "tag:yaml.org,2002:merge"


class TooComplex(CascadePolicyError):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.mark = mark


@dataclass
class _Node:
    """A mapping or sequence being read."""

    anchor: str | None
    is_map: bool
    merge_list: bool  # a sequence written as the value of `<<`: its items are merged maps
    size: int = 1  # values in it once expanded, itself included
    height: int = 1  # levels of nesting in it, itself included
    chars: int = 0  # characters of its keys and scalars once expanded
    at_key: bool = True  # in a mapping: the next node is a key
    merging: bool = False  # in a mapping: the value being read follows `<<`


class _Counter:
    """Reads events and raises TooComplex at the first one past a limit."""

    def __init__(self) -> None:
        self.nodes = self.chars = self.aliases = self.merges = self.documents = 0
        self.stack: list[_Node] = []
        self.anchors: dict[str, tuple[int, int, int]] = {}  # name -> (size, height, chars) of the anchored node
        self.open: set[str] = set()  # anchors of the collections being read

    def feed(self, events: Iterable[Any]) -> None:
        for event in events:
            kind = type(event).__name__
            if kind == "ScalarEvent":
                key = self._at_key()
                if key and (event.tag == _MERGE_TAG or (event.tag is None and event.value == "<<" and not event.style)):
                    self.stack[-1].merging = True
                self._count(0 if key else 1, len(event.value), event)
                self._done(0 if key else 1, 0, len(event.value), event.anchor)
            elif kind == "AliasEvent":
                self._alias(event)
            elif kind in ("MappingStartEvent", "SequenceStartEvent"):
                self._start(event, kind == "MappingStartEvent")
            elif kind in ("MappingEndEvent", "SequenceEndEvent"):
                node = self.stack.pop()
                self.open.discard(node.anchor or "")
                self._done(node.size, node.height, node.chars, node.anchor)  # its values were counted as they came
            elif kind == "DocumentStartEvent":
                self.documents += 1
                if self.documents > MAX_DOCUMENTS:
                    raise TooComplex(f"the file holds more than {MAX_DOCUMENTS} YAML documents; a policy is one document.", event.start_mark)

    def _at_key(self) -> bool:
        return bool(self.stack) and self.stack[-1].is_map and self.stack[-1].at_key

    def _merged(self) -> bool:
        """Whether the node starting now is merged into its mapping by `<<`."""
        if not self.stack:
            return False
        parent = self.stack[-1]
        return parent.merging if parent.is_map else parent.merge_list

    def _start(self, event: Any, is_map: bool) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise TooComplex(f"the document nests deeper than {MAX_DEPTH} levels.", event.start_mark)
        merged = self._merged()
        if merged and is_map:
            self._merge(event)
        if not self._at_key():
            self._count(1, 0, event)  # the collection itself; its values count as they come
        self.stack.append(_Node(event.anchor, is_map, merge_list=merged and not is_map))
        if event.anchor is not None:
            self.open.add(event.anchor)

    def _alias(self, event: Any) -> None:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise TooComplex(f"the document has more than {MAX_ALIASES:,} aliases; `*{event.anchor}` is one too many.", event.start_mark)
        if event.anchor in self.open:
            raise TooComplex(f"the alias `*{event.anchor}` refers to a node that holds it; recursive structures are not allowed.",
                             event.start_mark)
        if self._merged():
            self._merge(event)
        size, height, chars = self.anchors.get(event.anchor, (1, 0, 0))  # an unknown anchor: ruamel reports it
        if len(self.stack) + height > MAX_DEPTH:
            raise TooComplex(f"`*{event.anchor}` makes the document nest deeper than {MAX_DEPTH} levels.", event.start_mark)
        if self._at_key():
            size = 0
        self._count(size, chars, event)
        self._done(size, height, chars, None)

    def _merge(self, event: Any) -> None:
        self.merges += 1
        if self.merges > MAX_MERGE_KEYS:
            raise TooComplex(f"the document merges more than {MAX_MERGE_KEYS} maps with `<<` (each merge costs the parser more than the one before).",
                             event.start_mark)

    def _count(self, size: int, chars: int, event: Any) -> None:
        self.nodes += size
        self.chars += chars
        if self.nodes > MAX_NODES:
            raise TooComplex(f"the document expands to more than {MAX_NODES:,} values (aliases or merge keys that multiply?); policies must be smaller.",
                             event.start_mark)
        if self.chars > MAX_TEXT:
            raise TooComplex(f"the document expands to more than {MAX_TEXT:,} characters of text (aliases of long texts?); policies must be smaller.",
                             event.start_mark)

    def _done(self, size: int, height: int, chars: int, anchor: str | None) -> None:
        """A node of `size` values, `height` levels and `chars` characters is complete: add it to its collection."""
        if anchor is not None:
            self.anchors[anchor] = (max(size, 1), height, chars)  # an anchored key is a value where its alias stands
        if not self.stack:
            return
        parent = self.stack[-1]
        parent.size += size
        parent.chars += chars
        parent.height = max(parent.height, height + 1)
        if parent.is_map:
            parent.merging = parent.merging and parent.at_key  # a `<<` key keeps it for its value; the value ends it
            parent.at_key = not parent.at_key


def _libyaml_events(text: str) -> tuple[Iterator[Any], tuple[type[BaseException], ...]] | None:
    try:
        import yaml
    except ImportError:
        return None
    loader = getattr(yaml, "CSafeLoader", None)
    return None if loader is None else (yaml.parse(text, Loader=loader), (yaml.YAMLError,))


def _ruamel_events(text: str) -> tuple[Iterator[Any], tuple[type[BaseException], ...]]:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    return YAML(typ="rt").parse(text), (YAMLError, ValueError)


def check_limits(text: str, display: str) -> list[Diagnostic]:
    """`yaml-too-complex` at the first event past a limit, or nothing."""
    for source in (_libyaml_events, _ruamel_events):
        found = source(text)
        if found is None:
            continue
        events, syntax_errors = found
        try:
            _Counter().feed(events)
        except TooComplex as exc:
            mark = exc.mark
            return [Diagnostic("yaml-too-complex", str(exc), Location(display, mark.line + 1, mark.column + 1),
                               hint="write the values out, or share fewer and smaller anchors; see 'Bounded evaluation' in docs/security.md.")]
        except syntax_errors:  # libyaml's: try ruamel's parser; ruamel's: its load reports the error
            continue
        return []
    return []
