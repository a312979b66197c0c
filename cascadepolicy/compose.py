"""Stage 2b: `extends` composition.

A policy may name one or more base files in `extends` (paths relative to the
file). Bases are loaded first, in order, then the file itself is laid over
them: mappings merge key by key, everything else (lists, scalars) is replaced
whole. The source map follows the data, so a value inherited from a base still
points at its line in the base file. A file that extends itself, directly or
through others, is an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.interpolate import interpolate
from cascadepolicy.source import PathKey, SourceDocument, SourceMap, load_file


def compose(path: Path, display: str, environ: Mapping[str, str] | None = None) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Load `path` with everything it extends, interpolated and merged.

    Variables come from `environ` (default: the process environment), then
    from a `.env` file beside the policy for names the environment lacks, as
    docker compose does, so development defaults can live next to the file.
    """
    variables = {**dotenv_values(path.parent / ".env"), **(os.environ if environ is None else environ)}
    return _compose(path, display, variables, ())


def dotenv_values(path: Path) -> dict[str, str]:
    """`NAME=value` lines of a .env file (comments, blank lines and `export` allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def compose_document(document: SourceDocument, base_dir: Path, environ: Mapping[str, str]) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Interpolate and compose an already parsed document (for `loads`)."""
    return _finish(document, base_dir, dict(environ), ())


def _compose(path: Path, display: str, environ: dict[str, str], chain: tuple[Path, ...]) -> tuple[SourceDocument | None, list[Diagnostic]]:
    document, diagnostics = load_file(path, display)
    if document is None:
        return None, diagnostics
    return _finish(document, path.parent, environ, (*chain, path.resolve()))


def _finish(document: SourceDocument, base_dir: Path, environ: dict[str, str], chain: tuple[Path, ...]) -> tuple[SourceDocument | None, list[Diagnostic]]:
    data, diagnostics = interpolate(document.data, document.source_map, environ)
    bases = data.get("extends")
    if bases is None:
        return document, diagnostics
    names = [bases] if isinstance(bases, str) else bases
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        return document, diagnostics  # the schema stage reports the wrong type
    merged: dict[str, Any] = {}
    merged_map = SourceMap()
    for index, name in enumerate(names):
        where = document.source_map.value(("extends",) if isinstance(bases, str) else ("extends", index))
        target = (base_dir / name).resolve()
        if target in chain:
            cycle = " -> ".join(p.name for p in (*chain[chain.index(target):], target))
            diagnostics.append(Diagnostic("extends-cycle", f"`extends` forms a cycle: {cycle}.", where,
                                          hint="remove one of the `extends` entries."))
            continue
        if not target.is_file():
            diagnostics.append(Diagnostic("extends-not-found", f"`extends` names {name!r}, which does not exist (looked for {target}).", where))
            continue
        display = os.path.relpath(target) if not os.path.isabs(name) else str(target)
        base, base_diagnostics = _compose(target, display, environ, chain)
        diagnostics.extend(base_diagnostics)
        if base is not None:
            _merge(merged, merged_map, base.data, base.source_map, ())
    own = {k: v for k, v in data.items() if k != "extends"}
    _merge(merged, merged_map, own, document.source_map, ())
    merged_map.values[()] = document.source_map.values[()]
    merged_map.substituted.update(document.source_map.substituted)  # `extends` itself is not merged
    return SourceDocument(document.file, merged, merged_map, document.text), diagnostics


def _merge(target: dict[str, Any], target_map: SourceMap, overlay: dict[str, Any], overlay_map: SourceMap, path: PathKey) -> None:
    for key, value in overlay.items():
        child = (*path, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            key_location = overlay_map.keys.get(child) or target_map.keys.get(child)
            if key_location is not None:
                target_map.keys[child] = key_location
            _merge(target[key], target_map, value, overlay_map, child)
            continue
        target_map.drop(child)
        target_map.update(overlay_map.rebase(child))
        target[key] = value
