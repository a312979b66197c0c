"""Start a throwaway real `redis-server` on 127.0.0.1 for tests and benchmarks.

Used by tests/state/conftest.py and benchmarks/store_bench.py. The server gets
a free port, a temporary directory, no persistence, and is stopped by `stop()`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable

STARTUP_TIMEOUT = 10.0
INSTALL_HINT = "apt-get update && apt-get install -y redis-server"


class RedisUnavailable(RuntimeError):
    """No `redis-server` binary, or it did not start."""


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis_server(
    *, port: int | None = None, workdir: str | None = None
) -> tuple[str, Callable[[], None]]:
    """Start redis-server; return its url and a function that stops it and cleans up.

    Given a `workdir` (which the caller keeps), the server persists to it with an
    fsynced append-only file, so stopping it and starting it again with the same
    `port` and `workdir` is a restart that keeps the data.
    """
    binary = redis_server_binary()
    if binary is None:
        raise RedisUnavailable(f"redis-server is not installed (install it with: {INSTALL_HINT})")
    persist = workdir is not None
    workdir = workdir or tempfile.mkdtemp(prefix="cascadepolicy-redis-")
    port = port or _free_port()
    log_path = os.path.join(workdir, "redis.log")
    durability = ["--appendonly", "yes", "--appendfsync", "always"] if persist else ["--appendonly", "no"]
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            workdir,
            "--save",
            "",
            *durability,
            "--daemonize",
            "no",
            "--logfile",
            log_path,
        ],  # fmt: skip
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not persist:
            shutil.rmtree(workdir, ignore_errors=True)

    # Polling for readiness: the server prints nothing we could block on.
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not _ping(port):
        if process.poll() is not None or time.monotonic() > deadline:
            log = open(log_path, errors="replace").read() if os.path.exists(log_path) else ""
            stop()
            raise RedisUnavailable(f"redis-server did not start on port {port}:\n{log[-2000:]}")
        time.sleep(0.02)
    return f"redis://127.0.0.1:{port}/0", stop
