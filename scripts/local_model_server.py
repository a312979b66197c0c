"""Run a real small model on 127.0.0.1 for demos, optionally around one command.

Serve in the foreground until Ctrl-C (what ``tests/e2e/local_server.py`` does)::

    python scripts/local_model_server.py --model smollm2 --port 8088

Or start the server, wait until it is healthy, run a command with
``LOCAL_API_BASE`` (read by ``policies/local.yaml``), ``LOCAL_MODEL_API_BASE``
and ``LOCAL_MODEL_NAME`` exported, then stop the server and exit with the
command's status (``scripts/demo_local.py``, behind ``make demo-local``, does
the same for one request through ``policies/local.yaml``)::

    python scripts/local_model_server.py --model smollm2 --port 8088 -- \\
        cascadepolicy run policies/local.yaml --prompt "What is 2+2?"
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

SERVER_SCRIPT = Path(__file__).resolve().parent.parent / "tests" / "e2e" / "local_server.py"


def _load_server_module() -> ModuleType:
    # tests/ is not an installed package; load the one implementation by path.
    spec = importlib.util.spec_from_file_location("_cascadepolicy_local_server", SERVER_SCRIPT)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {SERVER_SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    if not command:
        os.execv(sys.executable, [sys.executable, str(SERVER_SCRIPT), *argv])

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["smollm2", "gemma"], default="smollm2")
    parser.add_argument("--port", type=int, default=8088, help="0 picks a free port")
    parser.add_argument("--alias", default=None, help="model name clients send (default: --model)")
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    server = _load_server_module()
    try:
        handle = server.start_server(
            args.model,
            args.alias or args.model,
            parallel=args.parallel,
            ctx=args.ctx,
            threads=args.threads,
            port=args.port,
        )
    except (server.ModelUnavailable, server.ServerStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"local {args.model} server ready at {handle.api_base} "
        f"(model {handle.litellm_model}, started in {handle.start_seconds:.1f}s)",
        file=sys.stderr,
    )
    return run_around(handle, command)


def run_around(handle: Any, command: list[str]) -> int:
    """Run `command` with the server's address exported, then stop the server; the command's exit status."""
    env = {**os.environ, "LOCAL_API_BASE": handle.api_base, "LOCAL_MODEL_API_BASE": handle.api_base,
           "LOCAL_MODEL_NAME": handle.litellm_model}
    try:
        return subprocess.call(command, env=env)
    finally:
        handle.stop()


if __name__ == "__main__":
    sys.exit(main())
