"""The README's quick start runs as written: `completion` with tools, then a streamed `acompletion`.

Its first Python block under "## Use it" is run in a fresh process, as a user
would paste it, in a directory holding `policies/saas.yaml`, with
OPENAI_API_BASE pointing litellm at the local stub server (which answers a
request offering tools with a call of the first one, and records the bodies).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from stub_openai import ANSWER, received, running_stub

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Use it\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "README.md has no Python block under '## Use it'"
    return found.group(1)


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    code = quick_start()
    assert "engine.completion(" in code and "tools=" in code and "await engine.acompletion(" in code
    assert "stream=True" in code and "mock" not in code
    (tmp_path / "policies").mkdir()
    shutil.copy(ROOT / "policies" / "saas.yaml", tmp_path / "policies" / "saas.yaml")
    (tmp_path / "quick_start.py").write_text(code)
    with running_stub(tool_calls=True) as api_base:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CASCADEPOLICY_"))}
        env |= {"OPENAI_API_BASE": api_base, "OPENAI_API_KEY": "sk-test-not-a-real-key",
                "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(ROOT)}
        run = subprocess.run([sys.executable, "quick_start.py"], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=300)
        bodies = received(api_base)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "refused" not in run.stdout
    assert "tool call: get_weather" in run.stdout  # the tool reached the model and its call came back
    assert ANSWER in run.stdout  # the streamed answer, chunk by chunk
    assert bodies[0]["tools"][0]["function"]["name"] == "get_weather" and bodies[0]["tool_choice"] == "auto"
    assert "RFC 2119" in bodies[1]["messages"][-1]["content"] and len(bodies) == 2
