"""Every test the README's promise table and docs/security.md cite exists: a promise whose
test was renamed or removed is a promise nobody checks any more."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CITING = ("README.md", "docs/security.md")
# `tests/test_x.py::test_name`, `tests/test_x.py`, or `::test_name` (same file as the last one).
CITATION = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def citations(document: str) -> list[tuple[str, str | None]]:
    """(test file, test name or None) for each citation, line by line; a bare `::name` takes
    the file cited last on its line."""
    found = []
    for line in (ROOT / document).read_text().splitlines():
        last_file = None
        for match in CITATION.finditer(line):
            path, name = match.group(1), match.group(2)
            if path is None and name is None:
                continue
            path = path or last_file
            if path is None:
                raise AssertionError(f"{document}: `::{name}` with no file before it: {line}")
            last_file = path
            found.append((path, name))
    return found


def functions_in(path: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text())
    return {node.name for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize("document", CITING)
def test_every_cited_test_exists(document: str) -> None:
    cited = citations(document)
    assert len(cited) > 10  # the table was found
    missing = [f"{path}::{name}" if name else path for path, name in cited
               if not (ROOT / path).exists() or (name and name not in functions_in(path))]
    assert missing == []
