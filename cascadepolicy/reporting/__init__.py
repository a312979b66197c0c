"""Reports read from what the runtime wrote, never from the runtime itself.

`decision_log` reads a JSONL decision log line by line in bounded memory;
`spend` folds its records into the spend report's figures, `spend_text`
prints them and `spend_plot` draws them (matplotlib, the `plot` extra).
Nothing here imports the engine or litellm: reading a log is pure, so the
report runs anywhere the log can be copied to. `cascadepolicy report` is the
command over it.
"""

from __future__ import annotations

from cascadepolicy.reporting.spend import SpendReport, parse_since, spend_report

__all__ = ["SpendReport", "parse_since", "spend_report"]
