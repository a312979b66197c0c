"""The front half of the pipeline, shared by `validate`, `load` and the runtime.

    read + parse (source) → interpolate + extends (compose) → schema (schema_check)
    → references, conditions, logic, prices (checks) → Policy
    → the engine's compile: plan, guardrail backends, store options (buildable)

`check_file` and `check_text` return every diagnostic and, when there are no
errors, the loaded `Policy`; `load` and `loads` raise `PolicyError` instead.
What `validate` accepts is exactly what the runtime runs: a policy loaded
without errors builds an engine (`engine()` adds only importing the code the
policy names and opening its store).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cascadepolicy.diagnostics import Diagnostic, sort_diagnostics
from cascadepolicy.errors import PolicyError
from cascadepolicy.loading.buildable import check_buildable
from cascadepolicy.loading.checks import check_policy
from cascadepolicy.loading.compose import AllowOutside, compose, compose_document
from cascadepolicy.loading.schema_check import check_schema
from cascadepolicy.loading.source import SourceDocument, parse_yaml
from cascadepolicy.policy import Policy
from cascadepolicy.scrub import Masker


@dataclass
class LoadResult:
    file: str
    policy: Policy | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


def check_file(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *,
               allow_outside: AllowOutside = ()) -> LoadResult:
    """Every diagnostic of a policy file; `allow_outside` names directories outside its repository that `extends` may read."""
    display = os.fspath(path)
    document, diagnostics = compose(Path(path), display, environ, allow_outside)
    return _finish(display, document, diagnostics)


def check_text(text: str, name: str = "<string>", environ: Mapping[str, str] | None = None,
               base_dir: str | os.PathLike[str] = ".", *, allow_outside: AllowOutside = ()) -> LoadResult:
    document, diagnostics = parse_yaml(text, name)
    if document is not None:
        document, more = compose_document(document, Path(base_dir), os.environ if environ is None else environ, allow_outside)
        diagnostics += more
    return _finish(name, document, diagnostics)


def _finish(display: str, document: SourceDocument | None, diagnostics: list[Diagnostic]) -> LoadResult:
    # Every diagnostic passes the masker here, whichever stage wrote it: none prints a value from the environment.
    mask = Masker.of(document.source_map) if document is not None else Masker()
    if document is None or any(d.is_error for d in diagnostics):
        return LoadResult(display, None, sort_diagnostics(map(mask.diagnostic, diagnostics)))
    spec, problems = check_schema(document.data, document.source_map)
    diagnostics += problems
    if spec is None:
        return LoadResult(display, None, sort_diagnostics(map(mask.diagnostic, diagnostics)))
    checked = check_policy(spec, document.source_map)
    diagnostics = [mask.diagnostic(d) for d in (*diagnostics, *checked.diagnostics)]
    if any(d.is_error for d in diagnostics):
        return LoadResult(display, None, sort_diagnostics(diagnostics))
    digest = hashlib.sha256(json.dumps(document.data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    policy = Policy(spec=spec, file=display, source_map=document.source_map, conditions=checked.conditions,
                    prices=checked.prices, fields=checked.fields, validators=checked.validators, content_hash=digest,
                    warnings=tuple(d for d in diagnostics if not d.is_error))
    built = [mask.diagnostic(d) for d in check_buildable(policy)]  # errors only: what engine() would raise
    if built:
        return LoadResult(display, None, sort_diagnostics([*diagnostics, *built]))
    return LoadResult(display, policy, sort_diagnostics(diagnostics))


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None, *,
         allow_outside: AllowOutside = ()) -> Policy:
    """Load and check a policy file; raise `PolicyError` carrying every diagnostic.

    `extends` reads only inside the policy's repository (the nearest directory
    holding `.git`, else the file's own) and the directories of `allow_outside`.
    """
    result = check_file(path, environ, allow_outside=allow_outside)
    if result.policy is None:
        raise PolicyError(result.diagnostics)
    return result.policy


def loads(text: str, name: str = "<string>", environ: Mapping[str, str] | None = None, *,
          allow_outside: AllowOutside = ()) -> Policy:
    """Like `load`, for policy text held in a string; `extends` is relative to the working directory."""
    result = check_text(text, name, environ, allow_outside=allow_outside)
    if result.policy is None:
        raise PolicyError(result.diagnostics)
    return result.policy
