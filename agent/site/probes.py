"""Probes of what the kitchen depends on beyond the cameras, each bounded in time.

- the broker, step by step: DNS, TCP, TLS, MQTT login with the store's credentials, and a
  QoS 1 publish acknowledged (its round trip) on the store's own ``probe`` topic, under a
  client id of its own so the running agent's session is never taken over;
- the ingest: a short test push with ffmpeg (a test pattern, or a camera's stream by the
  route the relay would take), measured;
- DNS, clock synchronisation (the kernel's NTP state), CPU load and temperature.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent.scrub import scrub

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.model import Camera, CameraLogin

PROBE_TOPIC = "probe"
TEST_PUSH_S = 3.0


@dataclass(frozen=True)
class Probe:
    ok: bool
    step: str  # how far it got (dns, tcp, tls, auth, publish, push ...)
    detail: str
    ms: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def resolve(host: str, timeout_s: float) -> Probe:
    """DNS for ``host`` within ``timeout_s`` (getaddrinfo has no timeout of its own)."""
    if not host:
        return Probe(False, "dns", "no host name")
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        pass
    else:
        return Probe(True, "dns", f"{host} is an address (no DNS needed)", 0.0)
    started = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dns")
    future = pool.submit(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    try:
        answers = future.result(timeout=timeout_s)
    except FutureTimeout:
        return Probe(False, "dns", f"{host}: no DNS answer within {timeout_s:g} s")
    except OSError as error:
        return Probe(False, "dns", f"{host} cannot be resolved: {error.strerror or error}")
    finally:
        pool.shutdown(wait=False)
    addresses = sorted({str(info[4][0]) for info in answers})
    return Probe(True, "dns", f"{host} → {', '.join(addresses[:3])}", _elapsed_ms(started))


def tcp_connect(host: str, port: int, timeout_s: float) -> Probe:
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except TimeoutError:
        return Probe(False, "tcp", f"{host}:{port} did not answer within {timeout_s:g} s")
    except OSError as error:
        return Probe(False, "tcp", f"{host}:{port}: {error.strerror or error}")
    ms = _elapsed_ms(started)
    return Probe(True, "tcp", f"{host}:{port} answers ({ms:.0f} ms)", ms)


# --- the broker ----------------------------------------------------------------------------


def _mqtt_try(
    config: AgentConfig, password: str | None, protocol: str, timeout_s: float, purpose: str
) -> Probe:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from agent.uplink.messages import ProbeMessage, utc_now
    from agent.uplink.mqtt.settings import LinkSettings, make_tls_context

    broker = config.broker
    store = config.store
    settings = LinkSettings.from_config(broker, client_id="", password=password)
    client_id = f"kitchen-agent-{store.id}-probe-{os.getpid()}"
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if protocol == "5" else mqtt.MQTTv311,
    )
    client.connect_timeout = timeout_s
    if broker.username:
        client.username_pw_set(broker.username, password)
    if settings.use_tls:
        try:
            client.tls_set_context(make_tls_context(settings))
        except (OSError, ValueError) as error:
            return Probe(False, "tls", f"TLS settings unusable: {error}")
    answered = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        outcome["reason"] = reason
        answered.set()

    client.on_connect = on_connect
    started = time.monotonic()
    try:
        client.connect(settings.host, settings.port, keepalive=max(10, int(timeout_s) * 2))
    except OSError as error:  # ssl.SSLError is an OSError
        step = "tls" if settings.use_tls and "SSL" in type(error).__name__ else "tcp"
        return Probe(False, step, f"{settings.host}:{settings.port}: {scrub(str(error))}")
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return Probe(False, "auth", f"no CONNACK from {settings.host} within {timeout_s:g} s")
        reason = outcome["reason"]
        if reason.is_failure:
            return Probe(False, "auth", f"the broker refused the login: {reason}")
        topic = f"{broker.topic_root}/{store.district}/{store.id}/{PROBE_TOPIC}"
        body = (
            ProbeMessage(
                purpose="diagnose" if purpose == "diagnose" else "acceptance",
                client_id=client_id,
                ts=utc_now(),
            )
            .model_dump_json()
            .encode()
        )
        sent = time.monotonic()
        info = client.publish(topic, body, qos=1)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            return Probe(False, "publish", f"no PUBACK for a QoS 1 publish to {topic}")
        rtt = _elapsed_ms(sent)
        ack = getattr(info, "reason_code", None)
        if ack is not None and getattr(ack, "is_failure", False):
            return Probe(False, "publish", f"the broker refused a publish to {topic}: {ack}")
        secure = ", TLS verified" if settings.use_tls else ""
        return Probe(
            True,
            "publish",
            f"logged in as {broker.username or '(anonymous)'} at {settings.host}:"
            f"{settings.port}{secure}, MQTT {protocol}; QoS 1 publish acknowledged in "
            f"{rtt:.0f} ms",
            rtt,
            {"connect_ms": round((sent - started) * 1000, 1), "protocol": protocol},
        )
    finally:
        client.disconnect()
        client.loop_stop()


def broker_probe(
    config: AgentConfig, password: str | None, timeout_s: float, purpose: str = "acceptance"
) -> Probe:
    """Reach the broker as the store does, as far as it goes."""
    parts = urlsplit(config.broker.url)
    host = parts.hostname or ""
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    dns = resolve(host, timeout_s)
    if not dns.ok:
        return dns
    tcp = tcp_connect(host, port, timeout_s)
    if not tcp.ok:
        return tcp
    wanted = config.broker.protocol
    first = "3.1.1" if wanted == "3.1.1" else "5"
    probe = _mqtt_try(config, password, first, timeout_s, purpose)
    if not probe.ok and wanted == "auto" and "protocol" in probe.detail.lower():
        probe = _mqtt_try(config, password, "3.1.1", timeout_s, purpose)
    return probe


# --- the ingest ----------------------------------------------------------------------------


def ingest_url(config: AgentConfig, camera_id: str, kcp: str | None, token: str | None) -> str:
    from agent.uplink.video.feeds import render_ingest_url

    assert config.streams.ingest_url is not None
    return render_ingest_url(config.streams.ingest_url, config.store.id, camera_id, kcp, token)


def pattern_argv(config: AgentConfig, url: str, seconds: float) -> list[str]:
    """A live test pattern at the stream settings, pushed for ``seconds``."""
    from agent.uplink.video.ffmpeg_args import (
        TranscodeSettings,
        global_args,
        output_args,
        transcode_args,
    )

    streams = config.streams
    source = f"testsrc2=size=640x360:rate={streams.transcode_fps}"
    settings = TranscodeSettings(
        cap_kbps=min(400, streams.max_kbps), fps=streams.transcode_fps, preset="ultrafast"
    )
    middle = transcode_args(settings)
    return [
        *global_args(streams.ffmpeg),
        "-re",
        "-f",
        "lavfi",
        "-i",
        source,
        *middle,
        "-t",
        f"{seconds:g}",
        *output_args(url, streams.output_timeout_s),
    ]


def camera_argv(
    config: AgentConfig, camera: Camera, login: CameraLogin | None, url: str, seconds: float
) -> list[str]:
    """The relay's own command line for ``camera`` (its cheapest route), for ``seconds``."""
    from agent.uplink.video.ffmpeg_args import ingest_scheme, relay_argv
    from agent.uplink.video.routes import choose_route, relay_plan

    streams = config.streams
    own = streams.cameras.get(camera.id)
    cap = (own.max_kbps if own is not None else None) or streams.max_kbps
    route = choose_route(
        camera.profiles,
        cap,
        ingest_scheme(url),
        transcode_height=streams.transcode_height,
        transcode_fps=streams.transcode_fps,
    )
    return relay_argv(relay_plan(route, streams, login, url, duration_s=seconds))


def stream_kcp(kcps: list[str]) -> str | None:
    """The ``{kcp}`` of a camera's ingest URL, as the relay fills it in."""
    from agent.uplink.video.bandwidth import primary_kcp

    kcp = primary_kcp(kcps)
    return kcp.value if kcp is not None else None


def test_push(argv: list[str], seconds: float, where: str, timeout_s: float) -> Probe:
    """Run a push of ``seconds``; ok when ffmpeg wrote that much and ended cleanly."""
    from agent.errors import ProcessTimeout
    from agent.subproc import run_bounded
    from agent.uplink.video.progress import ProgressParser

    started = time.monotonic()
    try:
        code, stdout, stderr = run_bounded(argv, timeout_s, max_stdout_bytes=256 * 1024)
    except ProcessTimeout:
        return Probe(False, "push", f"the push to {where} did not finish within {timeout_s:g} s")
    except FileNotFoundError:
        return Probe(False, "push", f"{argv[0]} is not installed")
    took = time.monotonic() - started
    parser, last = ProgressParser(), None
    for line in stdout.decode("utf-8", "replace").splitlines():
        block = parser.feed(line)
        if block is not None:
            last = block
    sent = last.out_time_s if last is not None and last.out_time_s else 0.0
    size = last.total_size if last is not None and last.total_size else 0
    kbps = round(size * 8 / 1000 / sent, 0) if sent > 0 else None
    data = {"seconds": round(sent, 1), "kbps": kbps, "wall_s": round(took, 1)}
    if code != 0 or sent < seconds * 0.8:
        why = stderr.strip().splitlines()[-1] if stderr.strip() else f"ffmpeg exit {code}"
        return Probe(False, "push", f"the push to {where} failed: {scrub(why)}", None, data)
    return Probe(
        True,
        "push",
        f"pushed {sent:.1f} s of video to {where} at {kbps or 0:.0f} kbit/s in {took:.1f} s",
        round(took * 1000, 1),
        data,
    )


def where(url: str) -> str:
    """An ingest URL for people: scheme, host and path, no token, no credentials."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


# --- the box itself -------------------------------------------------------------------------


class _Timex(ctypes.Structure):
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("reserved", ctypes.c_int * 11),
    ]


_TIME_ERROR = 5  # the kernel's clock state when no time service keeps it synchronised


def clock_sync(adjtimex: Callable[[Any], int] | None = None) -> Probe:
    """Whether a time service (NTP) keeps the kernel clock synchronised: read-only
    ``adjtimex`` (what ``timedatectl``'s "System clock synchronized" reports)."""
    if adjtimex is None:
        name = ctypes.util.find_library("c")
        if name is None:
            return Probe(False, "ntp", "cannot read the clock's state (no libc)")
        adjtimex = ctypes.CDLL(name, use_errno=True).adjtimex
    timex = _Timex()
    state = adjtimex(ctypes.byref(timex))
    if state < 0:
        return Probe(False, "ntp", "cannot read the clock's state")
    if state == _TIME_ERROR:
        return Probe(False, "ntp", "the system clock is not synchronised by NTP")
    error_ms = timex.esterror / 1000
    return Probe(True, "ntp", f"synchronised by NTP (estimated error {error_ms:.0f} ms)", error_ms)


def cpu_load(proc: Path = Path("/proc")) -> tuple[float | None, int]:
    """The 1-minute load average per core, and the number of cores."""
    from agent.uplink.mqtt.sysinfo import load_average

    cores = os.cpu_count() or 1
    load = load_average(proc)
    return (round(load[0] / cores, 2) if load else None), cores


def temperature(sys_root: Path = Path("/sys")) -> float | None:
    from agent.uplink.mqtt.sysinfo import temperature_c

    return temperature_c(sys_root)
