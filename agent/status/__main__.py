"""``python -m agent.status [DIR]``: write DIR/status.schema.json, or print the schema."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.persist import PUBLIC_MODE, atomic_write_text
from agent.status.model import render_status_schema


def main(argv: list[str]) -> int:
    if not argv:
        sys.stdout.write(render_status_schema())
        return 0
    path = Path(argv[0]) / "status.schema.json"
    atomic_write_text(path, render_status_schema(), mode=PUBLIC_MODE)
    sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
