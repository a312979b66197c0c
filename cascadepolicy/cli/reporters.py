"""Output formats for diagnostics: text, JSON and GitHub annotations.

Reporters only format; deciding the exit code is the CLI's job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.loading.loader import LoadResult


def report_text(results: Sequence[LoadResult], out: TextIO, *, verbose: bool = False) -> None:
    errors = warnings = 0
    for result in results:
        for d in result.diagnostics:
            out.write(d.format() + "\n")
        errors += len(result.errors)
        warnings += len(result.warnings)
        if verbose and result.policy is not None and not result.diagnostics:
            out.write(f"{result.file}: ok\n")
    files = len(results)
    clean = sum(1 for r in results if not r.diagnostics)
    out.write(f"{files} file(s) checked: {clean} clean, {errors} error(s), {warnings} warning(s)\n")


def report_json(results: Sequence[LoadResult], out: TextIO) -> None:
    payload = {
        "files": [
            {"file": r.file, "ok": r.policy is not None, "diagnostics": [d.to_dict() for d in r.diagnostics]}
            for r in results
        ],
        "errors": sum(len(r.errors) for r in results),
        "warnings": sum(len(r.warnings) for r in results),
    }
    json.dump(payload, out, indent=2)
    out.write("\n")


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # Property values are also cut at `,` and `:` by the runner.
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    level = "error" if d.is_error else "warning"
    loc = d.location
    props = f"file={_escape_property(loc.file)},line={loc.line},col={loc.column}," if loc else ""
    message = d.message + (f" ({d.hint})" if d.hint else "")
    return f"::{level} {props}title={_escape_property(d.code)}::{_escape(message)}"


def report_github(results: Sequence[LoadResult], out: TextIO) -> None:
    for result in results:
        for d in result.diagnostics:
            out.write(github_line(d) + "\n")
