"""`cascadepolicy init`: starter policies and their test suites.

Templates ship in `cascadepolicy/templates/` as `NAME.yaml.tmpl` (the policy) and
`NAME_test.yaml.tmpl` (its suite; not `*_test.yaml`, which `cascadepolicy test` would
pick up). `write_template` copies both into a directory
as `policy.yaml` and `policy_test.yaml`, with the JSON Schemas beside them in
`schemas/` so the `# yaml-language-server: $schema=` modelines resolve
offline. A test keeps every template passing `validate --strict` and `test`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cascadepolicy.errors import UsageError

POLICY_FILE = "policy.yaml"
SUITE_FILE = "policy_test.yaml"
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Template:
    name: str
    description: str


TEMPLATES = {
    "starter": Template("starter", "two tiers with rate windows and budgets, PII and injection guardrails, a small-to-large cascade"),
    "minimal": Template("minimal", "one model and one default route"),
}


def render(template: str, policy_name: str) -> tuple[str, str]:
    """The policy and suite text of `template`, for a policy called `policy_name`."""
    files = resources.files("cascadepolicy").joinpath("templates")
    texts = []
    for suffix in ("", "_test"):
        text = files.joinpath(f"{template}{suffix}.yaml.tmpl").read_text(encoding="utf-8")
        for placeholder, value in (("__NAME__", policy_name), ("__POLICY__", POLICY_FILE),
                                   ("__SUITE__", SUITE_FILE)):
            text = text.replace(placeholder, value)
        texts.append(text)
    return texts[0], texts[1]


def write_template(template: str, directory: Path, *, force: bool = False) -> list[Path]:
    """Write the policy, its suite and the schemas into `directory`; return the paths written."""
    from cascadepolicy.loading.schema_export import schema_text

    policy_path, suite_path = directory / POLICY_FILE, directory / SUITE_FILE
    existing = [p for p in (policy_path, suite_path) if p.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(map(str, existing))} already exist(s); pass --force to overwrite")
    name = directory.resolve().name
    name = name if _ID.match(name) else "my-policy"
    policy_text, suite_text = render(template, name)
    (directory / "schemas").mkdir(parents=True, exist_ok=True)
    written = [policy_path, suite_path]
    policy_path.write_text(policy_text, encoding="utf-8")
    suite_path.write_text(suite_text, encoding="utf-8")
    for kind in ("policy", "test"):
        target = directory / "schemas" / f"{kind}.schema.json"
        target.write_text(schema_text(kind), encoding="utf-8")
        written.append(target)
    return written
