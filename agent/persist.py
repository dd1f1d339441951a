"""Atomic persistence: a state file is either the old version or the new one, never half.

Files are written ``0640`` unless a caller says otherwise: state files hold pictures of the
kitchen (reference images), camera addresses and command history, which are for the agent's
own user and group, not for every user of the box. Only what is published anyway (schemas)
is written world-readable, on purpose.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from agent.errors import StorageError, StorageFull

DEFAULT_MODE = 0o640
PUBLIC_MODE = 0o644  # for files meant to be read by anyone (published schemas)


def atomic_write_bytes(
    path: Path, data: bytes, mode: int = DEFAULT_MODE, owner: tuple[int, int] | None = None
) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync and rename.
    ``owner`` (uid, gid) is given to the file before it takes the name (root only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp_name).chmod(mode)
        if owner is not None and os.geteuid() == 0:
            os.chown(tmp_name, *owner)
        Path(tmp_name).replace(path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    # The rename is only durable once the directory entry is on disk too.
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(
    path: Path, text: str, mode: int = DEFAULT_MODE, owner: tuple[int, int] | None = None
) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), mode, owner)


def atomic_write_json(path: Path, value: Any, mode: int = DEFAULT_MODE) -> None:
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    atomic_write_text(path, text, mode)


def read_json(path: Path, default: Any = None) -> Any:
    """Read a JSON state file; a missing or corrupt file gives ``default``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


# --- when the disk fills up ---------------------------------------------------------------

RESERVE_BYTES = 32 * 1024 * 1024  # left free for the rest of the box (journald, apt, logs)
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL = 13  # "database or disk is full"


def free_bytes(path: Path) -> int | None:
    """Free bytes (for unprivileged users) on the filesystem of ``path``; None if unknown."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def below_reserve(path: Path, reserve_bytes: int = RESERVE_BYTES) -> bool:
    free = free_bytes(path)
    return free is not None and free < reserve_bytes


def storage_fault(error: BaseException, where: Path | None = None) -> StorageError:
    """What a failed write in the folder ``where`` means for ops: the disk is full, or some
    other storage error. SQLite often words a full disk as an I/O error (it could not grow
    its shared-memory file): an error while the disk is below the reserve counts as full."""
    if isinstance(error, StorageError):
        return error
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    full = (
        (isinstance(error, OSError) and error.errno in _FULL_ERRNOS)
        or getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL
        or (where is not None and below_reserve(where))
    )
    if full:
        return StorageFull(f"no space left on the state filesystem: {detail}")
    return StorageError(f"cannot write the state directory: {detail}")
