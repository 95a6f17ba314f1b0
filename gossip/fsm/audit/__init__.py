"""The protocol audit: rules for each machine, joint exploration of pairs, diagrams and docs.

It reads the machine classes and runs them through `handle`; it never changes them. The
command line is `python -m gossip.fsm` (see gossip/fsm/__main__.py).
"""

from .docs import DocsError, render_document, stale_diff, write_document
from .export import FORMATS, ExportUnavailable, export, render
from .model import Edge, Guard, MachineSpec
from .pairs import Bounds, PairReport, explore_pair
from .probe import MachineCrashed, Outcome, Probe, ProbeStep
from .report import AuditReport, audit, format_report
from .rules import RULES, Finding, check_machine

__all__ = [
    "FORMATS", "RULES", "AuditReport", "Bounds", "DocsError", "Edge", "ExportUnavailable",
    "Finding", "Guard", "MachineCrashed", "MachineSpec", "Outcome", "PairReport", "Probe",
    "ProbeStep",
    "audit", "check_machine", "explore_pair", "export", "format_report", "render",
    "render_document", "stale_diff", "write_document",
]
