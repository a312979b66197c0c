"""The loaded policy: the public, immutable result of the front half of the pipeline.

It sits above the runtime: `loading.loader` builds a `Policy`, `engine()`
builds a `runtime.engine.Engine` from it, and the runtime, `compile` and
`providers` see a `Policy` only as a type, so no import runs the other way.

A `Policy` holds the validated document, where each of its parts stands in
the source, the route conditions and validator checks compiled once, each
model's price and a content hash that every decision record carries. `engine()` compiles it into
the evaluation graph and returns a runtime bound to a state store. Views
(`graph`, `explain`, `test`) print policy values through `written` and
`masker`, so a value interpolated from the environment shows as its reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from cascadepolicy.diagnostics import Diagnostic, Location
from cascadepolicy.errors import PolicyError
from cascadepolicy.language.conditions import Condition, FieldType
from cascadepolicy.language.model import PolicyDocument
from cascadepolicy.language.pricing import Price
from cascadepolicy.scrub import Masker

if TYPE_CHECKING:
    from cascadepolicy.loading.checks import CompiledCheck
    from cascadepolicy.loading.source import PathKey, SourceMap
    from cascadepolicy.runtime.engine import Engine


@dataclass(frozen=True, eq=False)
class Policy:
    spec: PolicyDocument
    file: str
    source_map: SourceMap
    conditions: dict[int, Condition]
    prices: dict[str, Price]
    fields: dict[str, FieldType]
    validators: dict[str, tuple[CompiledCheck, ...]]  # each validator set, compiled once by the loader
    content_hash: str
    warnings: tuple[Diagnostic, ...] = ()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version

    def location(self, path: PathKey) -> Location | None:
        return self.source_map.value(path)

    @cached_property
    def masker(self) -> Masker:
        """Masks the values this policy took from the environment; views pass what they print through it."""
        return Masker.of(self.source_map)

    def written(self, path: PathKey, value: str) -> str:
        """The text at `path` as a view shows it: as written (`gpt-${SUFFIX}`) when it was interpolated."""
        item = self.source_map.interpolated.get(path)
        return item.written if item is not None else self.masker.text(value)

    def engine(self, **options: Any) -> Engine:
        """Compile the policy and return an engine; see `Engine` for the options."""
        # Imported here so that loading and validating a policy never load the runtime (or litellm).
        from cascadepolicy.runtime.engine import Engine

        try:
            return Engine(self, **options)
        except PolicyError as exc:  # building checks can quote a value; the errors are printed like validate's
            raise PolicyError([self.masker.diagnostic(d) for d in exc.diagnostics]) from None
