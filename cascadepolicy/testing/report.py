"""Reporters of `cascadepolicy test`: text for people, JSON for tools, JUnit XML for CI.

Each takes the suite results (and whether coverage was asked for) and
writes to a stream; none of them decides the exit code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO
from xml.etree import ElementTree

from cascadepolicy.testing.runner import SuiteResult


def report_text(results: Sequence[SuiteResult], out: TextIO, *, coverage: bool, verbose: bool = False) -> None:
    passed = failed = 0
    for suite in results:
        for d in suite.diagnostics:
            out.write(d.format() + "\n")
        for case in suite.cases:
            if case.passed:
                passed += 1
                if verbose:
                    out.write(f"PASS {suite.file} :: {case.name}\n")
                continue
            failed += 1
            out.write(f"FAIL {case.location or suite.file} :: {case.name}\n")
            for failure in case.failures:
                out.write(f"    {failure}\n")
        if coverage and suite.coverage is not None:
            cov = suite.coverage
            out.write(f"coverage {suite.file} ({suite.policy_file}): {cov.percent:.0f}% of {len(cov.items)} element(s)\n")
            for item in cov.missing:
                out.write(f"    not exercised: {item.kind} {item.name}" + (f" ({item.location})" if item.location else "") + "\n")
    broken = sum(1 for s in results if any(d.is_error for d in s.diagnostics))
    summary = f"{len(results)} suite(s), {passed + failed} case(s): {passed} passed, {failed} failed"
    if broken:
        summary += f", {broken} suite(s) with errors"
    out.write(summary + "\n")


def report_json(results: Sequence[SuiteResult], out: TextIO, *, coverage: bool) -> None:
    suites = []
    for suite in results:
        entry: dict[str, object] = {
            "file": suite.file, "policy": suite.policy_file, "ok": suite.ok, "seconds": round(suite.seconds, 3),
            "diagnostics": [d.to_dict() for d in suite.diagnostics],
            "cases": [{"name": c.name, "location": c.location, "passed": c.passed, "failures": c.failures,
                       "seconds": round(c.seconds, 3), **({"decision": c.decision} if not c.passed and c.decision else {})}
                      for c in suite.cases],
        }
        if coverage and suite.coverage is not None:
            entry["coverage"] = suite.coverage.to_dict()
        suites.append(entry)
    total = sum(len(s.cases) for s in results)
    failed = sum(len(s.failed) for s in results)
    json.dump({"suites": suites, "summary": {"cases": total, "passed": total - failed, "failed": failed,
                                             "ok": all(s.ok for s in results)}}, out, indent=2, default=str)
    out.write("\n")


def report_junit(results: Sequence[SuiteResult], out: TextIO, *, coverage: bool) -> None:
    root = ElementTree.Element("testsuites", name="cascadepolicy")
    for suite in results:
        errors = [d for d in suite.diagnostics if d.is_error]
        node = ElementTree.SubElement(root, "testsuite", name=suite.file, tests=str(len(suite.cases) + (1 if errors else 0)),
                                      failures=str(len(suite.failed)), errors=str(1 if errors else 0),
                                      time=f"{suite.seconds:.3f}")
        if errors:
            case = ElementTree.SubElement(node, "testcase", name="load suite", classname=suite.file)
            error = ElementTree.SubElement(case, "error", message=errors[0].message)
            error.text = "\n".join(d.format() for d in errors)
        for result in suite.cases:
            case = ElementTree.SubElement(node, "testcase", name=result.name, classname=suite.file, time=f"{result.seconds:.3f}")
            if result.location:
                case.set("file", result.location.rsplit(":", 2)[0])
                case.set("line", result.location.rsplit(":", 2)[1])
            if not result.passed:
                failure = ElementTree.SubElement(case, "failure", message=result.failures[0] if result.failures else "failed")
                failure.text = "\n".join(result.failures)
        if coverage and suite.coverage is not None:
            props = ElementTree.Element("properties")
            node.insert(0, props)  # JUnit's schema puts properties before the test cases
            ElementTree.SubElement(props, "property", name="coverage", value=f"{suite.coverage.percent:.2f}")
            for item in suite.coverage.missing:
                ElementTree.SubElement(props, "property", name="not-exercised", value=f"{item.kind} {item.name}")
    ElementTree.indent(root)
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write(ElementTree.tostring(root, encoding="unicode"))
    out.write("\n")
