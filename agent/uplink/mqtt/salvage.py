"""Reading back what a damaged outbox file still holds (its events, in order).

Row by row, so that a damaged page costs the rows on it and not the rest: the outbox moves
a corrupt file aside for a technician and carries these rows into a fresh one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

Row = tuple[str, str, float, str, int]  # msg_id, type, ts, data, size

PROBE_IDS = 512  # past a damaged page, ids tried one by one (a page holds far fewer rows)
MAX_MISSES = 8  # windows of ids in a row with nothing readable: the rest is gone


def salvage(path: Path, limit: int) -> list[Row]:
    """The events still readable in a damaged outbox, in order (at most ``limit``).

    A damaged page costs the rows on it, not the rest: where scanning fails (an error, or
    nothing before the highest id), ids are looked up one by one until rows come back.
    """
    rows: list[Row] = []
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return rows
    columns = "id, CAST(msg_id AS BLOB), CAST(type AS BLOB), ts, CAST(data AS BLOB), size"
    scan = f"SELECT {columns} FROM events WHERE id > ? ORDER BY id LIMIT 1"  # noqa: S608
    exact = f"SELECT {columns} FROM events WHERE id = ?"  # noqa: S608

    def read(query: str, value: int) -> tuple[Any, ...] | None:
        try:
            row: tuple[Any, ...] | None = db.execute(query, (value,)).fetchone()
        except sqlite3.Error:
            return None
        return row

    try:
        top = read("SELECT max(id) FROM events WHERE ? = 0", 0)
        highest = top[0] if top is not None and isinstance(top[0], int) else 1 << 62
        last, misses = 0, 0
        while len(rows) < limit and last < highest and misses < MAX_MISSES:
            row = read(scan, last)
            if row is None:  # damaged here: step over it id by id
                found = (read(exact, n) for n in range(last + 1, last + 1 + PROBE_IDS))
                row = next((r for r in found if r is not None), None)
                if row is None:
                    last, misses = last + PROBE_IDS, misses + 1
                    continue
            last, misses = int(row[0]), 0
            try:
                msg_id, kind, data = (bytes(row[i]).decode("utf-8") for i in (1, 2, 4))
                rows.append((msg_id, kind, float(row[3]), data, int(row[5])))
            except (TypeError, ValueError):
                continue  # this row's bytes are damaged: it is lost, the others are not
    finally:
        db.close()
    return rows
