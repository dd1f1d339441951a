"""Cheap facts about the box for heartbeats: uptime, load, memory, disk, temperature.

Read from /proc and /sys only (no subprocesses); anything missing is None, never an error.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.uplink.messages import SystemInfo

_MB = 1024 * 1024


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def uptime_s(proc: Path = Path("/proc")) -> float | None:
    text = _read(proc / "uptime")
    try:
        return round(float(text.split()[0]), 1) if text else None
    except (ValueError, IndexError):
        return None


def load_average(proc: Path = Path("/proc")) -> list[float] | None:
    text = _read(proc / "loadavg")
    try:
        return [float(v) for v in text.split()[:3]] if text else None
    except ValueError:
        return None


def memory_mb(proc: Path = Path("/proc")) -> tuple[float | None, float | None]:
    """(total, available) in MB from /proc/meminfo."""
    text = _read(proc / "meminfo")
    if not text:
        return None, None
    fields: dict[str, float] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0]) / 1024  # kB -> MB
    total = fields.get("MemTotal")
    available = fields.get("MemAvailable", fields.get("MemFree"))
    return (
        round(total, 1) if total is not None else None,
        round(available, 1) if available is not None else None,
    )


def disk_mb(path: Path) -> tuple[float | None, float | None]:
    """(total, free for us) in MB of the filesystem holding ``path``."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return None, None
    return (
        round(stats.f_blocks * stats.f_frsize / _MB, 1),
        round(stats.f_bavail * stats.f_frsize / _MB, 1),
    )


def temperature_c(sys_root: Path = Path("/sys")) -> float | None:
    """The hottest thermal zone in °C; None on boxes (and VMs) without one."""
    hottest: float | None = None
    for zone in sorted((sys_root / "class" / "thermal").glob("thermal_zone*")):
        text = _read(zone / "temp")
        try:
            value = int(text.strip()) / 1000 if text else None
        except ValueError:
            continue
        # Some drivers report -273 or absurd values when a sensor is absent.
        if value is not None and -40 <= value <= 150:
            hottest = value if hottest is None else max(hottest, value)
    return round(hottest, 1) if hottest is not None else None


def read_sysinfo(
    state_dir: Path, proc: Path = Path("/proc"), sys_root: Path = Path("/sys")
) -> SystemInfo:
    total, available = memory_mb(proc)
    disk_total, disk_free = disk_mb(state_dir)
    return SystemInfo(
        uptime_s=uptime_s(proc),
        load=load_average(proc),
        mem_total_mb=total,
        mem_available_mb=available,
        disk_total_mb=disk_total,
        disk_free_mb=disk_free,
        temperature_c=temperature_c(sys_root),
    )
