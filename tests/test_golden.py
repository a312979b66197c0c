"""Golden cases: every file under tests/cases states the one diagnostic it must produce.

`invalid/*.yaml` and `warning/*.yaml` open with `# expect: CODE LINE:COL` (or
`CODE FILE:LINE:COL` when the problem is in a file it extends, relative to the
case's folder). The test asserts that exact code at that exact place and that
nothing else is reported. Inputs that cannot be committed as text (binary,
other encodings, a file over the size limit) are generated here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cascadepolicy import cli
from cascadepolicy.loading.loader import check_file
from cascadepolicy.loading.source import MAX_FILE_BYTES

CASES = Path(__file__).parent / "cases"
EXPECT = re.compile(r"^# expect: (?P<code>[a-z-]+) (?:(?P<file>\S+):)?(?P<line>\d+):(?P<col>\d+)$")


def _cases(kind: str) -> list[Path]:
    return sorted((CASES / kind).glob("*.yaml"))


def _expectation(path: Path) -> tuple[str, Path, int, int]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = EXPECT.match(first)
    assert match, f"{path.name}: first line must be `# expect: CODE [FILE:]LINE:COL`, not {first!r}"
    where = (path.parent / match["file"]).resolve() if match["file"] else path.resolve()
    return match["code"], where, int(match["line"]), int(match["col"])


def _only(path: Path) -> tuple[str, Path, int, int, str]:
    result = check_file(path, environ={})
    assert len(result.diagnostics) == 1, "\n".join(d.format() for d in result.diagnostics)
    (d,) = result.diagnostics
    assert d.location is not None
    return d.code, Path(d.location.file).resolve(), d.location.line, d.location.column, d.severity.value


def test_there_are_enough_cases() -> None:
    assert len(_cases("invalid")) + len(GENERATED) >= 45
    assert len(_cases("warning")) >= 4
    assert len(_cases("valid")) >= 4


@pytest.mark.parametrize("path", _cases("invalid"), ids=lambda p: p.stem)
def test_invalid_case(path: Path) -> None:
    code, where, line, col = _expectation(path)
    got_code, got_file, got_line, got_col, severity = _only(path)
    assert (got_code, got_file, got_line, got_col) == (code, where, line, col)
    assert severity == "error"
    assert check_file(path, environ={}).policy is None


@pytest.mark.parametrize("path", _cases("warning"), ids=lambda p: p.stem)
def test_warning_case(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, where, line, col = _expectation(path)
    got_code, got_file, got_line, got_col, severity = _only(path)
    assert (got_code, got_file, got_line, got_col, severity) == (code, where, line, col, "warning")
    assert check_file(path, environ={}).policy is not None
    assert cli.main(["validate", str(path)]) == 0
    assert cli.main(["validate", "--strict", str(path)]) == 1
    assert f"warning[{code}]" in capsys.readouterr().out


@pytest.mark.parametrize("path", _cases("valid"), ids=lambda p: p.stem)
def test_valid_case_is_clean(path: Path) -> None:
    result = check_file(path, environ={})
    assert result.diagnostics == []
    assert result.policy is not None


def test_every_code_has_a_case() -> None:
    """Each code that a policy file can trigger is pinned by at least one golden case."""
    from cascadepolicy.diagnostics import CODES

    covered = {_expectation(p)[0] for kind in ("invalid", "warning") for p in _cases(kind)}
    covered |= {code for _, code, _ in GENERATED.values()}
    # a missing file is a CLI-level case, see test_cli; an ignored .env needs a special file beside the case,
    # see tests/unit/test_extends_confinement.py; plan-compile is a bug guard no policy file triggers,
    # see tests/test_validate_builds.py
    not_from_files = {"file-not-found", "env-file-ignored", "plan-compile"}
    policy_codes = {code for code in CODES if not code.startswith("test-")}  # test-* are for test suites
    assert policy_codes - not_from_files - covered == set()


# ---------------------------------------------------------------- generated inputs

GOOD = b"version: 1\nname: gen\nmodels:\n  m: {model: gpt-4o-mini}\nroutes:\n  - default: {model: m}\n"

GENERATED: dict[str, tuple[bytes, str, tuple[int, int]]] = {
    "latin-1-byte": (b"version: 1\nname: gen\ndescription: caf\xe9 au lait\n", "file-encoding", (3, 17)),
    "invalid-utf8-start": (b"\xc3\x28version: 1\n", "file-encoding", (1, 1)),
    "nul-bytes": (b"version: 1\x00\x00\x00\nname: gen\n", "file-encoding", (1, 1)),
    "binary-png-header": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "file-encoding", (1, 1)),
    "utf-16": ("version: 1\nname: gen\n".encode("utf-16"), "file-encoding", (1, 1)),
    "zero-bytes": (b"", "file-empty", (1, 1)),
    "whitespace-only": (b"  \n\n   \n", "file-empty", (1, 1)),
    "control-character": (b"version: 1\nname: ge\x07n\n", "yaml-syntax", (2, 9)),
    "too-large": (GOOD + b"# " + b"x" * MAX_FILE_BYTES + b"\n", "file-too-large", (1, 1)),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_invalid_input(name: str, tmp_path: Path) -> None:
    raw, code, (line, col) = GENERATED[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(raw)
    got_code, _, got_line, got_col, severity = _only(path)
    assert (got_code, got_line, got_col, severity) == (code, line, col, "error")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD)
    result = check_file(path, environ={})
    assert result.diagnostics == [] and result.policy is not None
    assert result.policy.name == "gen"


def test_file_at_the_size_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    filler = MAX_FILE_BYTES - len(GOOD) - 3
    path.write_bytes(GOOD + b"# " + b"x" * filler + b"\n")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert check_file(path, environ={}).diagnostics == []
