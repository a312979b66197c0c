"""Stage 2b: `extends` composition.

A policy may name one or more base files in `extends` (paths relative to the
file). Bases are loaded first, in order, then the file itself is laid over
them: mappings merge key by key, everything else (lists, scalars) is replaced
whole. The source map follows the data, so a value inherited from a base still
points at its line in the base file. A file that extends itself, directly or
through others, is an error.

Every file is read through `confine`: a base must resolve inside the policy's
repository (or a directory the caller allowed with `allow_outside`), must be
a regular file under the size limit, and one composition reads at most
`MAX_EXTENDS_FILES` files, nested at most `MAX_EXTENDS_DEPTH` deep. Anything
else is a diagnostic at the `extends` entry that names it, which repeats the
path as written and nothing read from elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cascadepolicy.diagnostics import Diagnostic, Location, Severity
from cascadepolicy.loading.confine import Confinement, Refused, read_bounded, shown
from cascadepolicy.loading.interpolate import interpolate
from cascadepolicy.loading.source import (
    MAX_FILE_BYTES,
    PathKey,
    SourceDocument,
    SourceMap,
    decode_bytes,
    parse_yaml,
)

MAX_EXTENDS_FILES = 32  # files one composition reads, the top-level file and every base read (again) included
MAX_EXTENDS_DEPTH = 8  # bases of bases of ... of the top-level file
MAX_DOTENV_BYTES = 64 * 1024

AllowOutside = Iterable[str | os.PathLike[str]]


def compose(path: Path, display: str, environ: Mapping[str, str] | None = None,
            allow_outside: AllowOutside = ()) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Load `path` with everything it extends, interpolated and merged.

    Variables come from `environ` (default: the process environment), then
    from a `.env` file beside the policy for names the environment lacks, as
    docker compose does, so development defaults can live next to the file.
    Bases must lie inside the policy's repository or a directory of `allow_outside`.
    """
    confinement = Confinement.around(Path(os.path.abspath(path)).parent, allow_outside)
    dotenv, diagnostics = read_dotenv(path.parent / ".env", os.path.join(os.path.dirname(display), ".env"), confinement)
    variables = {**dotenv, **(os.environ if environ is None else environ)}
    document, more = _Composition(confinement, variables).load(path, display)
    return document, diagnostics + more


def compose_document(document: SourceDocument, base_dir: Path, environ: Mapping[str, str],
                     allow_outside: AllowOutside = ()) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Interpolate and compose an already parsed document (for `loads`); `base_dir` stands for its directory."""
    composition = _Composition(Confinement.around(base_dir, allow_outside), dict(environ))
    composition.files = 1
    return composition.finish(document, base_dir, ())


def parse_dotenv(text: str) -> dict[str, str]:
    """`NAME=value` lines of a .env file (comments, blank lines and `export` allowed)."""
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


def read_dotenv(path: Path, display: str, confinement: Confinement) -> tuple[dict[str, str], list[Diagnostic]]:
    """The variables of the `.env` at `path`, if there is one that may be read; a warning when one is passed over.

    No `.env`, or a directory of that name (a common name for a virtualenv),
    is no `.env`. One that resolves outside the repository, is not a regular
    file, is larger than `MAX_DOTENV_BYTES` or is not UTF-8 is not read.
    """
    if not os.path.lexists(path):
        return {}, []

    def passed_over(reason: str) -> tuple[dict[str, str], list[Diagnostic]]:
        return {}, [Diagnostic("env-file-ignored", f"{display} {reason}; its variables were not read.", Location(display, 1, 1),
                               Severity.WARNING, hint="make `.env` a small UTF-8 text file inside the policy's repository, or delete it.")]

    try:
        resolved = confinement.resolve(path.parent, path.name)
        raw, size = read_bounded(resolved, MAX_DOTENV_BYTES)
    except Refused as refused:
        if refused.code == "missing" or refused.reason.startswith("is a directory"):
            return {}, []
        return passed_over(refused.reason)
    if size > MAX_DOTENV_BYTES:
        return passed_over(f"is {size:,} bytes; a .env file may be at most {MAX_DOTENV_BYTES:,}")
    try:
        return parse_dotenv(raw.decode("utf-8-sig")), []
    except UnicodeDecodeError:
        return passed_over("is not UTF-8 text")


class _Composition:
    """One top-level file's composition: where its files may come from and how many were read."""

    def __init__(self, confinement: Confinement, environ: dict[str, str]) -> None:
        self.confinement = confinement
        self.environ = environ
        self.files = 0
        self.over_limit = False

    def load(self, path: Path, display: str) -> tuple[SourceDocument | None, list[Diagnostic]]:
        try:
            resolved = _resolve_named(path, self.confinement)
            self.files += 1
            document, diagnostics = _read_document(resolved, display)
        except Refused as refused:
            return None, [_named_refusal(display, refused)]
        if document is None:
            return None, diagnostics
        return self.finish(document, path.parent, (resolved,))

    def finish(self, document: SourceDocument, base_dir: Path, chain: tuple[Path, ...]) -> tuple[SourceDocument | None, list[Diagnostic]]:
        data, diagnostics = interpolate(document.data, document.source_map, self.environ)
        bases = data.get("extends")
        if bases is None:
            return document, diagnostics
        names = [bases] if isinstance(bases, str) else bases
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return document, diagnostics  # the schema stage reports the wrong type
        merged: dict[str, Any] = {}
        merged_map = SourceMap()
        for index, name in enumerate(names):
            entry: PathKey = ("extends",) if isinstance(bases, str) else ("extends", index)
            base = self.base(document.source_map, entry, base_dir, name, chain, diagnostics)
            if base is not None:
                _merge(merged, merged_map, base.data, base.source_map, ())
        own = {k: v for k, v in data.items() if k != "extends"}
        _merge(merged, merged_map, own, document.source_map, ())
        merged_map.values[()] = document.source_map.values[()]
        merged_map.substituted.update(document.source_map.substituted)  # `extends` itself is not merged
        return SourceDocument(document.file, merged, merged_map, document.text), diagnostics

    def base(self, source_map: SourceMap, entry: PathKey, base_dir: Path, name: str, chain: tuple[Path, ...],
             diagnostics: list[Diagnostic]) -> SourceDocument | None:
        """One `extends` entry composed, or None with the reason added to `diagnostics`."""
        where = source_map.value(entry)
        interpolation = source_map.interpolated.get(entry)
        written = shown(interpolation.written if interpolation else name)

        def refuse(code: str, reason: str, hint: str | None = None) -> None:
            diagnostics.append(Diagnostic(code, f"`extends` names {written}, which {reason}.", where, hint=hint))

        if self.over_limit:
            return None
        if self.files >= MAX_EXTENDS_FILES or len(chain) > MAX_EXTENDS_DEPTH:
            self.over_limit = True
            refuse("extends-limit", f"would make this composition read more than {MAX_EXTENDS_FILES} files" if self.files >= MAX_EXTENDS_FILES
                   else f"would nest bases more than {MAX_EXTENDS_DEPTH} deep", hint="flatten the bases into fewer files.")
            return None
        try:
            target = self.confinement.resolve(base_dir, name)
        except Refused as refused:
            outside = refused.code == "outside"
            refuse("extends-outside" if outside else "extends-invalid", refused.reason, _ALLOW_HINT if outside else None)
            return None
        if target in chain:
            cycle = " -> ".join(p.name for p in (*chain[chain.index(target):], target))
            diagnostics.append(Diagnostic("extends-cycle", f"`extends` forms a cycle: {cycle}.", where,
                                          hint="remove one of the `extends` entries."))
            return None
        display = os.path.relpath(target) if not os.path.isabs(name) else str(target)
        try:
            self.files += 1
            document, problems = _read_document(target, display)
        except Refused as refused:
            if refused.code == "missing":
                refuse("extends-not-found", "does not exist" + ("" if interpolation else f" (looked for {display})"))
            else:
                refuse("extends-invalid", refused.reason)
            return None
        diagnostics.extend(problems)
        if document is None:
            return None
        composed, more = self.finish(document, target.parent, (*chain, target))
        diagnostics.extend(more)
        return composed


def load_named(path: Path, display: str, allow_outside: AllowOutside = ()) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Parse a file the caller named (a policy or a test suite) as composition reads its top-level file.

    The caller chose the path, so it may lie anywhere; but a symbolic link
    from its directory's repository to a file outside is refused, and only a
    regular file under the size limit is read (a glob over a checkout may
    match a link to a device).
    """
    try:
        resolved = _resolve_named(path, Confinement.around(Path(os.path.abspath(path)).parent, allow_outside))
        return _read_document(resolved, display)
    except Refused as refused:
        return None, [_named_refusal(display, refused)]


def _resolve_named(path: Path, confinement: Confinement) -> Path:
    return confinement.resolve(Path.cwd(), os.fspath(path))


def _named_refusal(display: str, refused: Refused) -> Diagnostic:
    outside = refused.code == "outside"
    return Diagnostic("extends-outside" if outside else "file-not-found", f"{display} {refused.reason}.",
                      Location(display, 1, 1), hint=_ALLOW_HINT if outside else None)


def _read_document(resolved: Path, display: str) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Parse one file; raises `Refused` when it cannot be read at all."""
    raw, size = read_bounded(resolved, MAX_FILE_BYTES)
    if size > MAX_FILE_BYTES:
        return None, [Diagnostic("file-too-large", f"the file is {size:,} bytes; a policy may be at most {MAX_FILE_BYTES:,} bytes.",
                                 Location(display, 1, 1), hint="split it into several files composed with `extends`.")]
    text, diagnostics = decode_bytes(raw, display)
    if text is None:
        return None, diagnostics
    return parse_yaml(text, display)


_ALLOW_HINT = ("bases must lie inside the policy's repository (the nearest directory holding .git); "
               "to trust another directory, pass --allow-outside DIR (allow_outside= in Python).")


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
