"""A real filesystem that fills up: a small tmpfs mounted for one test (root only).

Disk-full handling is tested against the kernel's own ENOSPC, not a mocked ``write``:
SQLite, fsync and rename each meet it where they really do.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


class SmallDisk:
    def __init__(self, root: Path) -> None:
        self.root = root

    def free(self) -> int:
        return os.statvfs(self.root).f_bavail * os.statvfs(self.root).f_frsize

    def fill(self, leave_bytes: int = 0) -> Path:
        """Take the space until at most ``leave_bytes`` are free; the filler file is returned
        (delete it to free the space again)."""
        filler = self.root / f"filler-{len(list(self.root.glob('filler-*')))}"
        with filler.open("wb") as handle:
            chunk = b"\0" * 4096
            try:
                while self.free() > leave_bytes:
                    handle.write(chunk)
                    handle.flush()
            except OSError:
                pass  # ENOSPC: full
        return filler


def fault_code(holder: object) -> str | None:
    """The storage fault a holder reports now (read afresh: it changes under the test)."""
    fault = getattr(holder, "fault", None)
    return None if fault is None else str(fault.code)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], SmallDisk]]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def make(size_kib: int) -> SmallDisk:
        where = tmp_path / f"disk-{len(mounted)}"
        where.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(where)],
            check=True,
            capture_output=True,
            timeout=10,
        )
        mounted.append(where)
        return SmallDisk(where)

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True, timeout=10)
