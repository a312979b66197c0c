"""`extends` reads only inside the policy's repository, only regular files, and only so many.

Every hostile shape is a coded diagnostic at the `extends` entry: never an
internal error, never a hang, never the content or the resolved location of
a file outside the repository. A secret file beside the repository holds
valid policy YAML, so code that read it would echo its values and keys.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from cascadepolicy.loading import compose
from cascadepolicy.loading.loader import LoadResult, check_file, check_text

SECRET = "hunter2-SECRET-VALUE"
SECRET_KEY = "secretkeyxyz"
POLICY_TAIL = "version: 1\nname: child\nmodels:\n  small: {model: gpt-4o-mini}\nroutes:\n  - default: {model: small}\n"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """tmp/repo (a git repository) holding policies/; tmp/outside/secret.yaml beside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(f"description: {SECRET}\ncontext:\n  metadata.{SECRET_KEY}: string\n")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "policies" / "bases").mkdir(parents=True)
    (root / "policies" / "bases" / "org.yaml").write_text("description: the org base\n")
    return root


def _policy(repo: Path, extends: str, name: str = "p.yaml") -> Path:
    path = repo / "policies" / name
    path.write_text(f"extends: {extends}\n{POLICY_TAIL}")
    return path


def _only(result: LoadResult) -> tuple[str, int, int, str]:
    errors = result.errors
    assert len(errors) == 1, [d.format() for d in result.diagnostics]
    (d,) = errors
    assert d.location is not None
    return d.code, d.location.line, d.location.column, d.format()


def _assert_nothing_foreign(text: str, tmp_path: Path, written: str = "") -> None:
    """Neither content of a file outside the repository nor where it is, beyond what the author wrote."""
    assert SECRET not in text and SECRET_KEY not in text
    shown = written[:60]
    assert str(tmp_path / "outside") not in (text.replace(shown, "") if shown else text)


def _within(seconds: float, work: Callable[[], LoadResult]) -> LoadResult:
    """Run `work` in a thread; a read that blocks (a FIFO, a device) fails the test instead of hanging it."""
    box: list[LoadResult] = []
    worker = threading.Thread(target=lambda: box.append(work()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "the composition blocked on a read"
    return box[0]


# ---------------------------------------------------------------- outside the repository

@pytest.mark.parametrize("written", [
    "{outside}/secret.yaml",                     # absolute
    "../../outside/secret.yaml",                 # climbing out
    "bases/../../../outside/secret.yaml",        # climbing out from inside
    "'{outside}/../outside/./secret.yaml'",
])
def test_paths_outside_the_repository_are_refused(repo: Path, tmp_path: Path, written: str) -> None:
    written = written.format(outside=tmp_path / "outside")
    code, line, column, text = _only(check_file(_policy(repo, written), environ={}))
    assert (code, line, column) == ("extends-outside", 1, 10)
    _assert_nothing_foreign(text, tmp_path, written.strip("'"))


def test_a_symbolic_link_out_of_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    (repo / "policies" / "bases" / "linked.yaml").symlink_to(tmp_path / "outside" / "secret.yaml")
    (repo / "policies" / "bases" / "dir-link").symlink_to(tmp_path / "outside")
    for written in ("bases/linked.yaml", "bases/dir-link/secret.yaml"):
        code, _, _, text = _only(check_file(_policy(repo, written), environ={}))
        assert code == "extends-outside"
        assert written in text
        _assert_nothing_foreign(text, tmp_path)


def test_the_answer_does_not_say_whether_an_outside_file_exists(repo: Path, tmp_path: Path) -> None:
    there = _only(check_file(_policy(repo, "../../outside/secret.yaml"), environ={}))
    absent = _only(check_file(_policy(repo, "../../outside/absent.yaml"), environ={}))
    assert there[0] == absent[0] == "extends-outside"


def test_git_files_are_no_policies(repo: Path) -> None:
    # a CI checkout keeps its token in .git/config
    (repo / ".git" / "config").write_text(f"description: {SECRET}\n")
    code, _, _, text = _only(check_file(_policy(repo, "../.git/config"), environ={}))
    assert code == "extends-outside" and ".git directory" in text and SECRET not in text


def test_a_loop_of_symbolic_links_is_refused(repo: Path) -> None:
    bases = repo / "policies" / "bases"
    (bases / "one.yaml").symlink_to("two.yaml")
    (bases / "two.yaml").symlink_to("one.yaml")
    code, _, _, text = _only(check_file(_policy(repo, "bases/one.yaml"), environ={}))
    assert code == "extends-invalid" and "loop" in text


def test_allow_outside_lets_a_trusted_directory_in(repo: Path, tmp_path: Path) -> None:
    path = _policy(repo, "../../outside/secret.yaml")
    result = check_file(path, environ={}, allow_outside=[tmp_path / "outside"])
    assert result.policy is not None, [d.format() for d in result.diagnostics]
    assert result.policy.spec.description == SECRET
    assert _only(check_file(path, environ={}, allow_outside=[repo / "elsewhere"]))[0] == "extends-outside"


def test_without_git_the_policys_own_directory_is_the_root(tmp_path: Path) -> None:
    (tmp_path / "team" / "bases").mkdir(parents=True)
    (tmp_path / "team" / "bases" / "org.yaml").write_text("description: below\n")
    (tmp_path / "org.yaml").write_text("description: above\n")
    below = tmp_path / "team" / "below.yaml"
    below.write_text(f"extends: bases/org.yaml\n{POLICY_TAIL}")
    assert check_file(below, environ={}).policy is not None
    above = tmp_path / "team" / "above.yaml"
    above.write_text(f"extends: ../org.yaml\n{POLICY_TAIL}")
    assert _only(check_file(above, environ={}))[0] == "extends-outside"


def test_a_git_file_marks_the_root_too(tmp_path: Path) -> None:
    (tmp_path / ".git").write_text("gitdir: /somewhere/else\n")  # a worktree or submodule
    (tmp_path / "org.yaml").write_text("description: at the root\n")
    (tmp_path / "team").mkdir()
    path = tmp_path / "team" / "p.yaml"
    path.write_text(f"extends: ../org.yaml\n{POLICY_TAIL}")
    result = check_file(path, environ={})
    assert result.policy is not None and result.policy.spec.description == "at the root"


def test_a_top_level_file_linked_from_outside_is_refused(repo: Path, tmp_path: Path) -> None:
    link = repo / "policies" / "linked.yaml"
    link.symlink_to(tmp_path / "outside" / "secret.yaml")
    code, line, column, text = _only(check_file(link, environ={}))
    assert (code, line, column) == ("extends-outside", 1, 1)
    _assert_nothing_foreign(text, tmp_path)


def test_an_interpolated_path_is_shown_as_written(repo: Path, tmp_path: Path) -> None:
    path = _policy(repo, "${BASE}")
    code, _, _, text = _only(check_file(path, environ={"BASE": str(tmp_path / "outside" / "secret.yaml")}))
    assert code == "extends-outside" and "${BASE}" in text
    _assert_nothing_foreign(text, tmp_path)
    code, _, _, text = _only(check_file(path, environ={"BASE": "bases/absent-hunter2.yaml"}))
    assert code == "extends-not-found" and "${BASE}" in text and "hunter2" not in text


# ---------------------------------------------------------------- paths that name no readable file

@pytest.mark.parametrize(("written", "says"), [
    ('"bases/a\\0b.yaml"', "NUL character"),
    ("x" * 6000, "6,000 characters long"),
    ("bases/" + "y" * 300 + ".yaml", "too long"),  # one name over NAME_MAX, the path under the limit
    ("bases", "is a directory"),
    ("'   '", "is empty"),
])
def test_unusable_paths_are_coded_diagnostics(repo: Path, written: str, says: str) -> None:
    code, line, column, text = _only(check_file(_policy(repo, written), environ={}))
    assert (code, line, column) == ("extends-invalid", 1, 10)
    assert says in text
    assert len(text) < 600  # the path is shortened in the message


@needs_fifo
def test_a_fifo_is_refused_without_waiting_for_a_writer(repo: Path) -> None:
    os.mkfifo(repo / "policies" / "bases" / "pipe.yaml")
    result = _within(30, lambda: check_file(_policy(repo, "bases/pipe.yaml"), environ={}))
    code, _, _, text = _only(result)
    assert code == "extends-invalid" and "not a regular file" in text


def test_a_device_is_refused_even_when_allowed(repo: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero")
    (repo / "policies" / "bases" / "zero.yaml").symlink_to("/dev/zero")
    assert _only(check_file(_policy(repo, "bases/zero.yaml"), environ={}))[0] == "extends-outside"
    result = _within(30, lambda: check_file(_policy(repo, "/dev/zero"), environ={}, allow_outside=["/dev"]))
    code, _, _, text = _only(result)
    assert code == "extends-invalid" and "not a regular file" in text


def test_a_base_over_the_size_limit_is_refused(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "MAX_FILE_BYTES", 1000)
    (repo / "policies" / "bases" / "big.yaml").write_text("description: big\n" + "# pad\n" * 100_000)
    code, _, _, text = _only(check_file(_policy(repo, "bases/big.yaml"), environ={}))
    assert code == "file-too-large" and "600,017 bytes" in text


def test_check_text_is_confined_to_its_base_directory(repo: Path, tmp_path: Path) -> None:
    text = f"extends: ../../outside/secret.yaml\n{POLICY_TAIL}"
    result = check_text(text, environ={}, base_dir=repo / "policies")
    assert _only(result)[0] == "extends-outside"
    assert check_text(text, environ={}, base_dir=repo / "policies", allow_outside=[tmp_path / "outside"]).policy is not None


# ---------------------------------------------------------------- how much one composition reads

def test_the_number_of_files_read_is_bounded(repo: Path) -> None:
    # each level extends the next twice: 2**12 reads without a bound
    bases = repo / "policies" / "bases"
    for level in range(12):
        (bases / f"l{level}.yaml").write_text(f"extends: [l{level + 1}.yaml, l{level + 1}.yaml]\n")
    (bases / "l12.yaml").write_text("description: the bottom\n")
    result = check_file(_policy(repo, "[bases/l0.yaml]"), environ={})
    assert [d.code for d in result.errors] == ["extends-limit"]


def test_the_nesting_depth_is_bounded(repo: Path) -> None:
    bases = repo / "policies" / "bases"
    depth = compose.MAX_EXTENDS_DEPTH
    for level in range(depth + 2):
        (bases / f"d{level}.yaml").write_text(f"extends: d{level + 1}.yaml\n")
    (bases / f"d{depth + 2}.yaml").write_text("description: the bottom\n")
    code, line, column, text = _only(check_file(_policy(repo, "bases/d0.yaml"), environ={}))
    assert (code, line, column) == ("extends-limit", 1, 10)
    assert f"more than {depth} deep" in text
    assert Path(check_file(_policy(repo, "bases/d0.yaml"), environ={}).errors[0].location.file).name == f"d{depth - 1}.yaml"  # type: ignore[union-attr]


def test_nesting_up_to_the_limit_is_fine(repo: Path) -> None:
    bases = repo / "policies" / "bases"
    depth = compose.MAX_EXTENDS_DEPTH
    for level in range(depth - 1):
        (bases / f"d{level}.yaml").write_text(f"extends: d{level + 1}.yaml\n")
    (bases / f"d{depth - 1}.yaml").write_text("description: the bottom\n")
    result = check_file(_policy(repo, "bases/d0.yaml"), environ={})
    assert result.policy is not None and result.policy.spec.description == "the bottom"


# ---------------------------------------------------------------- the .env beside the policy

def _dotenv_policy(repo: Path) -> Path:
    path = repo / "policies" / "env.yaml"
    path.write_text("version: 1\nname: child\ndescription: ${FROM_DOTENV:-unset}\nmodels:\n  small: {model: gpt-4o-mini}\n"
                    "routes:\n  - default: {model: small}\n")
    return path


def test_a_dotenv_linked_from_outside_is_not_read(repo: Path, tmp_path: Path) -> None:
    (tmp_path / "outside" / ".env").write_text(f"FROM_DOTENV={SECRET}\n")
    (repo / "policies" / ".env").symlink_to(tmp_path / "outside" / ".env")
    result = check_file(_dotenv_policy(repo), environ={})
    assert result.policy is not None and result.policy.spec.description == "unset"
    (warning,) = result.warnings
    assert warning.code == "env-file-ignored" and "resolves outside" in warning.message
    _assert_nothing_foreign(warning.format(), tmp_path)


@needs_fifo
def test_a_dotenv_fifo_or_huge_file_is_passed_over(repo: Path) -> None:
    os.mkfifo(repo / "policies" / ".env")
    result = _within(30, lambda: check_file(_dotenv_policy(repo), environ={}))
    assert [d.code for d in result.warnings] == ["env-file-ignored"]
    os.unlink(repo / "policies" / ".env")
    (repo / "policies" / ".env").write_text("FROM_DOTENV=x\n" * 10_000)
    result = check_file(_dotenv_policy(repo), environ={})
    assert [d.code for d in result.warnings] == ["env-file-ignored"]
    assert result.policy is not None and result.policy.spec.description == "unset"


def test_a_dotenv_directory_is_no_dotenv_and_a_good_one_is_read(repo: Path) -> None:
    (repo / "policies" / ".env").mkdir()  # a virtualenv, say
    result = check_file(_dotenv_policy(repo), environ={})
    assert result.diagnostics == [] and result.policy is not None
    (repo / "policies" / ".env").rmdir()
    (repo / "policies" / ".env").write_text("FROM_DOTENV=from-dotenv\n")
    result = check_file(_dotenv_policy(repo), environ={})
    assert result.policy is not None and result.policy.spec.description == "from-dotenv"


# ---------------------------------------------------------------- through the CLI

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cascadepolicy", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("written", [
    "{outside}/secret.yaml",
    "../../outside/secret.yaml",
    "bases/linked.yaml",
    '"bases/a\\0b.yaml"',
    "z" * 6000,
    "bases/zero.yaml",
    "bases/pipe.yaml",
])
def test_validate_reports_each_shape_with_exit_1(repo: Path, tmp_path: Path, written: str) -> None:
    (repo / "policies" / "bases" / "linked.yaml").symlink_to(tmp_path / "outside" / "secret.yaml")
    (repo / "policies" / "bases" / "zero.yaml").symlink_to("/dev/zero")
    if hasattr(os, "mkfifo"):
        os.mkfifo(repo / "policies" / "bases" / "pipe.yaml")
    written = written.format(outside=tmp_path / "outside")
    _policy(repo, written)
    for fmt in ("text", "json", "github"):
        proc = _cli("validate", "--format", fmt, "policies/p.yaml", cwd=repo)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1, output
        assert "Traceback" not in output and "internal error" not in output
        assert "extends-" in output
        _assert_nothing_foreign(output, tmp_path, written)


def test_allow_outside_on_the_command_line(repo: Path, tmp_path: Path) -> None:
    _policy(repo, "../../outside/secret.yaml")
    assert _cli("validate", "policies/p.yaml", cwd=repo).returncode == 1
    proc = _cli("validate", "--allow-outside", str(tmp_path / "outside"), "policies/p.yaml", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _cli("graph", "--allow-outside", str(tmp_path / "nowhere"), "--allow-outside", str(tmp_path / "outside"),
                "policies/p.yaml", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _cli("diff", "policies/p.yaml", "policies/p.yaml", cwd=repo).returncode == 1
    assert _cli("diff", "--allow-outside", str(tmp_path / "outside"), "policies/p.yaml", "policies/p.yaml", cwd=repo).returncode == 0


def test_a_suite_names_its_policy_inside_its_repository(repo: Path, tmp_path: Path) -> None:
    suite = repo / "policies" / "p_test.yaml"
    for written, says in (("../../outside/secret.yaml", "resolves outside"), ("x" * 6000, "characters long"),
                          ("bases/" + "y" * 300 + ".yaml", "does not exist")):
        suite.write_text(f"policy: {written}\ncases:\n  - name: one\n    request: {{prompt: hi}}\n    expect: {{outcome: answered}}\n")
        proc = _cli("test", "policies/p_test.yaml", cwd=repo)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1 and "test-policy" in output and says in output, output
        assert "Traceback" not in output
        _assert_nothing_foreign(output, tmp_path)
