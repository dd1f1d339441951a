"""Rooms a person can live in: no module of the agent grows past 600 lines, and no child
process is started through ``preexec_fn`` (Python code between fork and exec can deadlock
in a threaded process; subproc.py uses setpriv instead)."""

from __future__ import annotations

import ast
from pathlib import Path

AGENT = Path(__file__).resolve().parent.parent / "agent"
LIMIT = 600


def test_no_module_over_600_lines() -> None:
    big = {
        str(path.relative_to(AGENT.parent)): count
        for path in sorted(AGENT.rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert not big, f"split these along their seams: {big}"


def test_no_child_process_uses_preexec_fn() -> None:
    offenders = []
    for path in sorted(AGENT.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "preexec_fn":
                offenders.append(f"{path.relative_to(AGENT.parent)}:{node.value.lineno}")
    assert not offenders, offenders
