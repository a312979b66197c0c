"""`extends` composition: merge rules, source locations, cycles."""

from __future__ import annotations

from pathlib import Path

from cascadepolicy.loading.compose import compose
from cascadepolicy.loading.loader import check_file

VALID = Path(__file__).resolve().parent.parent / "cases" / "valid"


def _file(location: object) -> str:
    return Path(location.file).name  # type: ignore[attr-defined]


def test_maps_merge_lists_replace_later_files_win() -> None:
    policy = check_file(VALID / "extends-merge.yaml", environ={}).policy
    assert policy is not None
    spec = policy.spec
    assert spec.name == "team-app"                      # child wins over team and org
    assert spec.description == "Shared defaults."        # inherited through two levels
    small, large = spec.models["small"], spec.models["large"]
    assert (small.model, small.max_tokens, small.temperature) == ("gpt-4o-mini", 256, 0.0)  # merged map
    assert (large.model, large.max_tokens, large.retries) == ("gpt-4o", 2048, 3)  # team overrides one key
    assert spec.tiers["free"].budget is not None and spec.tiers["free"].budget.usd == 2.0
    assert spec.tiers["free"].rate[0].requests == 10     # sibling key of the overridden budget survives
    assert [g.id for g in spec.guardrails] == ["inject"]  # the list replaced whole, pii is gone
    assert spec.guardrails[0].threshold == 0.9            # type: ignore[union-attr]
    assert spec.store.kind == "sqlite"
    assert spec.extends is None                           # composition consumes `extends`


def test_inherited_values_point_into_their_base_file() -> None:
    policy = check_file(VALID / "extends-merge.yaml", environ={}).policy
    assert policy is not None
    where = policy.source_map.value
    assert (_file(where(("models", "large", "max_tokens"))), where(("models", "large", "max_tokens")).line) == ("team.yaml", 5)  # type: ignore[union-attr]
    assert (_file(where(("models", "large", "retries"))), where(("models", "large", "retries")).line) == ("org.yaml", 7)  # type: ignore[union-attr]
    assert (_file(where(("models", "small", "temperature"))), where(("models", "small", "temperature")).line) == ("extends-merge.yaml", 5)  # type: ignore[union-attr]
    assert _file(where(("routes", 0))) == "org.yaml"
    assert _file(where(("guardrails", 0))) == "extends-merge.yaml"
    assert _file(where(("tiers", "free", "budget", "usd"))) == "extends-merge.yaml"
    assert _file(where(("tiers", "free", "rate", 0))) == "org.yaml"
    assert _file(where(())) == "extends-merge.yaml"


def test_a_replaced_list_leaves_no_stale_locations() -> None:
    policy = check_file(VALID / "extends-merge.yaml", environ={}).policy
    assert policy is not None
    assert policy.source_map.value(("guardrails", 1)) == policy.source_map.value(("guardrails",))


def test_errors_in_inherited_values_are_reported_in_the_base(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("version: 1\nname: b\nmodels:\n  m: {model: gpt-4o-mini, fallbacks: [nope]}\n"
                                        "routes:\n  - default: {model: m}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\nname: child\n")
    result = check_file(tmp_path / "child.yaml", environ={})
    (d,) = result.diagnostics
    assert d.code == "ref-undefined"
    assert d.location is not None and Path(d.location.file).name == "base.yaml"
    assert (d.location.line, d.location.column) == (4, 39)


def test_several_bases_apply_in_order() -> None:
    policy = check_file(VALID / "extends-list.yaml", environ={}).policy
    assert policy is not None
    assert set(policy.spec.tiers) == {"free", "pro"}
    assert policy.spec.name == "two-bases"


def test_cycle_through_three_files(tmp_path: Path) -> None:
    for name, target in (("a", "b"), ("b", "c"), ("c", "a")):
        (tmp_path / f"{name}.yaml").write_text(f"extends: {target}.yaml\n")
    document, diagnostics = compose(tmp_path / "a.yaml", "a.yaml", {})
    assert [d.code for d in diagnostics] == ["extends-cycle"]
    assert "a.yaml -> b.yaml -> c.yaml -> a.yaml" in diagnostics[0].message


def test_diamond_is_not_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "root.yaml").write_text("version: 1\nname: root\nmodels:\n  m: {model: gpt-4o-mini}\n"
                                        "routes:\n  - default: {model: m}\n")
    (tmp_path / "left.yaml").write_text("extends: root.yaml\ndescription: left\n")
    (tmp_path / "right.yaml").write_text("extends: root.yaml\nname: right\n")
    (tmp_path / "top.yaml").write_text("extends: [left.yaml, right.yaml]\n")
    result = check_file(tmp_path / "top.yaml", environ={})
    assert result.diagnostics == []
    assert result.policy is not None
    assert (result.policy.spec.name, result.policy.spec.description) == ("right", "left")


def test_bases_are_interpolated_with_the_same_environment(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("version: 1\nname: base\nmodels:\n  m: {model: '${MODEL}'}\n"
                                        "routes:\n  - default: {model: m}\n")
    (tmp_path / "child.yaml").write_text("extends: base.yaml\n")
    result = check_file(tmp_path / "child.yaml", environ={"MODEL": "gpt-4o"})
    assert result.policy is not None and result.policy.spec.models["m"].model == "gpt-4o"
    missing = check_file(tmp_path / "child.yaml", environ={})
    assert [(d.code, Path(d.location.file).name, d.location.line) for d in missing.diagnostics if d.location] \
        == [("env-unset", "base.yaml", 4)]
