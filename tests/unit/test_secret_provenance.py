"""No command prints a value a policy took from the environment or `.env`.

Each policy below interpolates distinctive values into the places messages
and views quote (name, version, a model, a price, a mode, a tier in a
condition, a route target, a block message, an `extends` path). The CLI runs
with those values in its environment (`validate` and `graph` as subprocesses;
`explain`, `test` and `diff`, which import litellm, in this process); its
whole output, in every format, must name the references and never hold a value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cascadepolicy.diagnostics import Diagnostic
from cascadepolicy.loading.loader import check_text

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "AKIAQ7NAME/SECRET+VALUE",  # not an id: the name is rejected
    "POLICY_VERSION": "AKIAQ7VERSIONSECRET",
    "MODEL_SECRET": "AKIAQ7MODELSECRET",
    "MODE_SECRET": "AKIAQ7MODESECRET",
    "TIER_SECRET": "AKIAQ7TIERSECRET",
    "TARGET_SECRET": "AKIAQ7TARGETSECRET",
    "FLAG_SECRET": "AKIAQ7FLAGSECRET",
    "BASE_SECRET": "AKIAQ7BASESECRET",
    "GOOD_NAME": "AKIAQ7GOODNAME",
    "GOOD_MODEL": "AKIAQ7GOODMODEL",
    "BLOCK_SECRET": "AKIAQ7BLOCKSECRET",
    "LIMIT": "42",  # short: shown as its reference where a view knows the path
}
DOTENV = {"PRICE_SECRET": "AKIAQ7DOTENVPRICE\\with'quote"}  # a backslash and a quote: repr and JSON spell it differently

POLICIES = {
    "version.yaml": """
version: "${POLICY_VERSION}"
name: v
models: {m: {model: gpt-4o-mini, max_tokens: 10}}
routes: [{default: {model: m}}]
""",
    "schema.yaml": """
version: 1
name: "${AWS_SECRET_ACCESS_KEY}"
models:
  m:
    model: gpt-4o-mini
    max_tokens: 10
    pricing: {input_per_million: "${PRICE_SECRET}", output_per_million: 1}
guardrails:
  - {id: pii, stage: input, check: pii, entities: [email], action: block, mode: "${MODE_SECRET}"}
routes: [{default: {model: m}}]
""",
    "checks.yaml": """
version: 1
name: c
models:
  fast: {model: "openai/${MODEL_SECRET}", max_tokens: 10}
  ok: {model: gpt-4o-mini, max_tokens: 10}
tiers: {free: {}, pro: {}}
default_tier: free
routes:
  - {when: "user.tier == '${TIER_SECRET}'", block: "no"}
  - {when: "'${FLAG_SECRET}' == 'on'", model: ok}
  - default: {model: "${TARGET_SECRET}"}
""",
    "extends.yaml": """
extends: "${BASE_SECRET}.yaml"
version: 1
name: x
models: {m: {model: gpt-4o-mini, max_tokens: 10}}
routes: [{default: {model: m}}]
""",
    "good.yaml": """
version: 1
name: "${GOOD_NAME}"
models:
  fast: {model: "openai/${GOOD_MODEL}", max_tokens: 10, pricing: {input_per_million: 1, output_per_million: 2}}
tiers: {free: {}}
default_tier: free
routes:
  - {name: long, when: "request.tokens > ${LIMIT}", block: "too long: ${BLOCK_SECRET}"}
  - default: {model: fast}
""",
    "good_test.yaml": """
policy: good.yaml
cases:
  - name: a long prompt is blocked
    request: {prompt: "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word"}
    expect: {outcome: answered, reason: "something else"}
  - name: a short prompt goes to the model
    request: {prompt: "hi"}
    fixtures: {answers: {fast: "hello"}}
    expect: {final_model: fast}
""",
    "long.json": json.dumps({"messages": [{"role": "user", "content": "word " * 60}]}),
    "short.json": json.dumps({"messages": [{"role": "user", "content": "hi"}], "answers": {"fast": "hello"}}),
}
INVALID = ["version.yaml", "schema.yaml", "checks.yaml", "extends.yaml"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets")
    for name, text in POLICIES.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / ".env").write_text("".join(f'{k}="{v}"\n' for k, v in DOTENV.items()), encoding="utf-8")
    return root


def run(workdir: Path, *args: str) -> str:
    env = {**os.environ, **SECRETS}
    done = subprocess.run([sys.executable, "-m", "cascadepolicy", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def run_here(workdir: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """Run the CLI in this process, in `workdir`, with the secrets set; return everything written to stdout and stderr."""
    from cascadepolicy import cli

    monkeypatch.chdir(workdir)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)

    def invoke(*args: str) -> str:
        cli.main(list(args))
        out, err = capfd.readouterr()
        assert "internal error" not in err, err
        return out + err
    return invoke


def assert_no_value(output: str) -> None:
    for name, value in {**SECRETS, **DOTENV}.items():
        if len(value) >= 4:
            for spelling in {value, repr(value)[1:-1], json.dumps(value)[1:-1], value.replace("%", "%25")}:
                assert spelling not in output, f"the value of {name} is printed:\n{output}"


@pytest.mark.parametrize("form", ["text", "json", "github"])
def test_validate_names_references_in_every_format(workdir: Path, form: str) -> None:
    output = run(workdir, "validate", "--format", form, *INVALID)
    assert_no_value(output)
    for code in ("schema-version", "schema-pattern", "schema-type", "schema-enum", "price-unknown", "expr-enum-value",
                 "ref-undefined", "route-unreachable", "extends-not-found"):
        assert code in output, f"{code} was not reported:\n{output}"
    assert "name (from ${AWS_SECRET_ACCESS_KEY}) is not a valid name" in output
    for reference in ("${POLICY_VERSION}", "${PRICE_SECRET}", "${MODE_SECRET}", "${MODEL_SECRET}", "${TIER_SECRET}",
                      "${TARGET_SECRET}", "${FLAG_SECRET}", "${BASE_SECRET}"):
        assert reference in output, f"{reference} is not named:\n{output}"


@pytest.mark.parametrize("form", ["text", "mermaid"])
def test_graph_shows_references(workdir: Path, form: str) -> None:
    output = run(workdir, "graph", "--format", form, "good.yaml")
    assert_no_value(output)
    for written in ("request.tokens > ${LIMIT}", "too long: ${BLOCK_SECRET}"):
        assert written in output


@pytest.mark.parametrize("form", ["text", "json"])
def test_explain_shows_references(run_here: Callable[..., str], form: str) -> None:
    blocked = run_here("explain", "--format", form, "good.yaml", "--request", "long.json")
    answered = run_here("explain", "--format", form, "good.yaml", "--request", "short.json")
    for output in (blocked, answered):
        assert_no_value(output)
        assert "${GOOD_NAME}" in output
    assert "too long: ${BLOCK_SECRET}" in blocked
    assert "openai/${GOOD_MODEL}" in answered
    if form == "text":
        assert "request.tokens > ${LIMIT}" in answered  # a short value, shown as written where the path is known


@pytest.mark.parametrize("form", ["text", "json", "junit"])
def test_test_reports_show_references(run_here: Callable[..., str], form: str) -> None:
    output = run_here("test", "--format", form, "--coverage", "good_test.yaml")
    assert_no_value(output)
    assert "${BLOCK_SECRET}" in output  # the failing case quotes the reason it got


@pytest.mark.parametrize("form", ["text", "json"])
def test_diff_shows_references(workdir: Path, run_here: Callable[..., str], form: str) -> None:
    changed = POLICIES["good.yaml"].replace("too long: ${BLOCK_SECRET}", "${BLOCK_SECRET}, too long").replace(
        "openai/${GOOD_MODEL}", "openai/${GOOD_MODEL}-2")
    (workdir / "changed.yaml").write_text(changed, encoding="utf-8")
    output = run_here("diff", "--format", form, "good.yaml", "changed.yaml")
    assert_no_value(output)
    assert "${BLOCK_SECRET}, too long" in output and "openai/${GOOD_MODEL}-2" in output


def test_a_message_that_quotes_a_value_gets_no_suggestion_built_from_it() -> None:
    # `premiun` is one letter from the tier `premium`: "did you mean 'premium'?" would tell most of the value
    text = ("version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini, max_tokens: 10}}\ntiers: {free: {}, premium: {}}\n"
            "default_tier: free\nroutes:\n  - {when: \"user.tier == '${TIER}'\", block: x}\n  - default: {model: m}\n")
    result = check_text(text, "t.yaml", environ={"TIER": "premiun"})
    [problem] = [d for d in result.diagnostics if d.code == "expr-enum-value"]
    assert "premiun" not in problem.message and "${TIER}" in problem.message
    assert problem.hint is None or "premium" not in problem.hint


def test_an_overridden_value_is_still_masked() -> None:
    # A base's value replaced by the file extending it is gone from the data, not from what must never be printed.
    from cascadepolicy.loading.source import SourceMap
    from cascadepolicy.scrub import Masker

    base = SourceMap()
    base.substituted["TOKEN"] = "AKIAQ7OVERRIDDEN"
    merged = SourceMap()
    merged.update(base.rebase(("name",)))
    merged.drop(("name",))
    assert Masker.of(merged).text("saw AKIAQ7OVERRIDDEN") == "saw ${TOKEN}"


def test_errors_building_an_engine_name_the_reference() -> None:
    from cascadepolicy import loads
    from cascadepolicy.errors import PolicyError
    from cascadepolicy.state import MemoryStore

    text = ("version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini, max_tokens: 10}}\n"
            "validators:\n  v: [{check: regex, pattern: \"${PATTERN}\"}]\n"
            "cascades:\n  c: [{model: m, accept: {validators: v, min_score: 0.5}}, {model: m}]\nroutes: [{default: {cascade: c}}]\n")
    with pytest.raises(PolicyError) as raised:  # an invalid pattern, whether validate or the engine finds it
        loads(text, "t.yaml", environ={"PATTERN": "AKIAQ7PATTERN("}).engine(store=MemoryStore())
    assert "AKIAQ7PATTERN" not in str(raised.value) and "${PATTERN}" in str(raised.value)


def test_a_diagnostic_about_a_value_masks_the_pieces_it_quotes() -> None:
    # The callable check quotes the module cut from `module:function`: a piece of the value, not the value.
    text = ("version: 1\nname: t\nmodels: {m: {model: gpt-4o-mini, max_tokens: 10}}\n"
            "guardrails:\n  - {id: c, stage: input, check: custom, function: \"${FN}\", action: block}\n"
            "routes: [{default: {model: m}}]\n")
    result = check_text(text, "t.yaml", environ={"FN": "AKIAQ7piece.module:check"})
    [problem] = [d for d in result.diagnostics if d.code == "ref-custom-callable"]
    assert "AKIAQ7" not in problem.format() and "${FN}" in problem.message


def _interpolated(text: str, environ: dict[str, str]) -> tuple[Any, Any]:
    """The source map of `text` after interpolation, and the masker built from it."""
    from cascadepolicy.loading.interpolate import interpolate
    from cascadepolicy.loading.source import parse_yaml
    from cascadepolicy.scrub import Masker

    document, _ = parse_yaml(text, "t.yaml")
    assert document is not None
    interpolate(document.data, document.source_map, environ)
    return document.source_map, Masker.of(document.source_map)


def test_a_diagnostic_about_a_value_masks_it_cut_short() -> None:
    source_map, masker = _interpolated('version: 1\nname: "${LONG}"\n', {"LONG": "AKIAQ7" + "x" * 200})
    cut = Diagnostic("schema-invalid", "name is 'AKIAQ7xxxxxxxxxx...', too long.", source_map.value(("name",)))
    assert masker.diagnostic(cut).message == "name is '${LONG}...', too long."


def test_a_diagnostic_about_a_value_masks_its_last_part() -> None:
    source_map, masker = _interpolated('function: "${FN}"\n', {"FN": "os.path:AKIAQ7secretfunction"})
    missing = Diagnostic("ref-custom-callable", "os.path defines no 'AKIAQ7secretfunction'.", source_map.value(("function",)))
    assert masker.diagnostic(missing).message == "${FN} defines no '${FN}'."  # both parts are the value's
