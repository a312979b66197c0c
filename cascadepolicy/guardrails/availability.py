"""Whether a guardrail's detector can run here: the packages of its optional backend are installed.

Sits between the policy language and the detectors. The loader asks it for
every guardrail (so `validate` reports a missing backend at the rule's
`backend`, as an error: every request the rule scans would fail closed), and
the engine may ask it before building a scan. The packages are located, never
imported: importing Presidio and spaCy takes seconds, and a policy is
validated without running code. `loading.callables.check` finds each module
and the name the detector uses from it, as it does for a policy's own code.

The built-in detectors (`pii` builtin, `prompt_injection`, `toxicity`
lexicon, `grounding`, offline `moderation`) need nothing beyond the package's
own dependencies; a provider's moderation and a grounding judge are model
calls, which need the network at run time, not a package.
"""

from __future__ import annotations

from dataclasses import dataclass

from cascadepolicy.language.model import Guardrail, PiiGuardrail, ToxicityGuardrail
from cascadepolicy.loading import callables


@dataclass(frozen=True)
class Requirement:
    """A module the backend imports (`module:name`, located statically) and how to install it."""

    reference: str
    package: str
    install: str


# Presidio's AnalyzerEngine loads this spaCy model by default, and downloads it when it is missing.
PRESIDIO = (
    Requirement("presidio_analyzer:AnalyzerEngine", "presidio-analyzer", "pip install presidio-analyzer"),
    Requirement("en_core_web_lg:load", "the spaCy model en_core_web_lg", "python -m spacy download en_core_web_lg"),
)
PROFANITY_CHECK = (Requirement("profanity_check:predict_prob", "alt-profanity-check", "pip install alt-profanity-check"),)


@dataclass(frozen=True)
class Unavailable:
    """Why a rule's detector cannot be built here: one sentence, and what to do."""

    message: str
    hint: str


def requirements(rule: Guardrail) -> tuple[Requirement, ...]:
    """The packages a rule's backend needs beyond cascadepolicy's own dependencies."""
    if isinstance(rule, PiiGuardrail) and rule.backend == "presidio":
        return PRESIDIO
    if isinstance(rule, ToxicityGuardrail) and rule.backend == "ml":
        return PROFANITY_CHECK
    return ()


def unavailable(rule: Guardrail) -> Unavailable | None:
    """Why the rule's backend cannot run in this environment; None when it can (or needs nothing)."""
    needed = requirements(rule)
    missing = [r for r in needed if callables.check(r.reference) is not None]
    if not missing:
        return None
    backend = getattr(rule, "backend", "")
    default = type(rule).model_fields["backend"].default
    names = " and ".join(r.package for r in missing)
    return Unavailable(
        f"guardrail {rule.id!r}: the {rule.check} backend {backend!r} needs {names}, which "
        f"{'is' if len(missing) == 1 else 'are'} not installed here; every request it scans would be refused.",
        "; ".join(r.install for r in missing) + f"; or use the built-in backend `{default}`.")
