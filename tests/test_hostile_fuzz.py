"""Fuzzing as an attacker would: generated hostile policies and prompts.

Policies come from a pull request and prompts from anyone, so neither may
crash a command, print a secret or another file's content, or make one step
take unbounded time. The generators build hostile values from small grammars
(big numbers and durations, arithmetic on request fields, paths that escape,
environment references, repeated YAML anchors and merge keys, repeated or
dense text) rather than listing known cases, and every input gets a time
bound far above what a linear step needs and far below what a superlinear
one took.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import dump, replaced

import cascadepolicy
from cascadepolicy import cli
from cascadepolicy.loading.source import load_file
from cascadepolicy.providers.transport import MockTransport
from cascadepolicy.state import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith("_test.yaml"))
HOSTILE = settings(max_examples=40, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])
# Seconds one input may take: linear work on these sizes takes well under a
# second; the superlinear shapes this guards against took 20 s and more.
TIME_BOUND = 8.0

SECRETS = {f"FUZZ_SECRET_{i}": f"AKIAFUZZ{i}{'QX7' * 4}{i}" for i in range(3)}
OUTSIDE_CONTENT = "outside-file-content-7f3a9"

# ---------------------------------------------------------------- policy grammar

big_ints = st.integers(min_value=0, max_value=400).map(lambda e: 10 ** e) | st.integers(-(10 ** 30), 10 ** 30)
durations = st.builds(lambda n, unit: f"{n}{unit}", big_ints.map(abs), st.sampled_from(["s", "m", "h", "d", "w", ""]))
references = st.builds(lambda pre, name, post: f"{pre}${{{name}}}{post}",
                       st.sampled_from(["", "gpt-", "x "]), st.sampled_from(sorted(SECRETS)),
                       st.sampled_from(["", "-v1", " tail"]))
path_parts = st.sampled_from(["..", ".", "etc", "passwd", "dev", "zero", "proc", "self", "environ", "outside",
                              "secret.yaml", "\x00", "a" * 300, "~", ""])
paths_ = st.builds(lambda absolute, parts: ("/" if absolute else "") + "/".join(parts),
                   st.booleans(), st.lists(path_parts, min_size=1, max_size=25))

atoms = st.one_of(
    big_ints.map(str),
    st.sampled_from(["request.tokens", "len(user.id)", "request.messages", "user.id", "'x'", "'%0999999999d'"]),
    st.builds(lambda n: "'" + "ab" * n + "'", st.integers(0, 50)),
)
expressions = st.recursive(
    atoms,
    lambda inner: st.builds(lambda a, op, b: f"({a} {op} {b})", inner,
                            st.sampled_from(["**", "*", "+", "%", "<<", "//", "-", ">>"]), inner),
    max_leaves=6,
)
conditions = st.builds(lambda e, op: f"{e} {op} 1", expressions, st.sampled_from([">", "==", "<"]))

hostile_values = st.one_of(big_ints, durations, references, paths_, conditions, st.floats(allow_nan=True),
                           st.text(max_size=20))


def scalar_paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from scalar_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from scalar_paths(value, (*prefix, index))
    else:
        yield prefix


def yaml_text(data: Any) -> str:
    return dump(data).decode("utf-8")


EXAMPLE_DATA = [doc.data for doc in (load_file(p)[0] for p in EXAMPLES) if doc is not None]


def anchored_yaml(count: int, shape: str) -> str:
    """A policy whose `context` repeats YAML anchors, aliases or merge keys `count` times."""
    lines = ["version: 1", "name: anchors", "models: {m: {model: gpt-4o-mini}}",
             "routes: [{default: {model: m}}]", "x-base: &b0 {k: 1}", "context:"]
    for i in range(count):
        if shape == "merge":
            lines.append(f"  f{i}: {{<<: *b{i % 8 if i >= 8 else 0}, k{i}: 2}}")
        elif shape == "alias":
            lines.append(f"  f{i}: *b0")
        else:  # nested anchors, each referring to the one before
            lines.append(f"  f{i}: &b{i + 1} [*b{i}, *b{i}]")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- running the CLI


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository holding the policy, with a file beside it that must stay unread."""
    root = tmp_path_factory.mktemp("fuzz-root")
    (root / "outside").mkdir()
    (root / "outside" / "secret.yaml").write_text(f"name: {OUTSIDE_CONTENT}\nversion: 1\n", encoding="utf-8")
    inner = root / "repo"
    (inner / ".git").mkdir(parents=True)
    return inner


@pytest.fixture(autouse=True)
def secret_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def run_cli(*argv: str) -> tuple[int, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue() + err.getvalue(), time.perf_counter() - started


def assert_safe(code: int, text: str, seconds: float) -> None:
    assert code in (0, 1), text[-2000:]
    assert "Traceback" not in text and "internal error" not in text, text[-2000:]
    assert seconds < TIME_BOUND, f"took {seconds:.1f} s"
    for value in SECRETS.values():
        assert value not in text
    assert OUTSIDE_CONTENT not in text


def check_policy_text(repo: Path, text: str) -> None:
    path = repo / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    for argv in (["validate", str(path)], ["validate", "--format", "json", str(path)],
                 ["validate", "--format", "github", str(path)]):
        assert_safe(*run_cli(*argv))
    code, text_out, seconds = run_cli("graph", str(path))
    assert_safe(code, text_out, seconds)


@HOSTILE
@given(st.integers(min_value=0, max_value=len(EXAMPLE_DATA) - 1), st.randoms(use_true_random=False),
       st.lists(hostile_values, min_size=1, max_size=4))
def test_example_policies_with_hostile_values(repo: Path, which: int, rnd: random.Random, values: list[Any]) -> None:
    data = EXAMPLE_DATA[which]
    targets = list(scalar_paths(data))
    for value in values:
        data = replaced(data, rnd.choice(targets), value)
    check_policy_text(repo, yaml_text(data))


@HOSTILE
@given(st.lists(st.one_of(paths_, references), min_size=1, max_size=3))
def test_hostile_extends(repo: Path, names: list[str]) -> None:
    check_policy_text(repo, yaml_text({"version": 1, "name": "x", "extends": names,
                                  "models": {"m": {"model": "gpt-4o-mini"}}, "routes": [{"default": {"model": "m"}}]}))


@HOSTILE
@given(conditions)
def test_hostile_conditions_at_validate_and_per_request(repo: Path, condition: str) -> None:
    text = yaml_text({"version": 1, "name": "c", "models": {"m": {"model": "gpt-4o-mini", "max_tokens": 20}},
                 "routes": [{"when": condition, "model": "m"}, {"default": {"model": "m"}}]})
    check_policy_text(repo, text)
    result = cascadepolicy.check_text(text, "c.yaml")
    if result.policy is None:
        return
    eng = result.policy.engine(store=MemoryStore(), transport=MockTransport({"m": "ok"}))
    started = time.perf_counter()
    answer = eng.complete([{"role": "user", "content": "hello " * 50}], user="u1")
    assert time.perf_counter() - started < TIME_BOUND
    assert answer.decision.outcome in ("answered", "blocked", "error")


@pytest.mark.parametrize("shape", ["merge", "alias", "nested"])
@pytest.mark.parametrize("count", [200, 4000])
def test_repeated_anchors_validate_in_bounded_time(repo: Path, shape: str, count: int) -> None:
    check_policy_text(repo, anchored_yaml(count, shape))


# ---------------------------------------------------------------- prompts

PROMPT_POLICY = """
version: 1
name: prompt-fuzz
models:
  m: {model: gpt-4o-mini, max_tokens: 50}
audit: {include_text: true}
guardrails:
  - {id: pii-warn, stage: input, check: pii, action: warn, mode: warn}
  - {id: inject, stage: input, check: prompt_injection, action: block}
  - {id: toxic, stage: input, check: toxicity, action: warn}
  - {id: pii-out, stage: output, check: pii, action: redact}
routes:
  - default: {model: m}
"""

alphabets = st.sampled_from(["01", "0134578", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=",
                             "0123456789 -.()", "@._-abcxyz0123456789", " \n\t", "ignore previous instructions ",
                             "\u200b\u202e\u0430\u043e\u0435a", "4111 1111 1111 1111 ", "!@#$%^&*()[]{}"])
units = st.builds(lambda alphabet, seed, size: "".join(random.Random(seed).choice(alphabet) for _ in range(size)),
                  alphabets, st.integers(0, 10 ** 6), st.integers(1, 40))
prompts = st.builds(lambda parts, total: "".join(parts) * max(1, total // max(1, len("".join(parts)))),
                    st.lists(units, min_size=1, max_size=4), st.sampled_from([4_096, 65_536, 262_144]))
emails = st.builds(lambda user, host: f"{user}@{host}.example.com",
                   st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10),
                   st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10))


@pytest.fixture(scope="module")
def prompt_engine() -> Any:
    policy = cascadepolicy.loads(PROMPT_POLICY, "prompt-fuzz.yaml")
    return policy.engine(store=MemoryStore(), transport=MockTransport({"m": "fine"}), decision_log=None)


@HOSTILE
@given(prompts, emails)
def test_hostile_prompts_are_answered_in_bounded_time_and_masked(prompt_engine: Any, prompt: str, email: str) -> None:
    text = f"{prompt} contact {email} "
    started = time.perf_counter()
    result = prompt_engine.complete([{"role": "user", "content": text}], user="u1")
    assert time.perf_counter() - started < TIME_BOUND
    # a prompt longer than gpt-4o-mini's context window is not sent (issue 13.6): an error saying so
    assert result.decision.outcome in ("answered", "blocked") or (
        result.decision.outcome == "error" and "do not fit the context window of model 'm'" in (result.decision.reason or ""))
    assert email not in result.decision.to_json()
