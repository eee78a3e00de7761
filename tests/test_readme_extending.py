"""The README's "Extending infonas" snippets are a test file: run them, conformance suites included.

They run in a subprocess, so the kernel, acquisition, strategy, evaluator and space they register
never leak into the registries of this test session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def extending_snippets() -> list[str]:
    text = README.read_text()
    section = text.split("## Extending infonas", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_section_shows_every_kind_of_extension():
    code = "\n".join(extending_snippets())
    for registration in ("register_space(", "register_evaluator(", "register_strategy(", "register_kernel(",
                         "register_acquisition("):
        assert registration in code
    for suite in ("SpaceConformance", "EvaluatorConformance", "StrategyConformance", "KernelConformance"):
        assert f"({suite}" in code or f", {suite}" in code or f"{suite})" in code


def test_the_snippets_run_and_pass_their_suites(tmp_path):
    module = tmp_path / "test_extending_snippets.py"
    module.write_text("\n\n".join(extending_snippets()))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(README.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and " failed" not in result.stdout
