"""The spend report drawn (matplotlib, the `plot` extra): spend over time stacked per group, outcomes over time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cascadepolicy.errors import UsageError
from cascadepolicy.reporting.spend import OTHER, OUTCOMES, SpendReport

SERIES_SHOWN = 8  # the groups with the most spend; the rest are drawn as one "(other)"
OUTCOME_COLOURS = {"answered": "#4c9a2a", "blocked": "#d9822b", "error": "#c23030"}


def require_matplotlib() -> None:
    """Raise a sentence when matplotlib is missing (checked before reading a large log)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed; install the plot extra: "
                         "pip install 'cascadepolicy[plot]'") from None


def plot(report: SpendReport, path: str | Path) -> None:
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    timeline = report.timeline
    indices = sorted(timeline.buckets)
    starts = [datetime.fromtimestamp(i * timeline.width, tz=UTC) for i in indices]
    width_days = timeline.width / 86400 * (0.9 if len(indices) <= 60 else 1.0)  # many bars: no gaps between them
    totals: dict[str, float] = {}
    for bucket in timeline.buckets.values():
        for group, cost in bucket.spend.items():
            totals[group] = totals.get(group, 0.0) + cost
    ranked = [g for g in sorted(totals, key=lambda g: -totals[g]) if g != OTHER]
    shown, rest = ranked[:SERIES_SHOWN], set(ranked[SERIES_SHOWN:]) | {OTHER}

    fig, (spend_ax, outcome_ax) = plt.subplots(2, 1, figsize=(10, 7), sharex=True, height_ratios=(3, 2))
    bottom = [0.0] * len(indices)
    series = [(g, [timeline.buckets[i].spend.get(g, 0.0) for i in indices]) for g in shown if totals[g]]
    other = [sum(cost for g, cost in timeline.buckets[i].spend.items() if g in rest) for i in indices]
    if any(other):
        series.append((OTHER, other))
    for group, values in series:
        spend_ax.bar(starts, values, width=width_days, bottom=bottom, align="edge", linewidth=0, label=f" {group}" if group.startswith("_") else group)  # "_x" labels are hidden
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    spend_ax.set_ylabel("spend (USD)")
    spend_ax.set_title(f"Spend per {report.by} and outcomes, {Path(report.source).name} "
                       f"({report.total.requests:,} requests, ${report.total.spend:,.4f}; "
                       f"bars of {_span(timeline.width)})")
    if series:
        spend_ax.legend(title=report.by, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    spend_ax.grid(axis="y", alpha=0.3)

    bottom = [0.0] * len(indices)
    for outcome in OUTCOMES:
        counts = [float(timeline.buckets[i].outcomes[outcome]) for i in indices]
        outcome_ax.bar(starts, counts, width=width_days, bottom=bottom, align="edge", linewidth=0, label=outcome,
                       color=OUTCOME_COLOURS[outcome])
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    outcome_ax.set_ylabel("requests")
    outcome_ax.set_xlabel("time (UTC)")
    outcome_ax.legend(title="outcome", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    outcome_ax.grid(axis="y", alpha=0.3)
    outcome_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(outcome_ax.xaxis.get_major_locator()))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _span(seconds: int) -> str:
    for unit, size in (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count > 1 else "")
    return f"{seconds} s"
