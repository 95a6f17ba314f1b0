"""The tree keeps its rules: ruff's lint, mypy's types, and the layer contracts of
docs/architecture.md (import-linter). A finding fails the suite, so nothing drifts between
sessions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found is not None, f"{name} is a test dependency: pip install -e '.[test]'"
    return found


@pytest.mark.parametrize(("tool", "args"), [
    ("ruff", ["check", "--output-format", "concise", "."]),
    ("mypy", ["gossip"]),
    ("lint-imports", ["--no-cache"]),
])
def test_the_tree_keeps_its_rules(tool: str, args: list[str]) -> None:
    result = subprocess.run([_tool(tool), *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
