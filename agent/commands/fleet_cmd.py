"""``kitchen-agent fleet ...``: central operations' side, in :mod:`agent.fleet.cli`.

Installed with the extra ``kitchen-agent[fleet]``; on a box without it the fleet commands
say so (exit 69) instead of failing on an import.
"""

from __future__ import annotations

from typing import Any


def register(subparsers: Any) -> None:
    from agent.fleet.cli import register as register_fleet

    register_fleet(subparsers)
