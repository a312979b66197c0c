"""Pytest fixtures that serve real small models on 127.0.0.1 for end-to-end tests.

Fixtures:

* ``smollm2_server`` (session): SmolLM2-135M-Instruct, a chat model, alias ``smollm2``.
* ``gemma_server`` (session): gemma-3-270m, a *base* model for ``/v1/completions``
  and logprobs, alias ``gemma``.
* ``local_server_factory`` (function): starts extra private servers, e.g. one a
  test may SIGKILL; every server it started is stopped at teardown.

Every test in this directory, and any test that uses one of these fixtures, is
marked ``e2e``. A missing package skips the test locally with the install
command as reason; under ``CI=true`` it fails the run instead, so CI can never
go green by silently skipping the real-model tests. A server whose packages are
installed but which does not start always fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .local_server import ModelUnavailable, ServerHandle, ServerStartError, start_server

# litellm otherwise fetches its price map from the network on import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

SERVER_FIXTURES = frozenset({"smollm2_server", "gemma_server", "local_server_factory"})
_HERE = Path(__file__).resolve().parent


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        under_e2e = _HERE in Path(str(item.path)).resolve().parents
        uses_server = bool(SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())))
        if under_e2e or uses_server:
            item.add_marker(pytest.mark.e2e)


# One llama.cpp thread per server. Its worker threads busy-wait on each other, so
# on a 2-core machine shared with the test process (and, on CI, with other jobs)
# two threads were measured ~10x slower than one: 3-7 vs 25-40 tokens/s.
SERVER_THREADS = 1


def _start_or_skip(model: str, alias: str, **kwargs: int) -> ServerHandle:
    kwargs.setdefault("threads", SERVER_THREADS)
    try:
        return start_server(model, alias, **kwargs)
    except ModelUnavailable as exc:
        if in_ci():
            pytest.fail(
                f"CI=true but the local {model} model cannot be served: {exc}", pytrace=False
            )
        pytest.skip(f"local {model} model unavailable: {exc}")
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def smollm2_server() -> Iterator[ServerHandle]:
    """SmolLM2-135M-Instruct chat model; 8 slots so 8 parallel requests run at once."""
    handle = _start_or_skip("smollm2", "smollm2", parallel=8, ctx=4096)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def gemma_server() -> Iterator[ServerHandle]:
    """gemma-3-270m base model: use text completions (and their logprobs), not chat."""
    handle = _start_or_skip("gemma", "gemma", parallel=2, ctx=2048)
    yield handle
    handle.stop()


@pytest.fixture
def local_server_factory() -> Iterator[Callable[..., ServerHandle]]:
    """Start private servers: ``local_server_factory("smollm2", "victim", parallel=1)``."""
    started: list[ServerHandle] = []

    def factory(model: str = "smollm2", alias: str = "local", **kwargs: int) -> ServerHandle:
        handle = _start_or_skip(model, alias, **kwargs)
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.stop()
