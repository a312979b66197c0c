"""Replay of a decision log through a candidate policy: how routes, blocks and the worst-case spend would change.

    DECISIONS.jsonl (audit.include_text) ─▶ each record's messages, user, tier ─▶ the candidate's decision path
        (runtime.shadow: guardrails → route → admission in its own store; no model called) ─▶ compared with
        the recorded decision ─▶ ShadowReport (text, JSON)

`cascadepolicy replay CANDIDATE DECISIONS.jsonl` comes here when the file holds
decision records (`is_decision_log`: its first record has a `decision_id` and
an `outcome`, and no `responses`). Each record is evaluated by the same
`Shadow` as live shadowing, on the simulated clock of the record's timestamp,
its admission settled at what the record's calls spent. The candidate sees
the text as the log kept it: redacted and with every PII finding masked, so a
candidate rule about PII finds placeholders, not the values. Context and
metadata are not logged: the `--context` given applies to every record.
Records without `messages` (logged without `include_text`) are counted and
skipped, as are lines that are not decision records.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cascadepolicy.errors import ReplayError
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.reporting.decision_log import MAX_LINE_BYTES, LogStats, read_decisions
from cascadepolicy.runtime.drivers import IO
from cascadepolicy.runtime.drivers import run as run_walk
from cascadepolicy.runtime.shadow import Shadow, compare, record_view, usage_of_record

if TYPE_CHECKING:
    from cascadepolicy.policy import Policy

EXAMPLES = 5  # decision ids kept per kind of change


def is_decision_log(path: str | Path) -> bool:
    """Whether the first record of the JSONL file at `path` is a decision record (not a recorded-responses line)."""
    with open(path, "rb") as stream:
        for line in iter(lambda: stream.readline(MAX_LINE_BYTES), b""):
            if not line.strip():
                continue
            try:
                first = json.loads(line)
            except ValueError:
                return False
            return isinstance(first, dict) and "decision_id" in first and "outcome" in first and "responses" not in first
    return False


@dataclass
class ShadowReport:
    candidate: dict[str, Any]
    records: int = 0  # decision records read
    replayed: int = 0
    without_text: int = 0  # skipped: logged without audit.include_text
    bad_lines: int = 0  # skipped: not a decision record
    errors: int = 0  # the candidate's evaluation failed
    first_error: str | None = None
    differing: int = 0
    route_changes: dict[str, dict[str, int]] = field(default_factory=dict)  # recorded route -> candidate route -> count
    routes_unchanged: int = 0
    newly_blocked: dict[str, int] = field(default_factory=dict)  # the candidate's reason -> count
    unblocked: dict[str, int] = field(default_factory=dict)  # the recorded reason -> count
    examples: dict[str, list[str]] = field(default_factory=dict)  # newly_blocked | unblocked | route -> decision ids
    worst_case: dict[str, Any] = field(default_factory=dict)
    worst_case_by_route: dict[str, dict[str, float]] = field(default_factory=dict)  # candidate route -> figures

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ShadowReplayer:
    """Evaluates decision records through `candidate`. `context`: the request context of every record;
    `tier`: a tier for every record instead of the recorded one."""

    def __init__(self, candidate: Policy, *, context: Mapping[str, Any] | None = None, tier: str | None = None) -> None:
        self.now = 0.0
        transport = MockTransport()
        self.shadow = Shadow(candidate, on_difference=lambda record: None).build(
            clock=lambda: self.now, transport=transport, offline=True)
        self.io = IO(transport, self.shadow.store, lambda seconds: None)
        self.context = dict(context or {})
        self.tier = tier

    def evaluate(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The shadow record of one logged decision (with `live` and `differs`)."""
        timestamp = record.get("timestamp")
        self.now = float(timestamp) if isinstance(timestamp, int | float) else self.now
        user = record.get("user") if isinstance(record.get("user"), str) else None
        tier = self.tier or (record.get("tier") if isinstance(record.get("tier"), str) else None)
        # messages that are not a chat raise RequestError: no engine logged them, so the record is counted as failed
        request = self.shadow.request(record["messages"], user=user, tier=tier, context=self.context, metadata=None)
        result: dict[str, Any] = run_walk(self.shadow.evaluate(request, usage_of_record(record)), self.io)
        compare(result, record_view(record))
        return result

    def run(self, path: str | Path, *, limit: int | None = None, progress: bool = False) -> ShadowReport:
        report = ShadowReport(self.shadow.info)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=os.path.getsize(path), desc="replay", unit="B", unit_scale=True, leave=False)
        try:
            for record in self._records(path, report, bar):
                if limit is not None and report.replayed + report.without_text + report.errors >= limit:
                    break
                if not isinstance(record.get("messages"), list) or not record["messages"]:
                    report.without_text += 1
                    continue
                try:
                    result = self.evaluate(record)
                except Exception as exc:  # one hostile record is counted, not the end of the replay
                    report.errors += 1
                    report.first_error = report.first_error or f"{str(record.get('decision_id'))[:64]}: {type(exc).__name__}: {exc}"
                    continue
                report.replayed += 1
                _tally(report, record, result)
        finally:
            if bar is not None:
                bar.close()
        if report.records == 0:
            raise ReplayError(f"{path} holds no decision records")
        return report

    def _records(self, path: str | Path, report: ShadowReport, bar: Any) -> Iterator[dict[str, Any]]:
        stats = LogStats()
        try:
            for record in read_decisions(path, stats, on_bytes=bar.update if bar is not None else None):
                report.records = stats.records
                yield record
        finally:
            report.records, report.bad_lines = stats.records, stats.bad_lines


def _tally(report: ShadowReport, record: Mapping[str, Any], result: dict[str, Any]) -> None:
    live = result["live"]
    ident = str(record.get("decision_id"))
    if result["differs"]:
        report.differing += 1
    recorded_route, candidate_route = live["route"] or "(none)", result["route"] or "(none)"
    if recorded_route == candidate_route:
        report.routes_unchanged += 1
    else:
        changes = report.route_changes.setdefault(recorded_route, {})
        changes[candidate_route] = changes.get(candidate_route, 0) + 1
        _example(report, "route", ident)
    if result["outcome"] == "would_block" and live["outcome"] != "would_block":
        reason = result["reason"] or "blocked"
        report.newly_blocked[reason] = report.newly_blocked.get(reason, 0) + 1
        _example(report, "newly_blocked", ident)
    elif result["outcome"] != "would_block" and live["outcome"] == "would_block":
        reason = live["reason"] or "blocked"
        report.unblocked[reason] = report.unblocked.get(reason, 0) + 1
        _example(report, "unblocked", ident)
    worst = report.worst_case or {"candidate_usd": 0.0, "recorded_usd": 0.0, "compared": 0, "recorded_unknown": 0,
                                  "candidate_usd_compared": 0.0}
    report.worst_case = worst
    mine = result["worst_case_usd"] or 0.0
    worst["candidate_usd"] += mine
    by_route = report.worst_case_by_route.setdefault(candidate_route, {"requests": 0, "candidate_usd": 0.0, "recorded_usd": 0.0})
    by_route["requests"] += 1
    by_route["candidate_usd"] += mine
    if live["worst_case_usd"] is None and live["outcome"] != "would_block":
        worst["recorded_unknown"] += 1
        return
    theirs = live["worst_case_usd"] or 0.0
    worst["compared"] += 1
    worst["recorded_usd"] += theirs
    worst["candidate_usd_compared"] += mine
    by_route["recorded_usd"] += theirs


def _example(report: ShadowReport, kind: str, ident: str) -> None:
    kept = report.examples.setdefault(kind, [])
    if len(kept) < EXAMPLES:
        kept.append(ident)


def format_shadow_report(report: ShadowReport, path: str) -> str:
    c = report.candidate
    lines = [f"candidate          {c['name']} (version {c['version']}, {str(c['hash'])[:12]})",
             f"decision log       {path}: {report.records} records, {report.replayed} replayed"]
    if report.without_text:
        lines.append(f"                   {report.without_text} skipped: logged without their text "
                     "(set audit.include_text: true to replay them)")
    if report.bad_lines:
        lines.append(f"                   {report.bad_lines} lines skipped: not decision records")
    if report.errors:
        lines.append(f"                   {report.errors} failed to evaluate (first: {report.first_error})")
    lines.append(f"differ             {report.differing} of {report.replayed}")
    lines.append(f"routes             {report.routes_unchanged} unchanged")
    for recorded, targets in sorted(report.route_changes.items()):
        for candidate, count in sorted(targets.items(), key=lambda item: -item[1]):
            lines.append(f"  {count:>6}  {recorded}  ⇒  {candidate}")
    lines.append(f"newly blocked      {sum(report.newly_blocked.values())}")
    lines += [f"  {count:>6}  {reason}" for reason, count in Counter(report.newly_blocked).most_common()]
    lines.append(f"unblocked          {sum(report.unblocked.values())}")
    lines += [f"  {count:>6}  {reason}" for reason, count in Counter(report.unblocked).most_common()]
    worst = report.worst_case
    if worst:
        lines.append(f"worst-case spend   candidate ${worst['candidate_usd']:.6f} over {report.replayed} requests")
        if worst["compared"]:
            change = worst["candidate_usd_compared"] - worst["recorded_usd"]
            lines.append(f"                   where the log has it ({worst['compared']}): recorded ${worst['recorded_usd']:.6f}, "
                         f"candidate ${worst['candidate_usd_compared']:.6f}, change {'+' if change >= 0 else '-'}${abs(change):.6f}")
        if worst["recorded_unknown"]:
            lines.append(f"                   {worst['recorded_unknown']} records without a recorded worst case "
                         "(their admission reserved no dollars)")
        for route, figures in sorted(report.worst_case_by_route.items()):
            n = int(figures["requests"])
            lines.append(f"  {route}: {n} request{'' if n == 1 else 's'}, candidate ${figures['candidate_usd']:.6f}, "
                         f"recorded ${figures['recorded_usd']:.6f}")
    return "\n".join(lines) + "\n"


__all__ = ["ShadowReplayer", "ShadowReport", "format_shadow_report", "is_decision_log"]
