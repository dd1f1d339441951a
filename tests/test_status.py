"""`kitchen-agent status`: the pure picture, the socket it travels on, and the command.

The daemon-level proof (a real `kitchen-agent run` answering with its broker and cameras
down) is in tests/test_daemon.py; here are the parts, each alone.
"""

from __future__ import annotations

import grp
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config.loader import load_text
from agent.errors import AgentNotResponding, AgentNotRunning, StatusNotAllowed
from agent.model import (
    Camera,
    CoverageReason,
    ErrorInfo,
    KcpCoverage,
    QualityIssue,
    QualityStatus,
    RouteName,
    Severity,
    Stage,
    StageStatus,
    StoreCoverage,
    StreamState,
    StreamStatus,
    UplinkState,
    UplinkStatus,
    Verdict,
    WorkerState,
)
from agent.status.build import build_status
from agent.status.channel import StatusServer, ask_status, socket_path
from agent.status.model import StatusReport, render_status_schema
from agent.supervisor import WorkerContext, WorkerInfo, worker_state
from testkit.configs import VALID
from testkit.terminal import Terminal

REPO = Path(__file__).resolve().parents[1]
CONFIG = load_text(
    VALID
    + """\
cameras:
  enrolled:
    - {id: cam-wok, name: 热菜区, kcps: [{kcp: cooking}, {kcp: prep}]}
    - {id: cam-sink, kcps: [{kcp: dishwashing}]}
"""
)
RUNNING = WorkerInfo("mqtt", WorkerState.RUNNING, 0, None, 0.2)


def picture(**overrides: object) -> StatusReport:
    arguments: dict[str, object] = {
        "config": CONFIG,
        "config_path": "/etc/kitchen-agent/agent.yaml",
        "config_hash": "0123456789abcdef",
        "version": "9.9.9",
        "pid": 4242,
        "now": 1_000_100.0,
        "started_at": 1_000_000.0,
        "phase": "running",
        "cameras": {},
        "quality": {},
        "streams": {},
        "coverage": None,
        "uplink": UplinkStatus(),
        "outbox_depth": 0,
        "outbox_dropped": 0,
        "workers": [RUNNING],
    }
    arguments.update(overrides)
    return build_status(**arguments)  # type: ignore[arg-type]


# --- the pure picture ----------------------------------------------------------------------------


def test_a_dark_kitchen_is_described_not_hidden() -> None:
    report = picture()
    assert report.uptime_s == 100.0
    assert report.stage.value == "preparation" and report.stage_reached.value == "preparation"
    assert [c.id for c in report.cameras] == ["cam-wok", "cam-sink"]
    wok = report.cameras[0]
    assert (wok.name, wok.enrolled, wok.kcps, wok.online) == (
        "热菜区",
        True,
        ["cooking", "prep"],
        False,
    )
    assert wok.error is not None and wok.error.code == "not_found"
    assert wok.quality.verdict is Verdict.UNKNOWN and wok.stream.state is StreamState.STOPPED
    # Coverage not judged yet: every declared KCP listed, uncovered, with its assignment.
    assert not report.coverage.evaluated
    assert [(k.kcp, k.covered, k.assigned) for k in report.coverage.kcps] == [
        ("cooking", False, ["cam-wok"]),
        ("prep", False, ["cam-wok"]),
        ("dishwashing", False, ["cam-sink"]),
    ]
    assert report.uplink.state is UplinkState.STOPPED
    assert report.uplink.broker == "mqtts://127.0.0.1:8883"
    assert report.summary == (
        "running; stage preparation; mqtt stopped; cameras 0/2 online; streams 0/2 up; "
        "KCPs 0/3 covered; outbox 0"
    )


def test_a_working_kitchen() -> None:
    wok = Camera(id="cam-wok", address="192.0.2.10", xaddr="http://192.0.2.10/onvif")
    stranger = Camera(
        id="mac-0a", address="192.0.2.99", xaddr="http://192.0.2.99/onvif", online=False
    )
    report = picture(
        cameras={"cam-wok": wok, "mac-0a": stranger},
        quality={
            "cam-wok": QualityStatus(
                verdict=Verdict.WARN,
                issues=(QualityIssue("too_dark", Severity.WARN, 0.1, 0.2),),
                alarms=("too_dark",),
                checked_at=1_000_090.0,
            )
        },
        streams={
            "cam-wok": StreamStatus(
                state=StreamState.UP, route=RouteName.COPY, bitrate_kbps=480.4, cap_kbps=512
            ),
            "cam-sink": StreamStatus(
                state=StreamState.DOWN,
                error=ErrorInfo(code="stalled", message="no progress for 10 s"),
            ),
        },
        coverage=StoreCoverage(
            (
                KcpCoverage("cooking", True, ("cam-wok",), ("cam-wok",), None),
                KcpCoverage("prep", True, ("cam-wok",), ("cam-wok",), None),
                KcpCoverage("dishwashing", False, (), ("cam-sink",), CoverageReason.OFFLINE),
            )
        ),
        uplink=UplinkStatus(
            state=UplinkState.CONNECTED, broker="mqtts://ops:8883", session=12, rtt_ms=33.6
        ),
        outbox_depth=2,
        outbox_dropped=5,
        workers=[RUNNING, WorkerInfo("quality", WorkerState.WEDGED, 1, "OSError: x", 95.0)],
        stage=StageStatus(Stage.VIDEO_CONNECTED, Stage.COMPLETED, 1_000_000.0),
    )
    assert report.stage.value == "video_connected"
    assert report.stage_reached.value == "completed"
    assert [c.id for c in report.cameras] == ["cam-wok", "cam-sink", "mac-0a"]
    wok_view, sink_view, stranger_view = report.cameras
    assert wok_view.online and wok_view.error is None and wok_view.address == "192.0.2.10"
    assert wok_view.quality.alarms == ["too_dark"] and wok_view.quality.issues == ["too_dark"]
    assert (wok_view.stream.state, wok_view.stream.route, wok_view.stream.kbps) == (
        StreamState.UP,
        RouteName.COPY,
        480,
    )
    assert sink_view.stream.error is not None and sink_view.stream.error.code == "stalled"
    assert (stranger_view.enrolled, stranger_view.kcps, stranger_view.name) == (False, [], None)
    assert report.coverage.evaluated and report.coverage.covered == 2
    assert report.coverage.kcps[2].reason is CoverageReason.OFFLINE
    assert (report.outbox.depth, report.outbox.dropped) == (2, 5)
    assert report.summary == (
        "running; stage video_connected; mqtt connected (session 12, 34 ms); "
        "cameras 1/2 online; streams 1/2 up; KCPs 2/3 covered; outbox 2 (5 dropped); "
        "workers: quality wedged"
    )


def test_summary_without_streaming_or_cameras() -> None:
    bare = load_text(
        VALID.replace(
            "  ingest_url: rtmp://127.0.0.1/live/{store_id}-{camera_id}?token={token}\n", ""
        )
    )
    report = picture(config=bare, phase="stopping")
    assert report.summary == (
        "stopping; stage preparation; mqtt stopped; no camera enrolled; KCPs 0/3 covered; outbox 0"
    )


def test_secrets_in_errors_are_scrubbed() -> None:
    report = picture(
        uplink=UplinkStatus(state=UplinkState.OFFLINE, error="refused mqtt://u:hunter22@h:1883"),
        workers=[WorkerInfo("streams", WorkerState.RESTARTING, 2, "rtsp://a:pw99@cam/x", 0.0)],
    )
    text = report.model_dump_json()
    assert "hunter22" not in text and "pw99" not in text


@pytest.mark.parametrize(
    ("alive", "failed", "backoff", "overdue", "expected"),
    [
        (True, False, False, False, WorkerState.RUNNING),
        (True, False, False, True, WorkerState.WEDGED),
        (True, False, True, True, WorkerState.RESTARTING),
        (False, False, False, False, WorkerState.STOPPED),
        (False, True, False, False, WorkerState.FAILED),
        (True, True, False, False, WorkerState.FAILED),
    ],
)
def test_worker_state(
    alive: bool, failed: bool, backoff: bool, overdue: bool, expected: WorkerState
) -> None:
    assert worker_state(alive, failed, backoff, overdue) is expected


def test_a_worker_is_wedged_only_past_its_promise() -> None:
    ctx = WorkerContext("quality", threading.Event(), watchdog_s=2.0)
    now = ctx.last_beat
    assert not ctx.overdue(now + 1.9) and ctx.overdue(now + 2.1)
    with ctx.allow(30):  # a discovery round's listening window, or a long sleep
        assert not ctx.overdue(time.monotonic() + 31) and ctx.overdue(time.monotonic() + 33)
    assert ctx.back_by == 0.0 and not ctx.overdue(time.monotonic())


def test_committed_schema_is_current() -> None:
    committed = REPO / "docs" / "schemas" / "status.schema.json"
    assert committed.read_text(encoding="utf-8") == render_status_schema(), (
        "docs/schemas/status.schema.json is stale: run python -m agent.status docs/schemas"
    )


# --- the socket ---------------------------------------------------------------------------------


class Served:
    """A StatusServer on a thread, answering with a fixed picture."""

    def __init__(self, runtime_dir: Path, group: str | None = None) -> None:
        self.report = picture()
        self.server = StatusServer(runtime_dir, lambda: self.report, group=group)
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self.server.run, args=(WorkerContext("status", self.stopping, 60),)
        )
        self.thread.start()
        deadline = time.monotonic() + 10
        while True:  # until it answers (a stale socket file may be there before it binds)
            try:
                ask_status(self.server.path, timeout_s=1)
                break
            except AgentNotRunning:
                assert time.monotonic() < deadline and self.thread.is_alive()
                time.sleep(0.01)
        self.server.served = 0

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    running = Served(tmp_path / "run")
    yield running
    running.stop()


def test_ask_and_answer(served: Served) -> None:
    report = ask_status(served.server.path, timeout_s=2)
    assert report == served.report
    assert served.server.path.stat().st_mode & 0o777 == 0o660


def test_bounded_and_rude_clients_do_not_stop_it(served: Served) -> None:
    path = str(served.server.path)
    with socket.socket(socket.AF_UNIX) as rude:
        rude.connect(path)
        rude.sendall(b"x" * 5000)  # no newline, far over the request bound
        answer = rude.recv(4096)
    assert json.loads(answer)["error"]["code"] == "usage"
    with socket.socket(socket.AF_UNIX) as quitter:
        quitter.connect(path)  # and hangs up without a word
    assert ask_status(served.server.path, timeout_s=2).pid == 4242


def test_stale_socket_of_a_killed_agent_is_replaced(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(socket_path(runtime)))  # bound, never listening: a killed agent's
    stale.close()
    with pytest.raises(AgentNotRunning):
        ask_status(socket_path(runtime), timeout_s=1)
    running = Served(runtime)
    try:
        assert ask_status(socket_path(runtime), timeout_s=2).pid == 4242
        # A second agent on the same folder refuses to steal the live socket.
        second = StatusServer(runtime, picture)
        with pytest.raises(Exception, match="already answers"):
            second.run(WorkerContext("status", threading.Event(), 60))
        assert ask_status(socket_path(runtime), timeout_s=2).pid == 4242
    finally:
        running.stop()
    assert not socket_path(runtime).exists()


def test_what_the_client_says_when_it_cannot_ask(tmp_path: Path) -> None:
    with pytest.raises(AgentNotRunning, match="nothing answers on"):
        ask_status(tmp_path / "none.sock", timeout_s=1)
    plain = tmp_path / "plain.sock"
    plain.write_text("not a socket")
    with pytest.raises(AgentNotRunning):
        ask_status(plain, timeout_s=1)
    # An agent that accepts and never answers is reported as stuck, in bounded time.
    mute_path = tmp_path / "mute.sock"
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(str(mute_path))
        mute.listen(1)
        started = time.monotonic()
        with pytest.raises(AgentNotResponding, match=r"did not answer within 0\.5 s"):
            ask_status(mute_path, timeout_s=0.5)
        assert time.monotonic() - started < 3


def _connect_as(path: Path, groups: list[int]) -> int:
    """Exit status of a forked child that asks ``path`` as user nobody in ``groups``."""
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, ask, report by exit status
        code = 3
        try:
            os.setgroups(groups)
            os.setgid(65534)
            os.setuid(65534)
            ask_status(path, timeout_s=2)
            code = 0
        except StatusNotAllowed:
            code = 1
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_only_the_technicians_group_may_ask() -> None:
    try:
        group = grp.getgrnam("video")
    except KeyError:
        pytest.skip("no video group to stand in for kitchen-tech")
    # Like /run: a folder everybody may pass through (pytest's own tmp folders are 0700).
    home = Path(tempfile.mkdtemp(prefix="status-"))
    home.chmod(0o755)
    running = Served(home / "run", group="video")
    try:
        assert running.server.path.stat().st_gid == group.gr_gid
        assert _connect_as(running.server.path, []) == 1  # a stranger: refused
        assert _connect_as(running.server.path, [group.gr_gid]) == 0  # a technician
    finally:
        running.stop()
        shutil.rmtree(home)


# --- the command ----------------------------------------------------------------------------------


def test_status_text_for_people(served: Served) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "status", "--socket", str(served.server.path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("kitchen-agent 9.9.9  pid 4242  up 1m40s  running")
    assert "stage preparation 前期准备  reached preparation 前期准备" in lines[1]
    assert any(line.startswith("cam-wok   热菜区  cooking,prep") for line in lines), lines
    assert any(line.startswith("mqtt    running  0") for line in lines), lines


def test_watch_redraws_in_place_on_a_terminal(served: Served) -> None:
    """What a technician sees: the picture drawn again at the top of the screen."""
    clear = b"\x1b[H\x1b[2J"
    terminal = Terminal(
        "status", "--watch", "--interval", "0.3", "--socket", str(served.server.path)
    )
    try:
        terminal.read_until(lambda screen: screen.count(clear) >= 3)
        served.report = picture(phase="stopping")  # the next redraws show the change
        before = terminal.screen.count(clear)
        terminal.read_until(lambda screen: screen.count(clear) >= before + 2)
    finally:
        code = terminal.interrupt()
    frames = terminal.screen.split(clear)
    assert len(frames) >= 5, terminal.screen[-2000:]
    assert "running" in frames[1].decode() and "pid 4242" in frames[1].decode()
    assert "stopping" in frames[-1].decode().splitlines()[1]
    assert code == 130
