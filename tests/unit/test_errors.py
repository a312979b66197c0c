"""One exception tree: every exception class of the package derives from
`CascadePolicyError` and is drawn in the tree of `cascadepolicy.errors`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import cascadepolicy
from cascadepolicy import errors
from cascadepolicy.errors import CascadePolicyError, UsageError

# Modules that need an optional package (redis) are skipped when it is missing.
OPTIONAL = {"cascadepolicy.state.redis_store": "redis"}


def exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(cascadepolicy.__path__, "cascadepolicy."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError as exc:
            if OPTIONAL.get(info.name) == exc.name:
                continue
            raise
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == info.name:
                if not name.startswith("_"):  # private ones never leave their module
                    found[f"{info.name}.{name}"] = value
    return found


def test_the_walk_finds_the_exceptions_defined_outside_errors() -> None:
    names = {qualified.rsplit(".", 1)[1] for qualified in exception_classes()}
    assert {"DetectorUnavailable", "CallableNotRun", "CallableProblem", "Refused", "LimitExceeded"} <= names


def test_every_exception_derives_from_cascadepolicy_error() -> None:
    outside = sorted(q for q, cls in exception_classes().items() if not issubclass(cls, CascadePolicyError))
    assert outside == []


def test_every_exception_is_drawn_in_the_tree() -> None:
    tree = errors.__doc__ or ""
    drawn = set(re.findall(r"^[\s│]*(?:├──|└──)?\s*([A-Z]\w+)", tree, re.MULTILINE))
    missing = sorted(q for q in exception_classes() if q.rsplit(".", 1)[1] not in drawn)
    assert missing == []


def test_usage_errors_are_part_of_the_tree_and_still_exit_2() -> None:
    from cascadepolicy.cli import main

    assert issubclass(UsageError, CascadePolicyError)
    assert main(["validate", "no-such-file.yaml"]) == 2
