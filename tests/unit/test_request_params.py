"""The request parameters a policy can name are litellm's chat-completion parameters, split once."""

from __future__ import annotations

import os

from cascadepolicy.language.params import POLICY_OWNED, REQUEST_PARAMS


def test_request_and_policy_owned_params_cover_litellms_list_exactly() -> None:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    theirs = set(litellm.OPENAI_CHAT_COMPLETION_PARAMS)
    assert not REQUEST_PARAMS & POLICY_OWNED
    assert theirs - POLICY_OWNED == REQUEST_PARAMS - {"extra_body"}  # extra_body: litellm's own passthrough
    assert POLICY_OWNED <= theirs
