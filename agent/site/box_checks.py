"""The technician's checks of the box itself and its way out: network and DNS, time,
broker, ingest, CPU load and temperature, and the basic checks of :mod:`agent.diagnose`
(config, daemon, credentials, disk, ffmpeg) in both languages."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from urllib.parse import urlsplit

from agent.config import AgentConfig
from agent.model import Camera
from agent.site.advice import Advice
from agent.site.checks import FAIL, OK, WARN, Check
from agent.site.kitchen_checks import INGEST_DOWN, NO_INGEST
from agent.site.probes import (
    TEST_PUSH_S,
    clock_sync,
    cpu_load,
    ingest_url,
    pattern_argv,
    resolve,
    temperature,
    test_push,
    where,
)

# The basic checks' English hints, in Chinese (commands read the same in both).
_HINTS_ZH = {
    "write each secret to its file (mode 0600)": "把每个密钥写入对应的凭据文件（权限 0600）",
    "apt-get install ffmpeg": "安装 ffmpeg：apt-get install ffmpeg",
    "systemctl status kitchen-agent; journalctl -u kitchen-agent -n 50": (
        "查看服务：systemctl status kitchen-agent；journalctl -u kitchen-agent -n 50"
    ),
    "systemctl restart kitchen-agent": "重启服务：systemctl restart kitchen-agent",
    "apply the file: systemctl reload kitchen-agent": (
        "让服务加载新配置：systemctl reload kitchen-agent"
    ),
}
_NETWORK = {
    "down": Advice(
        "No network link: check the box's cable and the kitchen switch.",
        "没有网络连接：检查盒子的网线和后厨交换机。",
    ),
    "route": Advice(
        "No default route: the shop router gives no gateway (check its DHCP).",
        "没有默认路由：门店路由器没有分配网关（检查 DHCP）。",
    ),
    "dns": Advice(
        "DNS does not answer: check the DNS server the shop router gives (or set one).",
        "域名解析失败：检查门店路由器分配的 DNS 服务器（或手动设置）。",
    ),
}
_CLOCK = {
    "wrong": Advice(
        "The box's clock is wrong: enable NTP (systemctl enable --now systemd-timesyncd).",
        "盒子时间错误：开启 NTP 校时（systemctl enable --now systemd-timesyncd）。",
    ),
    "unsynced": Advice(
        "The clock is not kept by NTP: enable systemd-timesyncd and let it reach a time "
        "server (udp/123).",
        "系统时间未经 NTP 同步：开启 systemd-timesyncd，并确保能访问时间服务器（UDP 123）。",
    ),
    "camera": Advice(
        "Set each camera's time or NTP server in its web page (pictures and logins carry "
        "its time).",
        "在摄像头网页里设置时间或 NTP 服务器（画面时间和登录都依赖摄像头时间）。",
    ),
}
_CPU = Advice(
    "The box is overloaded: fewer transcoded streams (set streams.max_kbps within what the "
    "cameras send, or streams.set_encoder: true), or a stronger box.",
    "盒子负载过高：减少转码（让 streams.max_kbps 不低于摄像头码率，或开启 "
    "streams.set_encoder），或更换更强的盒子。",
)
_HOT = Advice(
    "The box runs hot: give it air, away from stoves and steam.",
    "盒子温度过高：放到通风处，远离灶台和蒸汽。",
)
SKEW_WARN_S = 60.0


def basic(check: object, group: str = "box") -> Check:
    """A check of :mod:`agent.diagnose` (``name, status, detail, hint``) as a bilingual one."""
    name, status, detail = (getattr(check, key) for key in ("name", "status", "detail"))
    hint = getattr(check, "hint", None) or ""
    return Check(
        str(name), str(status), str(detail), Advice(hint, _HINTS_ZH.get(hint, hint)), group
    )


def network_checks(config: AgentConfig | None, timeout_s: float) -> list[Check]:
    from agent.netif import system_interfaces

    names = []
    for interface in system_interfaces():
        if (
            not interface.loopback
            and interface.up
            and interface.running
            and interface.name not in names
        ):
            names.append(interface.name)
    checks = []
    if not names:
        checks.append(
            Check(
                "network",
                FAIL,
                "no network interface is up",
                _NETWORK["down"],
                "network",
                detail_zh="没有已连接的网卡",
            )
        )
    else:
        route = _default_route()
        status, advice = (OK, Advice("", "")) if route else (WARN, _NETWORK["route"])
        via = f"; default route via {route}" if route else "; no default route"
        checks.append(
            Check("network", status, f"interfaces up: {', '.join(names)}{via}", advice, "network")
        )
    if config is None:
        return checks
    hosts = {"broker": urlsplit(config.broker.url).hostname or ""}
    if config.streams.ingest_url:
        hosts["ingest"] = (
            urlsplit(config.streams.ingest_url.replace("{", "").replace("}", "")).hostname or ""
        )
    for role, host in hosts.items():
        probe = resolve(host, timeout_s)
        status = OK if probe.ok else FAIL
        checks.append(
            Check(
                f"dns {role}",
                status,
                probe.detail,
                Advice("", "") if probe.ok else _NETWORK["dns"],
                "network",
            )
        )
    return checks


def _default_route() -> str | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/net/route").read_text(encoding="ascii").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                raw = int(fields[2], 16)
                return ".".join(str((raw >> shift) & 0xFF) for shift in (0, 8, 16, 24))
    return None


def clock_checks(cameras: list[Camera]) -> list[Check]:
    now = time.gmtime()
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", now)
    checks = []
    if now.tm_year < 2024:
        checks.append(
            Check("clock", FAIL, f"the system clock says {stamp}", _CLOCK["wrong"], "time")
        )
    else:
        sync = clock_sync()
        checks.append(
            Check(
                "clock",
                OK if sync.ok else WARN,
                f"{stamp}; {sync.detail}",
                Advice("", "") if sync.ok else _CLOCK["unsynced"],
                "time",
            )
        )
    skews = [(c.id, c.clock_skew_s) for c in cameras if c.clock_skew_s is not None]
    if skews:
        far = [(cid, skew) for cid, skew in skews if abs(skew) > SKEW_WARN_S]
        listed = ", ".join(f"{cid} {skew:+.0f} s" for cid, skew in (far or skews))
        if far:
            checks.append(
                Check(
                    "camera clocks",
                    WARN,
                    f"cameras off the box's clock: {listed}",
                    _CLOCK["camera"],
                    "time",
                )
            )
        else:
            checks.append(
                Check(
                    "camera clocks",
                    OK,
                    f"every camera within {SKEW_WARN_S:g} s: {listed}",
                    group="time",
                )
            )
    return checks


def cpu_check() -> Check:
    load, cores = cpu_load()
    hot = temperature()
    parts = [f"load {load:.2f} per core ({cores} cores)" if load is not None else "load unknown"]
    parts.append(f"{hot:.0f} °C" if hot is not None else "no temperature sensor")
    detail = "; ".join(parts)
    if hot is not None and hot >= 90:
        return Check("cpu", FAIL, detail, _HOT, "box")
    if load is not None and load >= 3:
        return Check("cpu", FAIL, detail, _CPU, "box")
    if hot is not None and hot >= 80:
        return Check("cpu", WARN, detail, _HOT, "box")
    if load is not None and load >= 1.5:
        return Check("cpu", WARN, detail, _CPU, "box")
    return Check("cpu", OK, detail, group="box")


def ingest_check(config: AgentConfig, token: str | None, daemon_running: bool) -> Check:
    """A 3-second test pattern pushed to the platform, measured. The stream is named for a
    camera ``diagnose-test``, so it never collides with a camera's own stream."""
    template = config.streams.ingest_url
    if template is None:
        return Check(
            "ingest",
            FAIL,
            "streams.ingest_url is not set: no video reaches the platform",
            NO_INGEST,
            "ingest",
        )
    if daemon_running and "{camera_id}" not in template:
        return Check(
            "ingest",
            WARN,
            "not pushed: the ingest URL has no {camera_id} and the running agent uses it",
            group="ingest",
        )
    url = ingest_url(config, "diagnose-test", "test", token)
    probe = test_push(
        pattern_argv(config, url, TEST_PUSH_S), TEST_PUSH_S, where(url), TEST_PUSH_S + 15
    )
    if probe.ok:
        return Check("ingest", OK, probe.detail, group="ingest")
    return Check("ingest", FAIL, probe.detail, INGEST_DOWN, "ingest")
