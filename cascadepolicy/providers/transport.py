"""Where an engine's model calls go: litellm, or answers given in advance.

    runtime driver ──Send──▶ Transport.send / asend ──▶ litellm.completion / acompletion

An engine has one transport (`policy.engine(transport=...)`). The default,
`LiteLLMTransport`, calls providers. `MockTransport` answers by model instead
(tests, `explain`, `test`, `replay`), as httpx's `MockTransport` does for
HTTP: a text answer still goes through litellm's `mock_response`, so it is
parsed and billed like a provider's; an exception is raised in place of the
call. It can also force guardrail verdicts by rule id. Request arguments never
carry test hooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cascadepolicy.providers.calls import MockAnswer, litellm_module


class Transport:
    """Sends model calls through litellm. Subclass it to answer calls yourself."""

    def answer(self, model_id: str, litellm_model: str) -> MockAnswer | None:
        """The answer given in advance for a model, if any (None: the call is sent)."""
        return None

    def verdict(self, rule_id: str) -> Any:
        """A verdict forced for a guardrail rule (True/False, a `Verdict` or an exception), or None."""
        return None

    def send(self, kwargs: dict[str, Any]) -> Any:
        return litellm_module().completion(**kwargs)

    async def asend(self, kwargs: dict[str, Any]) -> Any:
        return await litellm_module().acompletion(**kwargs)


LiteLLMTransport = Transport


class MockTransport(Transport):
    """Answers model calls from `answers` (model id or litellm model name → text, a raw response
    or an exception) and guardrail rules from `verdicts` (rule id → True/False, a Verdict or an
    exception). A model without an answer is sent through litellm, unless the engine is offline."""

    def __init__(self, answers: Mapping[str, MockAnswer] | None = None, verdicts: Mapping[str, Any] | None = None) -> None:
        self.answers: Mapping[str, MockAnswer] = answers if answers is not None else {}
        self.verdicts: Mapping[str, Any] = dict(verdicts or {})

    def answer(self, model_id: str, litellm_model: str) -> MockAnswer | None:
        answers = self.answers
        if model_id in answers:
            return answers[model_id]
        if litellm_model in answers:
            return answers[litellm_model]
        return None

    def verdict(self, rule_id: str) -> Any:
        return self.verdicts.get(rule_id)


__all__ = ["LiteLLMTransport", "MockTransport", "Transport"]
