"""A model's per-token prices, learnt from the calls a decision log records.

The log holds each call's prompt and completion tokens and its cost, not the
price table that made the cost. A call's cost is `prompt × input price +
completion × output price`, so the two prices are the least-squares solution
over the model's calls (five running sums: bounded memory whatever the log's
size). Calls whose token counts all share one ratio cannot separate the two
prices; then both are the model's average cost per token ("blended").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_token: float
    output_per_token: float
    source: str  # fitted | blended
    calls: int

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return prompt_tokens * self.input_per_token + completion_tokens * self.output_per_token


@dataclass
class PriceFit:
    calls: int = 0
    xx: float = 0.0
    yy: float = 0.0
    xy: float = 0.0
    xc: float = 0.0
    yc: float = 0.0
    tokens: float = 0.0
    cost: float = 0.0

    def add(self, prompt_tokens: float, completion_tokens: float, cost: float) -> None:
        x, y = prompt_tokens, completion_tokens
        self.calls += 1
        self.xx += x * x
        self.yy += y * y
        self.xy += x * y
        self.xc += x * cost
        self.yc += y * cost
        self.tokens += x + y
        self.cost += cost

    def price(self) -> Price | None:
        """The fitted prices; None when no call of the model had tokens."""
        if self.tokens <= 0:
            return None
        det = self.xx * self.yy - self.xy * self.xy
        if det > 1e-9 * self.xx * self.yy:
            per_in = (self.xc * self.yy - self.yc * self.xy) / det
            per_out = (self.yc * self.xx - self.xc * self.xy) / det
            if per_in >= 0 and per_out >= 0:
                return Price(per_in, per_out, "fitted", self.calls)
        per_token = self.cost / self.tokens
        return Price(per_token, per_token, "blended", self.calls)
