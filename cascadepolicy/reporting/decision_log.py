"""Reading a decision log (the engine's `audit.decision_log` JSONL) one record at a time.

A log may be gigabytes and may hold anything (a truncated last line, a
foreign line, a line someone made huge): lines are read with a bound, a line
longer than `max_line_bytes` is skipped without being held in memory, and a
line that is not a JSON object with a numeric `timestamp` and a string
`outcome` is counted as bad, never raised.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

# A decision with `audit.include_text` carries the (redacted) prompt and answer:
# a few MiB is generous for a real record and still bounded for a hostile one.
MAX_LINE_BYTES = 8 * 1024 * 1024
_CHUNK = 1024 * 1024

BAD_KINDS = ("too_long", "invalid_json", "not_a_decision")


@dataclass
class LogStats:
    """What reading the log found besides records."""

    lines: int = 0
    records: int = 0
    bad: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_KINDS, 0))
    first_bad_line: dict[str, int] = field(default_factory=dict)

    @property
    def bad_lines(self) -> int:
        return sum(self.bad.values())

    def count_bad(self, kind: str) -> None:
        self.bad[kind] += 1
        self.first_bad_line.setdefault(kind, self.lines)


def _lines(stream: BinaryIO, max_line_bytes: int, on_bytes: Callable[[int], None] | None) -> Iterator[bytes | None]:
    """Each line's bytes, or None for a line over `max_line_bytes` (its rest read and dropped)."""
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        if on_bytes is not None:
            on_bytes(len(line))
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while True:  # skip to the end of the line, a chunk at a time
                rest = stream.readline(_CHUNK)
                if on_bytes is not None:
                    on_bytes(len(rest))
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
        else:
            yield line


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_decisions(path: str | Path, stats: LogStats, *, max_line_bytes: int = MAX_LINE_BYTES,
                   on_bytes: Callable[[int], None] | None = None) -> Iterator[dict[str, Any]]:
    """The decision records of the log at `path`, in file order; `stats` counts lines, records and bad lines."""
    with open(path, "rb") as stream:
        for line in _lines(stream, max_line_bytes, on_bytes):
            if line is not None and not line.strip():
                continue  # a blank line (an editor's trailing newline) is no line of the log
            stats.lines += 1
            if line is None:
                stats.count_bad("too_long")
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                stats.count_bad("invalid_json")
                continue
            if not (isinstance(record, dict) and is_number(record.get("timestamp")) and record["timestamp"] >= 0
                    and isinstance(record.get("outcome"), str)):
                stats.count_bad("not_a_decision")
                continue
            stats.records += 1
            yield record
