"""Run the MQTT reporter the way the daemon does, in this process or as a child process.

As a child (``python -m tests.kit.agent_runner SPEC.json``) it prints ``ready`` and then
obeys stdin lines, so tests can kill -9 it (power cut) or SIGSTOP it (frozen box):

- ``emit TYPE {json data}`` -> AgentState.emit; prints ``emitted MSG_ID``
- ``stop`` -> clean stop (supervisor stop), exit 0. SIGTERM does the same.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.errors import StreamError
from agent.state import AgentState, CameraStatus, QualityStatus, StreamStatus
from agent.supervisor import RestartPolicy, Supervisor
from agent.uplink.reporter import Reporter


def config_dict(
    broker_url: str, state_dir: Path, cameras: int = 2, **broker: Any
) -> dict[str, Any]:
    return {
        "store": {
            "id": "store-1",
            "name": "老王面馆 徐汇店",
            "licence_number": "JY23101040012345",
            "district": "xuhui",
            "address": "上海市徐汇区漕溪北路 1 号",
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
            raise StreamError("ffmpeg exited 1")

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
        state.set_camera(
            CameraStatus(id=cid, address=f"192.0.2.{10 + n}", online=True, clock_skew_s=0.4)
        )
        state.set_quality(
            cid,
            QualityStatus(
                verdict="warn",
                issues=({"code": "too_dark", "severity": "warn", "value": 0.1, "threshold": 0.2},),
            ),
        )
        state.set_stream(cid, StreamStatus(state="up", bitrate_kbps=480.3, fps=15.0))
    state.set_coverage({"cooking": True, "cold_room": True, "prep": False})


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    config = AgentConfig.model_validate(spec["config"])
    state = AgentState()
    populate(state, len(config.cameras.enrolled))
    reporter = Reporter(
        config, state, config.paths.state_dir, password=spec.get("password"), hooks=FakeHooks()
    )
    supervisor = Supervisor(RestartPolicy(backoff_initial_s=0.2), watchdog_s=30)
    supervisor.start(reporter)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def read_stdin() -> None:
        for line in sys.stdin:
            command, _, rest = line.strip().partition(" ")
            if command == "emit":
                event_type, _, data = rest.partition(" ")
                event = state.emit(event_type, **(json.loads(data) if data else {}))
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
