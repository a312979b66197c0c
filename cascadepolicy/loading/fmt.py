"""`cascadepolicy fmt`: canonical formatting of policy and suite files.

A ruamel.yaml round trip keeps comments, key order, quoting and flow style
(`{requests: 10, per: 1h}` stays on one line); what it makes canonical is the
layout: two-space mappings, sequences indented under their key (`  - item`),
no trailing spaces, one final newline, and no line folding (a long flow
mapping stays on one line rather than being broken at an arbitrary column).
Files that do not parse are reported with the same diagnostics as
`validate` and left untouched.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass, field
from pathlib import Path

from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.loading.source import parse_yaml, read_text

# Folding at a column breaks quoted strings mid-sentence; never fold.
WIDTH = 4096


@dataclass
class FormatOutcome:
    path: Path
    changed: bool
    text: str | None = None
    diff: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)


def format_text(text: str) -> str:
    """The canonical form of YAML `text` (which must parse)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = WIDTH
    yaml.brace_single_entry_mapping_in_flow_sequence = True  # keep `[{usd: 1}]`, not `[usd: 1]`
    data = yaml.load(text)
    out = io.StringIO()
    yaml.dump(data, out)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def format_file(path: Path, *, check: bool) -> FormatOutcome:
    display = str(path)
    text, diagnostics = read_text(path, display)
    if text is None:
        return FormatOutcome(path, False, diagnostics=diagnostics)
    document, diagnostics = parse_yaml(text, display)
    if document is None and any(d.code not in ("yaml-not-mapping",) for d in diagnostics):
        return FormatOutcome(path, False, diagnostics=diagnostics)
    formatted = format_text(text)
    if formatted == text:
        return FormatOutcome(path, False, formatted)
    diff = "".join(difflib.unified_diff(text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                                        display, f"{display} (formatted)"))
    if not check:
        path.write_text(formatted, encoding="utf-8")
    return FormatOutcome(path, True, formatted, diff)
