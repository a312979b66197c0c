"""The last stage of the loader: the engine's own compile, minus importing user code and opening stores.

    ... → checks → Policy → buildable: plan · guardrail backends · store options

What `policy.engine()` does beyond the whole-policy checks is compile the
plan (`compile.plan.compile_plan`), build each guardrail's detector, link the
validators' checks (compiled already by `checks`) and open the store. This
stage does each of them as far as it can without running code the policy
names or touching a store, so that a problem `engine()` would meet is a
located diagnostic at validate time:

- the plan is compiled with the offline token counter (`utf8_bytes`; the
  engine's tokenizer changes only the bounds, never whether it compiles);
- a guardrail's optional backend must be installed (`guardrails.availability`,
  located statically, never imported);
- a Redis store needs the `redis` package and a URL redis-py parses (the
  same parser the store uses; no connection is made); a SQLite path must be
  able to name a database file. Whether a directory is writable depends on
  where the engine runs, and is the store's error at run time.

Custom guardrails and validators were located statically by `checks`; they
are imported only by the engine.
"""

from __future__ import annotations

import os

from cascadepolicy.compile.plan import compile_plan
from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.errors import PolicyError
from cascadepolicy.guardrails.availability import unavailable
from cascadepolicy.language.model import RedisStore, SqliteStore
from cascadepolicy.loading import callables
from cascadepolicy.policy import Policy

# POSIX limits most file systems keep; a longer path fails in `os.makedirs` or in SQLite's open.
MAX_PATH_BYTES = 4095
MAX_NAME_BYTES = 255
REDIS_HINT = "write redis://[[user]:[password]@]host[:port][/db], rediss://... (TLS) or unix:///path/to/socket"


def check_buildable(policy: Policy) -> list[Diagnostic]:
    """Every problem `policy.engine()` would raise for this policy (or meet on every request) as a diagnostic."""
    try:
        compile_plan(policy)
        diagnostics = []
    except PolicyError as exc:
        diagnostics = list(exc.diagnostics)
    for index, rule in enumerate(policy.spec.guardrails):
        problem = unavailable(rule)
        if problem is not None:
            diagnostics.append(Diagnostic("guardrail-backend", problem.message, policy.location(("guardrails", index, "backend")),
                                          hint=problem.hint))
    diagnostics += _store_problems(policy)
    return diagnostics


def _store_problems(policy: Policy) -> list[Diagnostic]:
    store = policy.spec.store
    if isinstance(store, RedisStore):
        problem, hint, at = _redis_problem(store.url)
    elif isinstance(store, SqliteStore):
        problem, hint, at = _sqlite_problem(store.path), "name a file, such as .cascadepolicy/state.db.", "path"
    else:
        return []
    if problem is None:
        return []
    return [Diagnostic("store-invalid", problem, policy.location(("store", at)) or policy.location(("store",)), hint=hint)]


def _redis_problem(url: str) -> tuple[str | None, str | None, str]:
    missing = callables.check("redis:ConnectionPool")
    if missing is not None:
        return ("the Redis store needs the package redis, which is not installed here.",
                "pip install 'cascadepolicy[redis]' (or redis>=5) where the policy is validated and run.", "kind")
    import redis  # only for a policy that names a Redis store: its URL parser is the one the store uses

    try:
        pool = redis.ConnectionPool.from_url(url)
        pool.connection_class(**pool.connection_kwargs)  # creates no socket: the options are checked, nothing opened
    except Exception as exc:  # ValueError, TypeError (an unknown option), redis' own errors (protocol=9)
        # redis-py's sentences name the option, not the URL, which may hold a password
        return f"the Redis URL is invalid: {exc}", REDIS_HINT, "url"
    return None, None, "url"


def _sqlite_problem(path: str) -> str | None:
    if path == ":memory:":
        return None
    if "\0" in path:
        return "the SQLite path holds a NUL character, which no file name can."
    name = os.path.basename(path)
    if name in ("", ".", ".."):
        return f"the SQLite path names a directory ({'ends with a separator' if not name else repr(name)}), not a database file."
    encoded = os.fsencode(path)
    if len(encoded) > MAX_PATH_BYTES:
        return f"the SQLite path is {len(encoded)} bytes long; paths are limited to {MAX_PATH_BYTES}."
    longest = max(len(part) for part in encoded.split(b"/"))
    if longest > MAX_NAME_BYTES:
        return f"a part of the SQLite path is {longest} bytes long; file names are limited to {MAX_NAME_BYTES}."
    return None
