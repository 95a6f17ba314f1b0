"""Diagrams of the machines, drawn by python-statemachine from the classes themselves.

Mermaid needs nothing else; DOT needs pydot (the library's `diagrams` extra) and SVG also
needs Graphviz's `dot` program. When one is missing, `ExportUnavailable` says which.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from statemachine.contrib.diagram import formatter
from statemachine.contrib.diagram.graphviz import GraphvizError, run_graphviz

from ..base import ProtocolMachine

FORMATS: Mapping[str, str] = {"dot": "dot", "mermaid": "mmd", "svg": "svg"}  # format -> suffix
# The library names a few helper nodes after id(); renumber them so files are reproducible.
_ANONYMOUS_NODE = re.compile(r"\b(__initial_|cluster___atomic_)(\d+)")


class ExportUnavailable(Exception):
    """A diagram format needs a tool that is not installed here."""


def render(machine: type[ProtocolMachine], fmt: str) -> str:
    """One machine's diagram as text in `fmt` (one of FORMATS)."""
    if fmt == "mermaid":
        return formatter.render(machine, "mermaid")
    if fmt == "dot":
        return _dot(machine)
    if fmt == "svg":
        try:
            return run_graphviz(_dot(machine), "svg").decode("utf-8")
        except FileNotFoundError as missing:  # the library's GraphvizNotFoundError
            raise ExportUnavailable(
                "svg export needs Graphviz's `dot` program, which is not installed "
                "(Debian/Ubuntu: apt-get install graphviz). dot and mermaid export work "
                "without it.") from missing
        except GraphvizError as error:
            raise ExportUnavailable(f"Graphviz could not draw {machine.__name__}: {error}") \
                from error
    raise ValueError(f"unknown diagram format {fmt!r}; use one of {', '.join(FORMATS)}")


def export(machines: Mapping[str, type[ProtocolMachine]], fmt: str, out_dir: Path) -> list[Path]:
    """Write one file per machine (`<name>.<suffix>`) into out_dir; return the paths written.

    Every diagram is drawn before any file is written, so a missing tool writes nothing.
    """
    texts = {name: render(machine, fmt) for name, machine in machines.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in texts.items():
        path = out_dir / f"{name}.{FORMATS[fmt]}"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _dot(machine: type[ProtocolMachine]) -> str:
    try:
        text = formatter.render(machine, "dot")
    except ImportError as missing:
        raise ExportUnavailable(
            "dot and svg export need pydot: pip install 'python-statemachine[diagrams]'"
        ) from missing
    numbers: dict[str, int] = {}

    def stable(match: re.Match[str]) -> str:
        number = numbers.setdefault(match.group(2), len(numbers))
        return f"{match.group(1)}{number}"

    return _ANONYMOUS_NODE.sub(stable, text)
