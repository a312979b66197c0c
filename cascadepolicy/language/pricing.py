"""Model prices, offline and without importing litellm.

`validate` must know every model's price (for budget reservations and the
cascade cost-order check) but must not import litellm, which takes seconds.
litellm ships its price table as a JSON file inside the package; we find the
package with `importlib.util.find_spec` (which does not import it) and read the
file. A policy's own `pricing` always wins over the table.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

PRICE_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class Price:
    input_per_token: float
    output_per_token: float
    max_output_tokens: int | None
    source: str  # "policy" or "litellm"

    def worst_case(self, prompt_tokens: int, max_tokens: int) -> float:
        return prompt_tokens * self.input_per_token + max_tokens * self.output_per_token

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * self.input_per_token + completion_tokens * self.output_per_token


@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    """litellm's bundled price table, or {} when litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / PRICE_FILE
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) else {}


def table_price(model: str) -> Price | None:
    """The price litellm's table gives for a litellm model name, if any."""
    table = price_table()
    entry = table.get(model)
    if entry is None and "/" in model:
        entry = table.get(model.split("/", 1)[1])
    if not isinstance(entry, dict):
        return None
    inp, out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if not isinstance(inp, int | float) or not isinstance(out, int | float):
        return None
    max_out = entry.get("max_output_tokens")
    return Price(float(inp), float(out), max_out if isinstance(max_out, int) else None, "litellm")


def known_models() -> list[str]:
    return [k for k, v in price_table().items() if isinstance(v, dict) and "input_cost_per_token" in v]
