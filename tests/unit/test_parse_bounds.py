"""Parsing is bounded: every input under the size cap validates in seconds.

Before ruamel.yaml builds a document, `cascadepolicy.loading.yaml_limits` reads its
events once and refuses, at the first alias, merge key or node past a limit,
what would expand too far. 5,000 merge keys took 22 s to validate and 10,000
took 95 s (ruamel merges in quadratic time); aliases to aliases multiply.
"""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hostile_yaml import HEAD, all_shapes

from cascadepolicy import cli
from cascadepolicy.diagnostics import CODES
from cascadepolicy.loading import yaml_limits
from cascadepolicy.loading.loader import check_text
from cascadepolicy.loading.source import MAX_FILE_BYTES, parse_yaml
from cascadepolicy.loading.yaml_limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_DOCUMENTS,
    MAX_MERGE_KEYS,
    MAX_NODES,
    MAX_TEXT,
)

# Linear work on a file near the size cap takes a few seconds on a loaded
# machine; the shapes this guards against took from 20 s to many minutes.
TIME_BOUND = 15.0
SHAPES = dict(all_shapes(MAX_FILE_BYTES - 4096))


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_hostile_shape_validates_in_seconds(name: str) -> None:
    text = SHAPES[name]
    assert len(text.encode()) < MAX_FILE_BYTES
    start = time.perf_counter()
    result = check_text(text, "hostile.yaml")
    elapsed = time.perf_counter() - start
    assert elapsed < TIME_BOUND, f"{name}: {elapsed:.1f} s"
    assert {d.code for d in result.diagnostics} <= set(CODES)


@pytest.mark.parametrize("name", ["merge keys", "merge key lists", "nested aliases", "deep flow sequences", "many documents"])
def test_the_cli_answers_with_a_diagnostic_not_a_traceback(name: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(SHAPES[name], encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["validate", "--format", "json", str(path)])
    assert code == 1 and "Traceback" not in err.getvalue() + out.getvalue()
    assert '"code": "yaml-too-complex"' in out.getvalue()


def _located(text: str) -> tuple[str, int, int]:
    _, diagnostics = parse_yaml(text, "p.yaml")
    (d,) = diagnostics
    assert d.location is not None
    return d.code, d.location.line, d.location.column


def test_the_first_merge_key_past_the_limit_is_named() -> None:
    lines = ["x-base: &a {k: 1}", "x-use:"] + [f"  m{i}: {{<<: *a}}" for i in range(MAX_MERGE_KEYS + 5)]
    # HEAD takes 6 lines; the alias of the (limit+1)th merge is named
    assert _located(HEAD + "\n".join(lines) + "\n") == ("yaml-too-complex", 6 + 2 + MAX_MERGE_KEYS + 1, 14)


def test_each_map_named_in_a_merge_list_counts() -> None:
    anchors = [f"x-a{i}: &a{i} {{k{i}: 1}}" for i in range(MAX_MERGE_KEYS + 1)]
    merge = "x-use: {<<: [" + ", ".join(f"*a{i}" for i in range(MAX_MERGE_KEYS + 1)) + "]}"
    code, line, _ = _located(HEAD + "\n".join([*anchors, merge]) + "\n")
    assert (code, line) == ("yaml-too-complex", 6 + MAX_MERGE_KEYS + 2)


def test_the_first_alias_past_the_limit_is_named() -> None:
    text = HEAD + "x-base: &a x\nx-use: [" + ", ".join("*a" for _ in range(MAX_ALIASES + 1)) + "]\n"
    assert _located(text) == ("yaml-too-complex", 8, 9 + 4 * MAX_ALIASES)


def test_aliases_count_as_what_they_expand_to() -> None:
    levels = ["x-l0: &l0 [" + ", ".join(["x"] * 9) + "]"]
    levels += [f"x-l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    code, line, column = _located(HEAD + "\n".join(levels) + "\n")
    # l0..l3 hold 10 + 101 + 1,011 + 10,111 values; the first *l3 in l4 adds 10,111 more and crosses MAX_NODES
    assert MAX_NODES < 11_233 + 10_111
    assert (code, line, column) == ("yaml-too-complex", 6 + 5, 12)


def test_aliases_of_a_long_text_count_its_characters() -> None:
    text = HEAD + "description: &t " + "w" * (MAX_TEXT // 3) + "\nfeatures:\n  domains:\n    d: [*t, *t, *t, *t]\n"
    assert _located(text) == ("yaml-too-complex", 10, 13)  # with the other text, the second *t passes MAX_TEXT


def test_merge_keys_count_as_what_they_merge() -> None:
    base = "x-base: &a {" + ", ".join(f"k{i}: {i}" for i in range(MAX_NODES // 50)) + "}\n"
    uses = "".join(f"x-m{i}: {{<<: *a}}\n" for i in range(60))
    code, line, _ = _located(HEAD + base + uses)
    # each merge adds the anchor's 401 values: about the 49th crosses MAX_NODES, far below MAX_MERGE_KEYS
    assert code == "yaml-too-complex" and 6 + 1 + 45 <= line <= 6 + 1 + 50


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert _located(HEAD + "x-loop: &a [1, [2, *a]]\n") == ("yaml-too-complex", 7, 20)


@pytest.mark.parametrize(("text", "line"), [
    ("x-deep: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n", 7),
    ("x-base: &a " + "[" * (MAX_DEPTH - 3) + "]" * (MAX_DEPTH - 3) + "\nx-deep: [[[[*a]]]]\n", 8),
    ("---\n" * (MAX_DOCUMENTS + 1), 6 + MAX_DOCUMENTS),  # HEAD is the first document
])
def test_nesting_and_documents_are_bounded(text: str, line: int) -> None:
    code, got_line, _ = _located(HEAD + text)
    assert (code, got_line) == ("yaml-too-complex", line)


def test_without_libyaml_ruamels_own_events_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yaml_limits, "_libyaml_events", lambda text: None)
    text = HEAD + "x-base: &a x\nx-use: [" + ", ".join("*a" for _ in range(MAX_ALIASES + 1)) + "]\n"
    assert _located(text) == ("yaml-too-complex", 8, 9 + 4 * MAX_ALIASES)


def test_merge_keys_and_aliases_within_the_limits_mean_what_they_always_did() -> None:
    text = """\
version: 1
name: shared
x-small: &small {model: gpt-4o-mini, max_tokens: 64}
models:
  small: *small
  big: {<<: *small, max_tokens: 128}
tiers:
  free: &free {rate: [{requests: 5, per: 1h}]}
  pro: {<<: *free, description: more}
routes:
  - default: {model: small}
"""
    document, diagnostics = parse_yaml(text, "p.yaml")
    assert diagnostics == [] and document is not None
    data = document.data
    assert data["models"] == {"small": {"model": "gpt-4o-mini", "max_tokens": 64}, "big": {"model": "gpt-4o-mini", "max_tokens": 128}}
    assert data["tiers"]["pro"] == {"rate": [{"requests": 5, "per": "1h"}], "description": "more"}
