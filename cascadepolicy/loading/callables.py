"""Where `module:function` references of a policy are located and resolved.

A `custom` guardrail or validator names Python code: `package.module:function`
(dotted attributes allowed after the colon) or, for guardrails, the name of an
entry point in the group `cascadepolicy.guardrails`. Two steps handle them:

- `check` (used by the whole-policy checks, so by `validate`, `test`, `graph`,
  `diff` and every loader) finds the module without importing anything: it
  walks the dotted name level by level through the path-entry finders of the
  search path, reads the module's source (at most `MAX_SOURCE_BYTES`) and
  parses it with `ast`, then looks for the first attribute among the names the
  module binds at top level. Entry points are looked up in installed metadata,
  never loaded. Nothing a policy names is executed.
- `resolve` imports the module and returns the callable. Only building an
  engine calls it, and `without_imports()` makes it return stand-ins that
  refuse to run instead (what `cascadepolicy test` uses unless told to trust
  the policy's code).

Both report problems with the same sentences (`CallableProblem`).

Search path of the static check: the process's `sys.path` (what the engine's
import would search in this process) followed by the current working
directory, since CI runs `validate` from the project root with the console
script, whose `sys.path` does not hold it. The policy's own directory is not
searched: the engine would not find a module there either. Modules that setuptools
installs in editable mode through a finder (`__editable___*_finder`) are
found through that finder's `MAPPING` data.

What a static check cannot see is accepted: an extension or bytecode-only
module, a module inside a zip archive, a source file over `MAX_SOURCE_BYTES`
(found, but its attributes are not verified), a module with
`from ... import *` or a module-level `__getattr__` (any attribute may exist),
and attributes after the first (`module:Class.method` checks `Class` only).
"""

from __future__ import annotations

import ast
import configparser
import contextlib
import contextvars
import functools
import importlib
import importlib.machinery
import inspect
import os
import pkgutil
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascadepolicy.diagnostics import did_you_mean
from cascadepolicy.errors import CascadePolicyError
from cascadepolicy.loading.confine import Refused, read_bounded

ENTRY_POINT_GROUP = "cascadepolicy.guardrails"
MAX_SOURCE_BYTES = 1024 * 1024  # a larger module is accepted as found, its attributes unverified
MAX_REFERENCE_CHARS = 512
MAX_METADATA_BYTES = 256 * 1024  # one distribution's entry_points.txt
FIND_HINT = "make sure the module is importable where the policy runs (installed, or on PYTHONPATH)."

_MISSING = object()
_imports_allowed = contextvars.ContextVar("cascadepolicy_callable_imports", default=True)


class CallableProblem(CascadePolicyError, ValueError):
    """A reference that does not name a callable: one sentence, and what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class CallableNotRun(CascadePolicyError, RuntimeError):
    """Raised by the stand-in of a callable that was not imported."""


@dataclass(frozen=True)
class Reference:
    """`module:attr.attr` split into its parts."""

    text: str
    module: str
    attributes: tuple[str, ...]


def parse(text: str, *, entry_points: bool = False) -> Reference | None:
    """The parts of `module:function`; None for an entry-point name (allowed only with `entry_points`)."""
    module, colon, attributes = text.partition(":")
    if not colon and entry_points and text.strip() and len(text) <= MAX_REFERENCE_CHARS:
        return None
    parts = tuple(attributes.split("."))
    if (not colon or len(text) > MAX_REFERENCE_CHARS or not all(p.isidentifier() for p in module.split("."))
            or not all(p.isidentifier() for p in parts)):
        alternative = f" or be the name of an entry point in the group {ENTRY_POINT_GROUP!r}" if entry_points else ""
        raise CallableProblem(f"{_shown(text)} must be written 'package.module:function'{alternative}.",
                              hint="write the module's dotted name, a colon and the function's name.")
    return Reference(text, module, parts)


# ---------------------------------------------------------------- static check

def check(text: str, *, entry_points: bool = False, search_path: Sequence[str] | None = None) -> CallableProblem | None:
    """Why `text` does not name a callable, found without importing anything; None when it may."""
    try:
        reference = parse(text, entry_points=entry_points)
        if reference is None:
            reference = _entry_point_reference(text, search_path)
            if reference is None:
                return None
        _check_reference(reference, list(search_path) if search_path is not None else default_search_path())
    except CallableProblem as problem:
        return problem
    return None


def default_search_path() -> list[str]:
    """`sys.path`, then the working directory."""
    paths = list(sys.path)
    with contextlib.suppress(OSError):
        cwd = os.getcwd()
        if cwd not in paths and "" not in paths:
            paths.append(cwd)
    return paths


@dataclass(frozen=True)
class _Located:
    source: Path | None  # the .py file to parse; None when there is none to read
    locations: tuple[str, ...] | None  # where submodules are searched, for a package
    namespace: bool = False


def _check_reference(reference: Reference, search_path: list[str]) -> None:
    try:
        located = _locate(reference, search_path)
    except CallableProblem:
        # A module some parent registers under its name when imported (`os.path`), and this process
        # already imported: its attributes are looked up without running any code.
        loaded = sys.modules.get(reference.module)
        if loaded is None:
            raise
        if inspect.getattr_static(loaded, reference.attributes[0], _MISSING) is _MISSING:
            raise _no_attribute(reference, list(vars(loaded))) from None
        return
    if located.namespace:
        raise _no_attribute(reference, (), hint="the module is a directory without __init__.py; name a module file.")
    if located.source is None:
        return  # compiled, in an archive, or built in: found, attributes not verified
    try:
        stat = located.source.stat()
        bindings = _bindings(str(located.source), stat.st_mtime_ns, stat.st_size, MAX_SOURCE_BYTES)
    except (Refused, OSError) as exc:
        reason = exc.reason if isinstance(exc, Refused) else "cannot be read"
        raise CallableProblem(f"module {reference.module!r} of {_shown(reference.text)} cannot be read: its source {reason}.",
                              hint=FIND_HINT) from None
    if bindings is None:
        return  # over the size limit: found, attributes not verified
    if isinstance(bindings, int):
        line = f" (line {bindings})" if bindings else ""
        raise CallableProblem(f"module {reference.module!r} of {_shown(reference.text)} cannot be checked: its source does not parse as Python{line}.",
                              hint="fix the module's syntax.")
    names, literals, open_ended = bindings
    first = reference.attributes[0]
    if first in literals:
        raise CallableProblem(f"{_shown(reference.text)} names a constant, which is not callable.", hint="name a function or a class.")
    if first not in names and not open_ended:
        raise _no_attribute(reference, names)


@functools.lru_cache(maxsize=64)
def _bindings(source: str, mtime_ns: int, size: int, limit: int) -> tuple[frozenset[str], frozenset[str], bool] | int | None:
    """What `_top_level_names` finds in a source file; the line of a syntax error (0: unknown); None when too large.

    Remembered per file version: a policy may name one module many times,
    and parsing a hostile megabyte takes a second or more.
    """
    raw, read = read_bounded(Path(source), limit)
    if read > limit:
        return None
    try:
        with warnings.catch_warnings():  # e.g. invalid escape sequences: the module's business, not the policy's
            warnings.simplefilter("ignore")
            tree = ast.parse(raw, filename=source)
    except SyntaxError as exc:
        return exc.lineno or 0
    except (ValueError, RecursionError, MemoryError):
        return 0
    names, literals, open_ended = _top_level_names(tree)
    return frozenset(names), frozenset(literals), open_ended


def _locate(reference: Reference, search_path: list[str]) -> _Located:
    parts = reference.module.split(".")
    located: _Located | None = None
    for depth, part in enumerate(parts):
        name = ".".join(parts[: depth + 1])
        if depth == 0:
            located = _find_top(part, search_path)
        elif located is not None and located.locations is not None:
            located = _find(name, list(located.locations))
        else:
            located = None
        if located is None:
            missing = f"module {reference.module!r} of {_shown(reference.text)} cannot be found"
            detail = "." if name == reference.module else f" ({name!r} does not exist)."
            raise CallableProblem(missing + detail, hint=FIND_HINT)
    assert located is not None
    return located


def _find_top(name: str, search_path: list[str]) -> _Located | None:
    if name in sys.builtin_module_names:
        return _Located(None, None)
    found = _find(name, search_path) or _editable(name)
    if found is None and importlib.machinery.FrozenImporter.find_spec(name) is not None:
        return _Located(None, None)
    return found


def _find(fullname: str, path: list[str]) -> _Located | None:
    """What the path finder would find for `fullname` on `path`, without importing a parent.

    `PathFinder.find_spec` would do the same, but wraps a namespace package's
    portions in a path that re-reads its parent package from `sys.modules`,
    which holds nothing here; so the path-entry finders are asked directly.
    """
    portions: list[str] = []
    for entry in path:
        try:
            finder = pkgutil.get_importer(entry)
            spec = finder.find_spec(fullname) if finder is not None and hasattr(finder, "find_spec") else None
        except (ImportError, OSError, ValueError, TypeError):
            continue
        if spec is None:
            continue
        if spec.loader is None:  # a namespace portion: keep looking, as the import system does
            portions.extend(spec.submodule_search_locations or ())
            continue
        locations = tuple(spec.submodule_search_locations) if spec.submodule_search_locations is not None else None
        is_source = isinstance(spec.loader, importlib.machinery.SourceFileLoader) and spec.origin
        return _Located(Path(spec.origin) if is_source and spec.origin else None, locations)
    return _Located(None, tuple(portions), namespace=True) if portions else None


def _editable(name: str) -> _Located | None:
    """A top-level name that a setuptools editable-install finder maps to a path (read as data)."""
    for finder in sys.meta_path:
        module = sys.modules.get(getattr(finder, "__module__", "") or "")
        if module is None or not module.__name__.startswith("__editable__"):
            continue
        mapping = getattr(module, "MAPPING", None)
        target = mapping.get(name) if isinstance(mapping, dict) else None
        if not isinstance(target, str):
            continue
        path = Path(target)
        if path.is_dir():
            init = path / "__init__.py"
            return _Located(init if init.is_file() else None, (str(path),), namespace=not init.exists())
        source = path.with_suffix(".py")
        if source.is_file():
            return _Located(source, None)
        if any(path.with_suffix(s).is_file() for s in importlib.machinery.EXTENSION_SUFFIXES):
            return _Located(None, None)
    return None


_COMPOUND = (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))


def _top_level_names(tree: ast.Module) -> tuple[set[str], set[str], bool]:
    """Names the module binds at top level, those bound only to a literal, and whether any name may exist.

    Blocks of `if`, `try`, `with`, `for`, `while` and `match` count (a name
    defined under `try: ... except ImportError:` is defined); bodies of
    functions and classes do not.
    """
    names: set[str] = set()
    literal: set[str] = set()
    other: set[str] = set()
    open_ended = False
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        bound: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.append(node.name)
            open_ended |= node.name == "__getattr__" and not isinstance(node, ast.ClassDef)
        elif isinstance(node, ast.Assign):
            targets = [n for t in node.targets for n in _target_names(t)]
            is_literal = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and _is_literal(node.value)
            (literal if is_literal else other).update(targets)
            bound.extend(targets)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            if not isinstance(node, ast.AnnAssign) or node.value is not None:
                bound.append(node.target.id)
        elif isinstance(node, ast.Import):
            bound.extend(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            open_ended |= any(a.name == "*" for a in node.names)
            bound.extend(a.asname or a.name for a in node.names if a.name != "*")
        if isinstance(node, ast.For | ast.AsyncFor):
            bound.extend(_target_names(node.target))
        if isinstance(node, ast.With | ast.AsyncWith):
            bound.extend(n for item in node.items if item.optional_vars is not None for n in _target_names(item.optional_vars))
        if isinstance(node, _COMPOUND):
            for block in ("body", "orelse", "finalbody"):
                pending.extend(getattr(node, block, ()))
            for handler in getattr(node, "handlers", ()):
                pending.extend(handler.body)
        if isinstance(node, ast.Match):
            for case in node.cases:
                pending.extend(case.body)
        if not isinstance(node, ast.Assign):
            other.update(bound)
        names.update(bound)
    return names, literal - other, open_ended


def _target_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for element in target.elts for n in _target_names(element)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _is_literal(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant | ast.JoinedStr | ast.List | ast.Tuple | ast.Dict | ast.Set)


def _entry_point_reference(name: str, search_path: Sequence[str] | None) -> Reference | None:
    """The `module:attr` an installed entry point of that name stands for (metadata only, nothing loaded)."""
    found = _entry_points(list(search_path) if search_path is not None else default_search_path())
    value = found.get(name)
    if value is None:
        raise CallableProblem(
            f"{_shown(name)} is neither 'package.module:function' nor an entry point registered in the group {ENTRY_POINT_GROUP!r}.",
            hint=did_you_mean(name, found) or "install the package that registers it, or write 'package.module:function'.")
    # EntryPoint only parses the value here; imported late to keep importlib.metadata out of every loader's import
    from importlib.metadata import EntryPoint

    entry = EntryPoint(name, value, ENTRY_POINT_GROUP)
    if not entry.attr:
        raise CallableProblem(f"entry point {name!r} names the module {entry.module!r}, not a function in it.",
                              hint="register the entry point as 'package.module:function'.")
    return Reference(f"{entry.module}:{entry.attr}", entry.module, tuple(entry.attr.split(".")))


def _entry_points(search_path: list[str]) -> dict[str, str]:
    """Entry point name -> value in the group, from the `entry_points.txt` of each distribution on the path.

    Read here rather than through `importlib.metadata`, which reads metadata
    files whole and would wait on a FIFO or read a device planted in a
    checkout: each file here must be a regular file of at most `MAX_METADATA_BYTES`.
    """
    found: dict[str, str] = {}
    for entry in search_path:
        try:
            mtime = os.stat(entry or ".").st_mtime_ns
        except (OSError, ValueError):
            continue
        for name, value in _directory_entry_points(entry or ".", mtime):
            found.setdefault(name, value)
    return found


@functools.lru_cache(maxsize=256)
def _directory_entry_points(directory: str, mtime_ns: int) -> tuple[tuple[str, str], ...]:
    """The group's entry points of the distributions in one directory, remembered until it changes
    (installing or removing a distribution changes the directory)."""
    try:
        children = sorted(os.scandir(directory), key=lambda e: e.name)
    except (OSError, ValueError):
        return ()
    found: list[tuple[str, str]] = []
    for child in children:
        if not child.name.endswith((".dist-info", ".egg-info")):
            continue
        try:
            raw, size = read_bounded(Path(child.path) / "entry_points.txt", MAX_METADATA_BYTES)
            if size > MAX_METADATA_BYTES:
                continue
            parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(raw.decode("utf-8"))
        except (Refused, UnicodeDecodeError, configparser.Error):
            continue
        if parser.has_section(ENTRY_POINT_GROUP):
            found.extend((key.strip(), value.strip()) for key, value in parser.items(ENTRY_POINT_GROUP))
    return tuple(found)


# ---------------------------------------------------------------- import

def resolve(text: str, *, entry_points: bool = False) -> Callable[..., Any]:
    """Import the callable `text` names; a class is created without arguments and must be callable.

    Under `without_imports()` nothing is imported: the result is a stand-in
    that raises `CallableNotRun` when called.
    """
    if not _imports_allowed.get():
        return _stand_in(text)
    reference = parse(text, entry_points=entry_points)
    if reference is None:
        reference = _entry_point_reference(text, None)
        assert reference is not None
    try:
        target: Any = importlib.import_module(reference.module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (reference.module == exc.name or reference.module.startswith(exc.name + ".")):
            raise CallableProblem(f"module {reference.module!r} of {_shown(reference.text)} cannot be found.", hint=FIND_HINT) from exc
        raise _import_failed(reference, exc) from exc
    except Exception as exc:  # the module's own code failed: say how
        raise _import_failed(reference, exc) from exc
    for depth, attribute in enumerate(reference.attributes):
        try:
            target = getattr(target, attribute)
        except AttributeError:
            if depth == 0:
                raise _no_attribute(reference, dir(target)) from None
            raise CallableProblem(f"{'.'.join(reference.attributes[:depth])} of {_shown(reference.text)} has no attribute {attribute!r}.",
                                  hint="fix the name after the colon.") from None
    if isinstance(target, type):
        try:
            target = target()
        except TypeError as exc:
            raise CallableProblem(f"{_shown(text)} is a class that cannot be created without arguments ({exc}).",
                                  hint="give every parameter of __init__ a default, or name a function.") from exc
    if not callable(target):
        raise CallableProblem(f"{_shown(text)} resolves to a {type(target).__name__}, which is not callable.",
                              hint="name a function or a class.")
    return target  # type: ignore[no-any-return]


@contextlib.contextmanager
def without_imports() -> Iterator[None]:
    """Within the block, `resolve` imports nothing and returns stand-ins that refuse to run."""
    token = _imports_allowed.set(False)
    try:
        yield
    finally:
        _imports_allowed.reset(token)


def _stand_in(text: str) -> Callable[..., Any]:
    def not_run(*args: Any, **kwargs: Any) -> Any:
        raise CallableNotRun(f"{_shown(text)} was not run: code a policy names is imported only when trusted "
                             "(`cascadepolicy test --import-custom`)")
    return not_run


def _import_failed(reference: Reference, exc: BaseException) -> CallableProblem:
    return CallableProblem(f"module {reference.module!r} of {_shown(reference.text)} cannot be imported: {type(exc).__name__}: {exc}",
                           hint="fix the error the module raises when it is imported.")


def _no_attribute(reference: Reference, known: Iterable[str], hint: str | None = None) -> CallableProblem:
    first = reference.attributes[0]
    return CallableProblem(f"module {reference.module!r} has no attribute {first!r} ({_shown(reference.text)}).",
                           hint=hint or did_you_mean(first, [n for n in known if not n.startswith("_")])
                           or "define it at the module's top level, or fix the name after the colon.")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 120 else text[:120] + "...")
