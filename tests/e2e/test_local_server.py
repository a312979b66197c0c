"""Check the local model server harness itself: model lookup, stop, kill and orphan cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .local_server import MODEL_PACKAGES, ServerHandle, find_gguf

pytestmark = pytest.mark.e2e


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


@pytest.mark.parametrize("model", sorted(MODEL_PACKAGES))
def test_find_gguf_returns_a_gguf_file(model: str, smollm2_server: ServerHandle) -> None:
    # smollm2_server makes this skip (or fail under CI) exactly like the other e2e tests.
    path = find_gguf(MODEL_PACKAGES[model])
    assert path.suffix == ".gguf"
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


def test_stop_is_graceful_and_kill_is_sigkill(
    local_server_factory: Callable[..., ServerHandle],
) -> None:
    first = local_server_factory("smollm2", "a", parallel=1)
    second = local_server_factory("smollm2", "b", parallel=1)
    assert first.healthy() and second.healthy()
    assert first.api_base == f"http://127.0.0.1:{first.port}/v1"
    assert first.start_seconds > 0

    first.stop()
    assert first.process.returncode == 0
    second.kill()
    assert second.process.returncode == -signal.SIGKILL
    assert not second.healthy(timeout=0.5)


def test_server_exits_when_its_parent_dies(smollm2_server: ServerHandle) -> None:
    # A test run that crashes must not leave model servers eating the CPU.
    here = Path(__file__).resolve().parent
    code = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(here)!r})
        from local_server import start_server
        handle = start_server("smollm2", "orphan", parallel=1)
        print(handle.pid, flush=True)
        os._exit(0)  # no stop(): simulate a crash
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    server_pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _pid_alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _pid_alive(server_pid)
    if alive:
        os.kill(server_pid, signal.SIGKILL)
    assert not alive
