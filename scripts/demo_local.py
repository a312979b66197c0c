"""`make demo-local`: one real request through policies/local.yaml against a local model.

Starts SmolLM2-135M-Instruct on 127.0.0.1 (the llama.cpp server of
``tests/e2e/local_server.py``, from the ``xllamacpp`` wheel), runs::

    cascadepolicy run policies/local.yaml --prompt "..."

with ``LOCAL_API_BASE`` pointing at it, which prints the answer and a summary
of the decision (models called, tokens, cost, latency, validator scores), then
stops the server. Exits with the ``run`` command's status.

    python scripts/demo_local.py [--prompt TEXT] [--policy FILE] [--port N] [--stream] [--json]
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_model_server import _load_server_module, run_around  # noqa: E402

DEFAULT_PROMPT = "What is the capital of France? Answer in one sentence."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default=DEFAULT_PROMPT)
    parser.add_argument("--policy", default=str(ROOT / "policies" / "local.yaml"))
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp CPU threads")
    parser.add_argument("--stream", action="store_true", help="stream the answer")
    parser.add_argument("--json", action="store_true", help="print the decision record as JSON")
    args = parser.parse_args(argv)

    server = _load_server_module()
    print("starting the local smollm2 server ...", file=sys.stderr, flush=True)
    try:
        handle = server.start_server("smollm2", "smollm2", parallel=2, port=args.port, threads=args.threads)
    except (server.ModelUnavailable, server.ServerStartError) as exc:
        print(f"error: {exc}\n(install the models with `make e2e-deps`)", file=sys.stderr)
        return 2
    print(f"server ready at {handle.api_base} in {handle.start_seconds:.1f}s\n", file=sys.stderr, flush=True)
    command = [sys.executable, "-m", "cascadepolicy", "run", args.policy, "--prompt", args.prompt]
    if args.stream:
        command.append("--stream")
    if args.json:
        command += ["--format", "json"]
    shown = shlex.join(["cascadepolicy", *command[3:]])
    print(f"$ LOCAL_API_BASE={handle.api_base} {shown}", file=sys.stderr, flush=True)
    return run_around(handle, command)


if __name__ == "__main__":
    sys.exit(main())
