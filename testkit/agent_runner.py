"""Run the MQTT reporter the way the daemon does, in this process or as a child process.

As a child (``python -m testkit.agent_runner SPEC.json``) it prints ``ready`` and then
obeys stdin lines, so tests can kill -9 it (power cut) or SIGSTOP it (frozen box):

- ``emit TYPE {json data}`` -> AgentState.emit of that event's typed payload; prints
  ``emitted MSG_ID``
- ``stop`` -> clean stop (supervisor stop), exit 0. SIGTERM does the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.errors import FfmpegExited
from agent.model import (
    Camera,
    KcpCoverage,
    QualityIssue,
    QualityStatus,
    Severity,
    Stage,
    StageStatus,
    StoreCoverage,
    StreamState,
    StreamStatus,
    Verdict,
    payload_from,
)
from agent.state import AgentState
from agent.supervisor import Supervisor, WorkerRestartPolicy
from agent.uplink.mqtt.outbox import FILE_NAME as OUTBOX_FILE
from agent.uplink.mqtt.outbox import EventFeed, Outbox, outbox_bounds
from agent.uplink.mqtt.reporter import Reporter
from agent.uplink.mqtt.session import SessionCounter
from testkit.mosquitto import Mosquitto


def config_dict(
    broker_url: str, state_dir: Path, cameras: int = 2, store_id: str = "store-1", **broker: Any
) -> dict[str, Any]:
    return {
        "store": {
            "id": store_id,
            "name": "老王面馆 徐汇店",
            "licence_number": "JY23101040012345",
            "district": "xuhui",
            "address": "上海市徐汇区漕溪北路 1 号",
            "expected_completion": "2024-09",
            "kcps": ["cooking", "cold_room", "prep"],
        },
        "broker": {
            "url": broker_url,
            "keepalive_s": 5,
            "heartbeat_interval_s": 5,
            "reconnect_min_s": 0.2,
            "reconnect_max_s": 2.0,
            **broker,
        },
        "cameras": {
            "enrolled": [
                {
                    "id": f"cam-{n:02d}",
                    "name": f"摄像头 {n}",
                    "kcps": [{"kcp": ["cooking", "cold_room", "prep"][n % 3]}],
                }
                for n in range(cameras)
            ]
        },
        "paths": {"state_dir": str(state_dir)},
    }


class FakeHooks:
    """Records every action call; snapshot returns a real JPEG of the requested size."""

    def __init__(self, jpeg_size: tuple[int, int] = (640, 360)) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.jpeg_size = jpeg_size
        self.release = threading.Event()
        self.release.set()

    def rescan(self) -> dict[str, Any]:
        self.calls.append(("rescan", None))
        self.release.wait(30)
        return {"found": 2, "url": "rtsp://admin:secret@192.0.2.10/stream"}

    def snapshot(self, camera_id: str) -> bytes:
        import cv2
        import numpy as np

        self.calls.append(("snapshot", camera_id))
        width, height = self.jpeg_size
        rng = np.random.default_rng(1)
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)  # noise: big JPEG
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        return bytes(encoded.tobytes())

    def restart_stream(self, camera_id: str) -> None:
        self.calls.append(("restart_stream", camera_id))
        if camera_id == "broken":
            raise FfmpegExited("ffmpeg exited 1")

    def reload_config(self) -> dict[str, Any]:
        self.calls.append(("reload_config", None))
        return {"applied": True}

    def diagnose(self) -> dict[str, Any]:
        self.calls.append(("diagnose", None))
        raise ZeroDivisionError("bug in an action")


def populate(state: AgentState, cameras: int) -> None:
    """A plausible kitchen: every camera online and streaming, with some quality issues."""
    for n in range(cameras):
        cid = f"cam-{n:02d}"
        address = f"192.0.2.{10 + n}"
        state.set_camera(
            Camera(
                id=cid,
                address=address,
                xaddr=f"http://{address}/onvif/device_service",
                online=True,
                clock_skew_s=0.4,
            )
        )
        state.set_quality(
            cid,
            QualityStatus(
                verdict=Verdict.WARN,
                issues=(QualityIssue("too_dark", Severity.WARN, 0.1, 0.2),),
            ),
        )
        state.set_stream(cid, StreamStatus(state=StreamState.UP, bitrate_kbps=480.3, fps=15.0))
    state.set_coverage(
        StoreCoverage(
            (
                KcpCoverage("cooking", True, ("cam-00",), ("cam-00",), None),
                KcpCoverage("cold_room", True, ("cam-01",), ("cam-01",), None),
                KcpCoverage("prep", False, (), (), None),
            )
        )
    )
    state.set_stage(StageStatus(Stage.EQUIPMENT_INSTALLED, Stage.EQUIPMENT_INSTALLED))


def reporter_for(
    config: AgentConfig, state: AgentState, password: str | None, hooks: Any = None
) -> Reporter:
    """A reporter wired the way the daemon wires it: the event feed and the session
    counter come from the state dir of ``config``."""
    state_dir = config.paths.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    outbox = Outbox(state_dir / OUTBOX_FILE, outbox_bounds(config.broker.outbox))
    return Reporter(
        config,
        state,
        EventFeed.attach(state, outbox),
        SessionCounter(state_dir),
        password,
        hooks=hooks,
    )


class Harness:
    """A reporter run in this process under a real Supervisor."""

    def __init__(
        self,
        broker: Mosquitto,
        state_dir: Path,
        password: str | None = None,
        cameras: int = 3,
        store_id: str = "store-1",
        **broker_opts: Any,
    ) -> None:
        self.config = AgentConfig.model_validate(
            config_dict(broker.url, state_dir, cameras=cameras, store_id=store_id, **broker_opts)
        )
        self.state = AgentState()
        populate(self.state, cameras)
        self.hooks = FakeHooks(jpeg_size=(1920, 1080))
        self.reporter = reporter_for(self.config, self.state, password, self.hooks)
        self.supervisor = Supervisor(WorkerRestartPolicy(backoff_initial_s=0.1), watchdog_s=30)

    def start(self) -> Harness:
        self.supervisor.start(self.reporter)
        return self

    def stop(self) -> None:
        self.supervisor.stop()


class ChildAgent:
    """The reporter in its own process (``python -m testkit.agent_runner``), for kill -9.

    Its stderr (the agent's log) goes to ``log_path`` in ``workdir`` (the test's tmp_path),
    which survives the process; :meth:`log_tail` reads it back for failure messages.
    """

    def __init__(self, workdir: Path, config: dict[str, Any], password: str | None = None) -> None:
        self.spec_path = workdir / f"spec-{time.monotonic_ns()}.json"
        self.spec_path.write_text(json.dumps({"config": config, "password": password}))
        self.log_path = self.spec_path.with_suffix(".log")
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 20) -> ChildAgent:
        with self.log_path.open("ab") as log:
            self.process = self._spawn(log)
        self._expect("ready", timeout_s)
        return self

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def _spawn(self, log: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "testkit.agent_runner", str(self.spec_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )

    def _expect(self, prefix: str, timeout_s: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"agent child did not say {prefix!r}; its log:\n{self.log_tail()}")
        line = self.process.stdout.readline().strip()
        if not line.startswith(prefix):
            raise RuntimeError(
                f"agent child said {line!r}, expected {prefix!r}; its log:\n{self.log_tail()}"
            )
        return line

    def emit(self, event_type: str, **data: Any) -> str:
        """Emit an AgentState event in the child; returns its msg_id."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"emit {event_type} {json.dumps(data)}\n")
        self.process.stdin.flush()
        return self._expect("emitted", 10).split()[1]

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def kill9(self) -> None:
        assert self.process is not None
        self.signal(signal.SIGKILL)
        self.process.wait(10)
        self._close_pipes()

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGCONT)
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.process.stdin is not None
                self.process.stdin.write("stop\n")
                self.process.stdin.flush()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait(5)
        self._close_pipes()

    def _close_pipes(self) -> None:
        assert self.process is not None
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def main(argv: list[str]) -> int:
    import structlog

    # stdout is the control channel: logs go to stderr (the test keeps them in a file).
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    spec = json.loads(Path(argv[0]).read_text())
    config = AgentConfig.model_validate(spec["config"])
    state = AgentState()
    populate(state, len(config.cameras.enrolled))
    reporter = reporter_for(config, state, spec.get("password"), FakeHooks())
    supervisor = Supervisor(WorkerRestartPolicy(backoff_initial_s=0.2), watchdog_s=30)
    supervisor.start(reporter)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def read_stdin() -> None:
        for line in sys.stdin:
            command, _, rest = line.strip().partition(" ")
            if command == "emit":
                event_type, _, data = rest.partition(" ")
                event = state.emit(payload_from(event_type, json.loads(data) if data else {}))
                print(f"emitted {event.msg_id}", flush=True)
            elif command == "stop":
                break
        done.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    print("ready", flush=True)
    done.wait()
    supervisor.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
