"""Property tests: no input makes `validate` crash.

Random YAML documents, example policies with random parts replaced, text
mutations of the example policies (lines deleted or duplicated, characters
swapped or inserted) and random bytes are all fed to `cascadepolicy validate`.
It must always exit 0 or 1 and never print a traceback or "internal error".
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from cascadepolicy import cli
from cascadepolicy.loading.source import load_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "policies").glob("*.yaml") if not p.name.endswith("_test.yaml")) + sorted((ROOT / "tests" / "cases" / "valid").glob("*.yaml"))
EXAMPLE_TEXTS = [p.read_text(encoding="utf-8") for p in EXAMPLES]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

POLICY_WORDS = ["version", "name", "models", "model", "routes", "default", "when", "cascade", "cascades",
                "tiers", "budget", "rate", "per", "usd", "guardrails", "validators", "check", "stage", "action",
                "store", "kind", "extends", "context", "limits", "scope", "accept", "min_score", "enum",
                "small", "large", "free", "1h", "0s", "${X}", "${Y:-z}", "${Q:?m}", "user.tier == 'free'",
                "request.tokens > 3", "__import__('os')", "pii", "redis", "memory", "sqlite", "day", "-1", "1e309"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(POLICY_WORDS), st.text(max_size=30),
)
keys = st.one_of(st.sampled_from(POLICY_WORDS), st.text(min_size=1, max_size=12))
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)),
    max_leaves=40,
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cascadepolicy-fuzz-") as name:
        yield Path(name)


def validate_bytes(raw: bytes, workdir: Path, *extra: str) -> tuple[int, str]:
    path = workdir / "policy.yaml"
    path.write_bytes(raw)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["validate", *extra, str(path)])
    text = out.getvalue() + err.getvalue()
    assert code in (0, 1), text
    assert "Traceback" not in text and "internal error" not in text, text
    assert text.strip(), "validate printed nothing"
    return code, text


def dump(data: Any) -> bytes:
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump(data, stream)
    return stream.getvalue().encode("utf-8")


def example_data() -> list[dict[str, Any]]:
    out = []
    for path in EXAMPLES:
        document, _ = load_file(path)
        if document is not None:
            out.append(document.data)
    return out


EXAMPLE_DATA = example_data()


def paths(data: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from paths(value, (*prefix, index))


def replaced(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        return {k: (replaced(v, rest, value) if k == head else v) for k, v in data.items()}
    return [replaced(v, rest, value) if i == head else v for i, v in enumerate(data)]


@FUZZ
@given(documents)
def test_random_yaml_documents(workdir: Path, data: Any) -> None:
    validate_bytes(dump(data), workdir)


@FUZZ
@given(st.integers(min_value=0, max_value=len(EXAMPLE_DATA) - 1), st.randoms(use_true_random=False), documents)
def test_example_policies_with_a_part_replaced(workdir: Path, which: int, rnd: random.Random, value: Any) -> None:
    data = EXAMPLE_DATA[which]
    target = rnd.choice(list(paths(data)))
    validate_bytes(dump(replaced(data, target, value)), workdir, "--strict")


@FUZZ
@given(st.integers(min_value=0, max_value=len(EXAMPLE_TEXTS) - 1), st.randoms(use_true_random=False),
       st.integers(min_value=1, max_value=4))
def test_example_policies_with_text_mutations(workdir: Path, which: int, rnd: random.Random, count: int) -> None:
    text = EXAMPLE_TEXTS[which]
    for _ in range(count):
        lines = text.splitlines(keepends=True)
        if not lines:
            break
        op = rnd.choice(["delete", "duplicate", "swap", "insert", "indent"])
        i = rnd.randrange(len(lines))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = rnd.choice([" ", "  ", "\t", ""]) + lines[i].lstrip(" ")
        text = "".join(lines)
        if op in ("swap", "insert") and len(text) > 1:
            j = rnd.randrange(len(text) - 1)
            if op == "swap":
                text = text[:j] + text[j + 1] + text[j] + text[j + 2:]
            else:
                text = text[:j] + rnd.choice("{}[]:,-'\"#&*!|>%@`\\ \n\t$0aZ_.") + text[j:]
    validate_bytes(text.encode("utf-8"), workdir)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(workdir: Path, raw: bytes) -> None:
    validate_bytes(raw, workdir)


@FUZZ
@given(st.text(max_size=300))
def test_random_text(workdir: Path, text: str) -> None:
    validate_bytes(text.encode("utf-8", "surrogatepass"), workdir)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("()[]{}'\"._:,+-*/%<>=!&|~^@ 0123456789abcdefnortu_")), max_size=60)
       | st.sampled_from(["__import__('os').system('x')", "().__class__.__bases__", "9**9**9**9", "'a'*10**9",
                          "[x for x in user.id]", "lambda: 1", "user.tier.__class__", "f'{user.id}'",
                          "(yield)", "request.tokens if 1 else 2", "not not not user.id", "1 < 2 < 3 < 4"]))
def test_hostile_conditions(workdir: Path, condition: str) -> None:
    doc = {"version": 1, "name": "c", "models": {"m": {"model": "gpt-4o-mini"}},
           "routes": [{"when": condition, "model": "m"}, {"default": {"model": "m"}}]}
    validate_bytes(dump(doc), workdir)


@pytest.mark.parametrize("seed", range(3))
def test_random_bytes_through_a_real_process(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    path = tmp_path / "junk.yaml"
    path.write_bytes(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4096))))
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    proc = subprocess.run([sys.executable, "-m", "cascadepolicy", "validate", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "error[" in proc.stdout
