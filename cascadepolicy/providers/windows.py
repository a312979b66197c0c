"""Context windows: whether a call's prompt and `max_tokens` fit the model it is about to go to.

    ModelCaller.call ─▶ each model of the chain: ▶ fits its window? ─ no ─▶ not sent; the next fallback
                                                                      └ yes ─▶ retries ─▶ provider

A model's window is the policy's `context_window`, else litellm's
`max_input_tokens` for the model (its local model map: no network), else
unknown, and then the prompt is not checked. A call fits when the prompt's
offline count (`features.prompt_count`: text, images and tool calls; not the
parts counted only by their size, whose real size the provider alone knows)
plus the call's `max_tokens` is at most the window, as OpenAI-compatible
providers check it. A prompt the offline count lets through but the
provider refuses (`ContextWindowExceeded`, mapped from litellm's
`ContextWindowExceededError`) takes the same path: the next fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cascadepolicy.language.model import ModelSpec


class ContextWindows:
    """The context window of each of a policy's models; `model_info(litellm_name)` is litellm's `get_model_info`."""

    def __init__(self, models: Mapping[str, ModelSpec], model_info: Callable[[str], Any]) -> None:
        self.models = models
        self.model_info = model_info
        self._known: dict[str, int | None] = {}

    def window(self, model_id: str) -> int | None:
        """Most tokens (prompt and completion) `model_id` takes in one call, or None when unknown."""
        if model_id not in self._known:
            spec = self.models[model_id]
            self._known[model_id] = spec.context_window if spec.context_window is not None else self._litellm(spec.model)
        return self._known[model_id]

    def _litellm(self, litellm_model: str) -> int | None:
        try:
            info = self.model_info(litellm_model)
        except Exception:  # litellm raises a bare Exception for a model its map does not know
            return None
        limit = info.get("max_input_tokens") if isinstance(info, Mapping) else None
        return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None

    def misfit(self, model_id: str, prompt_tokens: int, max_tokens: int) -> str | None:
        """Why a call of `prompt_tokens` asking for `max_tokens` may not go to `model_id`; None when it fits."""
        window = self.window(model_id)
        if window is None or prompt_tokens + max_tokens <= window:
            return None
        return (f"not sent: the prompt of {prompt_tokens} tokens and max_tokens {max_tokens} do not fit the context "
                f"window of model {model_id!r} ({window} tokens)")
