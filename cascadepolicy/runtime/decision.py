"""The Decision record: one per request, plain JSON-serialisable data.

It says what the engine did and why: the policy (name, version, content
hash), the route taken with its source location, every guardrail verdict,
the admission result, every model call (model, tokens, cost, latency,
outcome), each validator score with the escalation reason, and the final
cost. Sensitive text is masked before it lands here.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

# A random per-process prefix and a counter: unique ids without a system call
# per request (os.urandom releases the GIL and then waits behind other threads).
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(4), "big"))


def _reseed() -> None:
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(8).hex()


os.register_at_fork(after_in_child=_reseed)  # forked workers must not share the prefix


def new_decision_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFFFFFF:016x}"


@dataclass
class GuardrailVerdict:
    id: str
    stage: str
    check: str
    fired: bool
    score: float
    action: str  # what was done: none | blocked | redacted | warned | escalated | reasked | would_block ...
    mode: str
    reason: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    step: int | None = None
    latency_ms: float = 0.0
    started: float = 0.0  # epoch seconds (spans, reports); by default the check's end less its latency

    def __post_init__(self) -> None:
        if not self.started:
            self.started = time.time() - self.latency_ms / 1000


@dataclass
class ModelCall:
    step: int
    model_id: str
    model: str
    purpose: str  # draft | reask | judge
    outcome: str  # ok | error
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0
    error: str | None = None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # What was wrong with the provider's response and how it was billed instead
    # (`cascadepolicy.providers.response_check`): each a sentence starting with its code.
    anomalies: list[str] = field(default_factory=list)
    # epoch seconds: the call began (its retries and fallbacks included) and ended, recorded when it ended
    started: float = 0.0
    ended: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not self.started:
            self.started = self.ended - self.latency_ms / 1000


@dataclass
class Validation:
    step: int
    model_id: str
    score: float
    threshold: float | None
    accepted: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    gate_failed: str | None = None
    escalation_reason: str | None = None


@dataclass
class LimitStatus:
    key: str
    label: str
    used: float
    amount: float
    limit: float
    mode: str
    status: str  # ok | warn | degrade | refused | would_refuse


@dataclass
class AdmissionRecord:
    admitted: bool
    reservation_id: str | None = None
    limits: list[LimitStatus] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    degraded_to: str | None = None
    refused_by: str | None = None
    retry_after: float | None = None
    store_error: str | None = None
    reserved_usd: float = 0.0
    settled_usd: float | None = None
    over_reserved: list[str] = field(default_factory=list)  # limits settled above what was reserved for them
    started: float = 0.0  # epoch seconds: admission began and decided (the reserve, a degrade re-plan included)
    ended: float = 0.0


@dataclass
class RouteRecord:
    index: int
    name: str | None
    kind: str  # conditional | default | degraded
    target: dict[str, str]
    location: str | None
    condition: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    tried: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Decision:
    policy: dict[str, Any]
    user: str | None
    tier: str | None
    decision_id: str = field(default_factory=new_decision_id)
    timestamp: float = field(default_factory=time.time)
    outcome: str = "pending"  # answered | blocked | error
    reason: str | None = None
    retry_after: float | None = None
    route: RouteRecord | None = None
    guardrails: list[GuardrailVerdict] = field(default_factory=list)
    admission: AdmissionRecord | None = None
    calls: list[ModelCall] = field(default_factory=list)
    validations: list[Validation] = field(default_factory=list)
    final_model: str | None = None
    final_model_id: str | None = None
    cost: float = 0.0
    latency_ms: float = 0.0
    features: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, Any]] | None = None  # only with `audit.include_text`, after redaction
    answer: str | None = None  # only with `audit.include_text`
    trace: list[str] = field(default_factory=list)
    shadow: dict[str, Any] | None = None  # a shadow policy's decision path and how it differs (runtime.shadow)
    # the model of the last step the admitted plan holds: what "always the last step" would have called (`report`)
    plan_last_model: str | None = None

    @property
    def models_called(self) -> list[str]:
        return [c.model_id for c in self.calls if c.purpose != "judge"]

    @property
    def escalation_reason(self) -> str | None:
        reasons = [v.escalation_reason for v in self.validations if v.escalation_reason]
        return reasons[0] if reasons else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), default=str, **kwargs)
