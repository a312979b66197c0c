"""The chat-completion parameters a request may pass through to its models.

Where this sits: part of what a policy may say (`tiers.<name>.params.forbid`
names these) and what the runtime accepts in `engine.completion(...)`. The set
is litellm's `OPENAI_CHAT_COMPLETION_PARAMS` without what configures the
connection or the call itself, which the policy owns (`api_key`, `api_base`,
timeouts, retries, streaming options), plus `extra_body`; a test keeps it equal
to litellm's. `user` and `metadata` are arguments of the engine itself.
"""

from __future__ import annotations

REQUEST_PARAMS = frozenset({
    "audio", "extra_body", "extra_headers", "frequency_penalty", "function_call", "functions",
    "include_server_side_tool_invocations", "logit_bias", "logprobs", "max_completion_tokens", "max_tokens",
    "modalities", "n", "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier", "seed", "service_tier",
    "stop", "store", "temperature", "thinking", "tool_choice", "tools", "top_logprobs", "top_p", "verbosity",
    "web_search_options",
})

# litellm's chat-completion parameters a request may not set: the connection and the call's own limits.
POLICY_OWNED = frozenset({
    "api_base", "api_key", "api_version", "base_url", "default_headers", "deployment_id", "organization",
    "max_retries", "request_timeout", "timeout", "stream", "stream_options", "user",
})
