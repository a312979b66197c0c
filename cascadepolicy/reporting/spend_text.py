"""The spend report as text for a person: headline figures, then tables."""

from __future__ import annotations

import time

from cascadepolicy.reporting.spend import SpendReport, Totals


def _when(timestamp: float | None) -> str:
    return "-" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


def _usd(value: float | None) -> str:
    if value is None:
        return "n/a"
    sign, value = ("-" if value < 0 else ""), abs(value)
    return f"{sign}${value:,.4f}" if value >= 0.01 or value == 0 else f"{sign}${value:.6f}"


def _rate(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "n/a"


def _row(name: str, totals: Totals, report: SpendReport) -> str:
    saved = totals.saved(report.prices)
    return (f"  {name[:32]:<32} {totals.requests:>9,} {totals.answered:>9,} {totals.blocked:>8,} {totals.error:>6,} "
            f"{_usd(totals.spend):>13} {_rate(totals.escalated, totals.answered):>10} {_usd(saved[1] if saved else None):>13}")


def format_text(report: SpendReport) -> str:
    stats, total = report.stats, report.total
    lines = [f"decision log {report.source}: {stats.records:,} record(s) in {stats.lines:,} line(s)"]
    if stats.bad_lines:
        kinds = ", ".join(f"{count:,} {kind.replace('_', ' ')} (first at line {stats.first_bad_line[kind]})"
                          for kind, count in stats.bad.items() if count)
        lines.append(f"skipped {stats.bad_lines:,} bad line(s): {kinds}")
    if report.since is not None:
        lines.append(f"since {_when(report.since)} UTC: {report.skipped_before_since:,} earlier record(s) left out")
    lines.append(f"period {_when(report.first)} to {_when(report.last)} UTC")
    lines.append(f"requests {total.requests:,}: answered {total.answered:,}, blocked {total.blocked:,}, "
                 f"error {total.error:,}")
    lines.append(f"spend {_usd(total.spend)}"
                 + (f" ({_usd(total.spend / total.answered)} per answered request)" if total.answered else ""))
    lines.append(f"escalation rate {_rate(total.escalated, total.answered)} "
                 f"({total.escalated:,} of {total.answered:,} answered requests)")
    saved = total.saved(report.prices)
    if saved is None:
        lines.append("cost saved against always the last step: n/a (no answered cascade request, "
                     "or no call of a cascade's last step in the log to price it)")
    else:
        lines.append(f"cost saved against always the last step: {_usd(saved[1])} "
                     f"({_rate(saved[1], saved[0])} of {_usd(saved[0])})")
    for name, cascade in report.cascades.items():
        price = cascade["price"]
        priced = ("its price unknown" if price is None else
                  f"${price['input_usd_per_million']:.4g}/M in, ${price['output_usd_per_million']:.4g}/M out, "
                  f"{price['source']} from {price['calls']:,} call(s)")
        lines.append(f"  cascade {name}: {cascade['answered']:,} answered, spent {_usd(cascade['spend_usd'])}, "
                     f"always {cascade['last_model'] or '?'} {_usd(cascade['always_last_usd'])}, "
                     f"saved {_usd(cascade['saved_usd'])} (last step: {cascade['last_model_from']}; {priced})")
    lines.append("")
    lines.append(f"  {'by ' + report.by:<32} {'requests':>9} {'answered':>9} {'blocked':>8} {'error':>6} "
                 f"{'spend':>13} {'escalated':>10} {'saved':>13}")
    lines.extend(_row(name, totals, report) for name, totals in report.groups.items())
    if report.groups_folded:
        lines.append(f"  ({report.groups_folded:,} request(s) of groups past the first {len(report.groups) - 1:,} "
                     "are counted under (other))")
    if report.models:
        lines.append("")
        lines.append(f"  {'models called':<32} {'calls':>9} {'prompt tok':>12} {'compl. tok':>12} {'spend':>13}")
        for model, row in sorted(report.models.items(), key=lambda kv: -kv[1]["cost_usd"]):
            lines.append(f"  {model[:32]:<32} {int(row['calls']):>9,} {int(row['prompt_tokens']):>12,} "
                         f"{int(row['completion_tokens']):>12,} {_usd(row['cost_usd']):>13}")
    if report.block_reasons:
        lines.append("")
        lines.append("  block reasons (most frequent first)")
        lines.extend(f"  {count:>9,}  {reason}" for reason, count in report.block_reasons)
    if report.guardrail_hits:
        lines.append("")
        lines.append(f"  {'guardrail hits':<32} {'action':<14} {'count':>9}")
        lines.extend(f"  {rule[:32]:<32} {action[:14]:<14} {count:>9,}" for rule, action, count in report.guardrail_hits)
    return "\n".join(lines) + "\n"
