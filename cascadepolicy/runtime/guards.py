"""The guardrail nodes of the graph: run the policy's checks and apply actions.

Input guardrails run on the request before admission and the first model
call, over the messages of the roles in the rule's `apply_to` (user messages
and tool results by default); output guardrails run on each cascade step's
answer before it can be accepted, over its text and each tool call's
arguments. A message is scanned as the text of its text parts, and redacted
part by part in place (`guardrails.pieces`): image, audio, file and unknown
parts pass untouched. Detectors (in `cascadepolicy.guardrails`) only say what they found;
this module decides what that means under the rule's action and mode:
`block`, `redact` (typed placeholders, one Redactor per request so the same
value maps to the same placeholder; with `restore: true` mapped back in the
answer by `Redactor.restore`), `warn`, `escalate` and `reask` (output
only). `warn` mode records what the action would have been, `dry_run` only
the verdict. A check that raises or exceeds its timeout follows `on_timeout`
(block by default: fail closed). Every verdict lands in the decision record
with the matched text masked, and `mask_record` masks every PII finding in
text the record keeps (`audit.include_text`, check details), whatever the
rules' modes.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cascadepolicy.compile.plan import (
    DOCUMENT_SEPARATOR,
    GROUNDING_PROMPT,
    REASK_MESSAGE,
    REASON_MAX_TOKENS,
    PlannedGuard,
)
from cascadepolicy.effects import Blocking, JudgeRequest
from cascadepolicy.guardrails.base import Finding, Verdict
from cascadepolicy.guardrails.pieces import Arguments, Pieces, message_pieces, text_pieces
from cascadepolicy.guardrails.redaction import Redactor, mask
from cascadepolicy.language.model import (
    CustomGuardrail,
    GroundingGuardrail,
    Guardrail,
    InjectionGuardrail,
    ModerationGuardrail,
    PiiGuardrail,
    ToxicityGuardrail,
    duration_seconds,
)
from cascadepolicy.runtime.decision import Decision, GuardrailVerdict
from cascadepolicy.runtime.features import clip_tokens
from cascadepolicy.scrub import provider_text

if TYPE_CHECKING:
    from cascadepolicy.providers.transport import Transport

Scan = Callable[[str, Mapping[str, Any]], Verdict]  # (text, request extras) -> verdict
def grounding_request(model: str, answer: str, sources: Sequence[str]) -> JudgeRequest:
    return JudgeRequest(model, GROUNDING_PROMPT.format(sources=DOCUMENT_SEPARATOR.join(sources), answer=answer))


def grounding_verdict(model: str, reply: str, threshold: float) -> Verdict:
    from cascadepolicy.quality.model import parse_judge_score

    grade = parse_judge_score(reply)
    if grade is None:
        raise ValueError(f"the grounding judge {model!r} gave no 1-10 score")
    supported = grade / 10
    return Verdict(supported < threshold, 1 - supported, (), f"the judge graded support {grade:g}/10")


def _judged_by_the_walk(text: str, extra: Mapping[str, Any]) -> Verdict:
    raise AssertionError("a grounding judge is asked through the walk (CompiledGuardrail.run), never as a scan")


def build_scan(rule: Guardrail, resolve: Callable[[str], Callable[..., Any]] | None = None) -> tuple[Scan, bool]:
    """The detector for a rule, and whether it may block on I/O (so runs under a real timeout).

    A grounding rule with a `judge` has no scan: its check is a model call the walk makes.
    `resolve` imports a custom rule's function (the engine's `runtime.link.Linker`, which locates a failure)."""
    from cascadepolicy.guardrails import grounding, injection, moderation, pii, toxicity

    if isinstance(rule, PiiGuardrail):
        scan_pii = _remembered(pii.scanner(tuple(rule.entities), backend=rule.backend))
        return (lambda text, extra: scan_pii(text)), False
    if isinstance(rule, InjectionGuardrail):
        threshold = rule.threshold
        scan_injection = _remembered(lambda text: injection.scan(text, threshold))
        return (lambda text, extra: scan_injection(text)), False
    if isinstance(rule, ToxicityGuardrail):
        threshold, tox_backend = rule.threshold, rule.backend
        scan_toxicity = _remembered(lambda text: toxicity.scan(text, threshold, backend=tox_backend))
        return (lambda text, extra: scan_toxicity(text)), False
    if isinstance(rule, ModerationGuardrail):
        provider, threshold = rule.provider, rule.threshold
        return (lambda text, extra: moderation.scan(text, provider, threshold)), provider is not None
    if isinstance(rule, GroundingGuardrail):
        threshold, judge_model = rule.threshold, rule.judge
        if judge_model is not None:
            return _judged_by_the_walk, False
        return (lambda text, extra: grounding.scan(text, extra.get("documents", ()), threshold)), False
    if isinstance(rule, CustomGuardrail):
        if resolve is None:
            from cascadepolicy.loading import callables

            fn = callables.resolve(rule.function, entry_points=True)
        else:
            fn = resolve(rule.function)
        params = dict(rule.params)
        return (lambda text, extra: _as_verdict(fn(text, **params), rule.id)), True
    raise TypeError(f"unknown guardrail {rule!r}")


REMEMBERED_VERDICTS = 1024  # per rule
REMEMBERED_TEXT_CHARS = 16_384


def _remembered(scan: Callable[[str], Verdict]) -> Callable[[str], Verdict]:
    """A built-in detector's verdicts, remembered per text.

    A chat client resends the whole conversation with every turn; without this
    each request would scan every earlier message again. Only the offline
    detectors are remembered: their verdict depends on the text alone.
    """
    cached = lru_cache(maxsize=REMEMBERED_VERDICTS)(scan)

    def remembered(text: str) -> Verdict:
        return cached(text) if len(text) <= REMEMBERED_TEXT_CHARS else scan(text)
    return remembered


def _as_verdict(value: Any, rule_id: str) -> Verdict:
    if isinstance(value, Verdict):
        return value
    if isinstance(value, bool):
        return Verdict(value, 1.0 if value else 0.0, (), f"custom guardrail {rule_id!r} {'fired' if value else 'passed'}")
    if isinstance(value, int | float):
        score = float(value)
        return Verdict(score >= 0.5, score, (), f"custom guardrail {rule_id!r} scored {score:.2f}")
    raise TypeError(f"custom guardrail {rule_id!r} returned {type(value).__name__}; return a Verdict, a bool or a score")


@dataclass
class CompiledGuardrail:
    rule: Guardrail
    index: int
    scan: Scan
    blocking_io: bool
    timeout: float
    location: str | None
    roles: frozenset[str] = frozenset({"user"})
    not_run: str | None = None  # offline, a check that needs the network: why it cannot run
    node: str = ""  # its node in the plan
    # whether the check is plain local code, run in place without the walk's effects (the common case)
    inline: bool = field(init=False)

    def __post_init__(self) -> None:
        rule = self.rule
        self.inline = not self.blocking_io and self.not_run is None and not (isinstance(rule, GroundingGuardrail) and rule.judge)

    def run_inline(self, text: str, extra: Mapping[str, Any]) -> tuple[Verdict | None, str | None]:
        """`run` for an `inline` check with no forced verdict: the same result, without a generator per text."""
        try:
            return self.scan(text, extra), None
        except Exception as exc:  # a failing check follows on_timeout, never passes silently
            return None, f"the check failed: {type(exc).__name__}: {provider_text(str(exc))}"

    def run(self, text: str, extra: Mapping[str, Any],
            forced: Any = None) -> Generator[Blocking | JudgeRequest, Any, tuple[Verdict | None, str | None]]:
        """The verdict, or None and a sentence saying why the check failed; `forced`: a verdict the
        engine's transport gives for the rule (tests, explain). Steps of the walk: code that may
        block runs as a `Blocking` effect, a grounding judge as a `JudgeRequest`."""
        if forced is not None:
            if isinstance(forced, BaseException):
                return None, f"the check failed: {type(forced).__name__}: {forced}"
            if isinstance(forced, bool):
                return Verdict(forced, 1.0 if forced else 0.0, (), "verdict given by the test fixture"), None
            return forced, None
        if self.not_run is not None:  # never a silent pass: the caller fails closed as on an error
            return None, self.not_run
        rule = self.rule
        try:
            if isinstance(rule, GroundingGuardrail) and rule.judge is not None:
                # the judge call has its own timeout and retries, and is billed to the request
                reply, _cost = yield grounding_request(rule.judge, text, extra.get("documents", ()))
                return grounding_verdict(rule.judge, reply, rule.threshold), None
            if self.blocking_io:
                return (yield Blocking(functools.partial(self.scan, text, extra), self.timeout)), None
            return self.scan(text, extra), None
        except TimeoutError:
            return None, f"the check took longer than its timeout of {self.rule.timeout}"
        except Exception as exc:  # a failing check follows on_timeout, never passes silently
            # a moderation provider's error may echo its key; the sentence lands in the record
            return None, f"the check failed: {type(exc).__name__}: {provider_text(str(exc))}"


@dataclass
class OutputOutcome:
    """What becomes of one answer: `text` and `tool_calls` as the output guardrails left them
    (redacted where a `redact` rule fired; the calls are copies of those given, `()` when none)."""

    text: str
    action: str  # none | block | escalate | reask
    reason: str | None = None
    rule_id: str | None = None
    feedback: str | None = None
    tool_calls: tuple[Any, ...] = ()


# Roles scanned as another: OpenAI's `developer` messages are system prompts, legacy `function` messages tool results.
ROLE_ALIASES = {"developer": "system", "function": "tool"}


WITHHELD = "[text withheld: PII masking failed]"


def needs_network(rule: Guardrail) -> str | None:
    """What a rule's check would reach over the network, if anything (judges go through the model caller)."""
    if isinstance(rule, ModerationGuardrail) and rule.provider is not None:
        return f"moderation by the provider {rule.provider!r}"
    return None


def _offline_scan(text: str, extra: Mapping[str, Any]) -> Verdict:
    raise AssertionError("an offline engine never runs a check that needs the network")


class GuardrailRunner:
    """The policy's guardrails, compiled. `offline`: a check that needs the network is never run; it
    is answered by a verdict the engine's transport gives (`MockTransport(verdicts=...)`) or reported as not run.
    `resolve`: imports a custom guardrail's function, (guard, reference) -> the callable."""

    def __init__(self, guards: Sequence[PlannedGuard], *, offline: bool = False,
                 resolve: Callable[[PlannedGuard, str], Callable[..., Any]] | None = None) -> None:
        self.input: list[CompiledGuardrail] = []
        self.output: list[CompiledGuardrail] = []
        for guard in guards:
            rule = guard.rule
            remote = needs_network(rule) if offline else None
            scan, blocking = (_offline_scan, False) if remote else build_scan(rule, None if resolve is None else functools.partial(resolve, guard))
            roles = rule.roles() if rule.stage == "input" else frozenset()
            not_run = (f"not run offline: {remote} needs the network; give the guardrail a verdict "
                       "(fixtures.guardrails in a test suite, `guardrails` in an explain request)") if remote else None
            compiled = CompiledGuardrail(rule, guard.index, scan, blocking, duration_seconds(rule.timeout), guard.location,
                                         roles, not_run, guard.node)
            (self.input if rule.stage == "input" else self.output).append(compiled)
        # Records are masked with every PII rule's detector, of either stage and in any mode;
        # a policy without one gets the built-in detector's default entities.
        record_scans = [g.scan for g in (*self.input, *self.output) if isinstance(g.rule, PiiGuardrail)]
        if not record_scans:
            from cascadepolicy.guardrails import pii

            default = _remembered(pii.scanner())
            record_scans = [lambda text, extra: default(text)]
        self._record_scans = tuple(record_scans)

    def mask_record(self, text: str, redactor: Redactor) -> str:
        """`text` as a record may keep it: every PII finding replaced by its placeholder (the
        request's redactor, so a value has the same placeholder as in the redacted prompt)."""
        if not text:
            return text
        findings: list[Finding] = []
        try:
            for scan in self._record_scans:
                findings += scan(text, {}).findings
        except Exception:  # a detector that cannot run must not let the raw text through
            return WITHHELD
        return redactor.redact(text, findings) if findings else text

    def mask_record_message(self, message: Mapping[str, Any], redactor: Redactor) -> dict[str, Any]:
        """A copy of a chat message with its text parts and tool-call arguments masked by `mask_record`."""
        masked = dict(message)
        pieces = message_pieces(masked)
        if pieces.texts:
            pieces.put([self.mask_record(text, redactor) for text in pieces.texts])
        return masked

    # ------------------------------------------------------------ input

    def run_input(self, messages: list[dict[str, Any]], extra: dict[str, Any], redactor: Redactor,
                  decision: Decision, transport: Transport) -> Generator[Blocking | JudgeRequest, Any, str | None]:
        """Scan and act on the request in place (`messages`, and `extra["documents"]` for `document`);
        return the block reason, if any (steps of the walk)."""
        for guard in self.input:
            rule = guard.rule
            decision.trace.append(guard.node)
            started = time.perf_counter()
            fired_any, findings_all, reasons, score, failure = False, [], [], 0.0, None
            redactions: list[tuple[Pieces, list[Finding]]] = []
            forced = transport.verdict(rule.id)
            inline = forced is None and guard.inline
            for where, pieces in input_pieces(guard.roles, messages, extra):
                text = pieces.text
                verdict, failure = guard.run_inline(text, extra) if inline else (yield from guard.run(text, extra, forced))
                if verdict is None:
                    break
                score = max(score, verdict.score)
                if verdict.fired:
                    fired_any = True
                    reasons.append(verdict.reason)
                    findings_all += [_finding_record(f, text, where) for f in verdict.findings]
                    redactions.append((pieces, list(verdict.findings)))
            latency = (time.perf_counter() - started) * 1000
            if failure is not None:
                refusal = _check_failed(rule, failure, decision, latency)
                if refusal is not None:
                    return refusal
                continue
            reason = "; ".join(reasons) if reasons else "no finding"
            action = _applied(rule.action, rule.mode, fired_any)
            decision.guardrails.append(GuardrailVerdict(rule.id, rule.stage, rule.check, fired_any, score, action, rule.mode,
                                                        reason, findings_all, latency_ms=latency))
            if action == "blocked":
                return rule.message or f"blocked by guardrail {rule.id!r}: {reason}"
            if action == "redacted":
                for pieces, findings in redactions:
                    pieces.put(redactor.redact_pieces(pieces.texts, findings, restore=rule.restore))
        return None

    # ------------------------------------------------------------ output

    def run_output(self, text: str, step: int, extra: Mapping[str, Any], redactor: Redactor, decision: Decision,
                   reasks_used: int, transport: Transport,
                   tool_calls: Sequence[Any] = ()) -> Generator[Blocking | JudgeRequest, Any, OutputOutcome]:
        """Check one answer and decide what becomes of it (steps of the walk).

        `tool_calls`: the answer's tool calls (objects with `.name` and `.arguments`, the raw JSON text, such as
        `ToolCallRecord`): each one's arguments are scanned like the text (grounding excepted: it checks the text's
        claims), and `redact` rewrites them inside their JSON strings. The text is scanned unless it is empty and
        the answer is a tool call. The outcome carries the text and the calls as the rules left them."""
        calls = list(tool_calls)
        arguments = [Arguments.of(call.arguments) for call in calls]
        for guard in self.output:
            rule = guard.rule
            # (the tool call's index, None for the text; what is scanned)
            targets: list[tuple[int | None, str]] = [(None, text)] if text or not calls else []
            if not isinstance(rule, GroundingGuardrail):
                targets += [(j, args.text) for j, args in enumerate(arguments)]
            started = time.perf_counter()
            forced = transport.verdict(rule.id)
            inline = forced is None and guard.inline
            verdicts: list[tuple[int | None, str, Verdict]] = []
            failure = None
            for j, scanned in targets:
                verdict, failure = guard.run_inline(scanned, extra) if inline else (yield from guard.run(scanned, extra, forced))
                if verdict is None:
                    break
                verdicts.append((j, scanned, verdict))
            latency = (time.perf_counter() - started) * 1000
            if failure is not None:
                refusal = _check_failed(rule, failure, decision, latency, step)
                if refusal is not None:
                    return OutputOutcome(text, "block", refusal, rule.id, tool_calls=tuple(calls))
                continue
            fired = [(j, scanned, v) for j, scanned, v in verdicts if v.fired]
            score = max((v.score for _, _, v in verdicts), default=0.0)
            reason = _output_reason(verdicts, calls)
            action = _applied(rule.action, rule.mode, bool(fired))
            if action == "reasked" and reasks_used >= rule.max_reasks:
                action = "escalated"  # the reask budget is spent: reject the answer instead
            findings = [_finding_record(f, scanned, _output_where(j)) for j, scanned, v in fired for f in v.findings]
            decision.guardrails.append(GuardrailVerdict(rule.id, rule.stage, rule.check, bool(fired), score, action,
                                                        rule.mode, reason, findings, step=step, latency_ms=latency))
            if action == "blocked":
                return OutputOutcome(text, "block", rule.message or f"blocked by guardrail {rule.id!r}: {reason}", rule.id,
                                     tool_calls=tuple(calls))
            if action == "redacted":
                for j, _scanned, v in fired:
                    if j is None:
                        text = redactor.redact(text, list(v.findings))
                        continue
                    redacted = arguments[j].rebuilt(redactor.redact_pieces(arguments[j].texts, list(v.findings)))
                    calls[j] = _with_arguments(calls[j], redacted)
                    arguments[j] = Arguments.of(redacted)
            elif action == "escalated":
                return OutputOutcome(text, "escalate", f"guardrail {rule.id!r}: {reason}", rule.id, tool_calls=tuple(calls))
            elif action == "reasked":
                # the reason is the detector's (or custom code's): clipped, so the reask's prompt stays within the plan
                feedback = REASK_MESSAGE.format(check=rule.check, reason=clip_tokens(reason, REASON_MAX_TOKENS))
                return OutputOutcome(text, "reask", f"guardrail {rule.id!r}: {reason}", rule.id, feedback, tuple(calls))
        return OutputOutcome(text, "none", tool_calls=tuple(calls))


def input_pieces(roles: frozenset[str], messages: list[dict[str, Any]],
                 extra: dict[str, Any]) -> list[tuple[str, Pieces]]:
    """What an input rule scans: (where, its pieces) of each message of the `roles` that holds text (its
    content's text parts; an assistant's tool-call arguments), and of each document with `document`."""
    out = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if isinstance(role, str) and ROLE_ALIASES.get(role, role) in roles:
            pieces = message_pieces(message)
            if pieces.texts:
                out.append((f"messages[{i}]", pieces))
    if "document" in roles:
        documents = extra["documents"] = list(extra.get("documents") or ())  # the request's own copy: redaction writes it
        out += [(f"documents[{n}]", text_pieces(documents, n)) for n in range(len(documents))]
    return out


def _output_reason(verdicts: Sequence[tuple[int | None, str, Verdict]], calls: Sequence[Any]) -> str:
    """The verdicts' reasons: the text's as it is, a tool call's naming the call."""
    shown = [(j, v) for j, _, v in verdicts if v.fired] or [(j, v) for j, _, v in verdicts[:1]]
    if not shown:
        return "no finding"
    return "; ".join(v.reason if j is None else f"tool call {calls[j].name!r} arguments: {v.reason}" for j, v in shown)


def _output_where(j: int | None) -> str:
    return "answer" if j is None else f"tool_calls[{j}]"


def _with_arguments(call: Any, arguments: str) -> Any:
    """A copy of a tool call with other arguments (a dataclass such as `ToolCallRecord`, or any object)."""
    if dataclasses.is_dataclass(call) and not isinstance(call, type):
        return dataclasses.replace(call, arguments=arguments)
    other = copy.copy(call)
    other.arguments = arguments
    return other


def _check_failed(rule: Guardrail, failure: str, decision: Decision, latency: float, step: int | None = None) -> str | None:
    """Record a check that could not run (an error, its timeout, not run offline); the block reason when
    `on_timeout` blocks an enforced rule, None when the request goes on."""
    reason = f"guardrail {rule.id!r}: {failure}"
    blocked = rule.on_timeout == "block" and rule.mode == "enforce"
    decision.guardrails.append(GuardrailVerdict(rule.id, rule.stage, rule.check, blocked, 1.0,
                                                "blocked" if blocked else "allowed_on_error", rule.mode, reason,
                                                step=step, latency_ms=latency))
    return reason if blocked else None


_DONE = {"block": "blocked", "redact": "redacted", "warn": "warned", "escalate": "escalated", "reask": "reasked"}


def _applied(action: str, mode: str, fired: bool) -> str:
    if not fired:
        return "none"
    if mode == "dry_run":
        return "dry_run"
    if mode == "warn":
        return f"would_{action}" if action != "warn" else "warned"
    return _DONE[action]


def _finding_record(finding: Finding, text: str, where: str) -> dict[str, Any]:
    """A finding as the record keeps it; `where`: what was scanned (`messages[2]`, `answer`, `tool_calls[0]`, ...),
    `start`/`end` offsets in its text (a message's text parts joined by a newline)."""
    return {"kind": finding.kind, "label": finding.label, "in": where, "start": finding.start, "end": finding.end,
            "score": round(finding.score, 3), "masked": mask(text[finding.start:finding.end])}
