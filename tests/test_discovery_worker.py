"""The daemon's discovery worker on a namespaced LAN: rounds, Hello/Bye, events, state."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.capture.discovery_worker import DiscoveryWorker
from agent.capture.rounds import RoundOptions
from agent.config.cameras import CamerasConfig, DiscoveryConfig, EnrolledCamera
from agent.model import Event
from agent.secrets import CameraLogins, CredentialStore
from agent.state import AgentState
from agent.supervisor import WorkerContext
from testkit.fake_onvif import DEFAULT_PASSWORD
from testkit.netns import TestLan

pytestmark = [pytest.mark.netns]


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def camera_spec(host: str, persona: str = "generic") -> str:
    return (
        f"persona={persona},host={host},port=8000,rtsp_main=rtsp://{host}:554/main,"
        f"rtsp_sub=rtsp://{host}:554/sub,mac={mac_of(host)}"
    )


def mac_of(host: str) -> str:
    return f"02:00:00:00:00:{int(host.rsplit('.', 1)[1]):02x}"


def id_of(host: str) -> str:
    return "mac-" + mac_of(host).replace(":", "")


@pytest.mark.slow
def test_worker_rounds_hello_bye_rescan_and_persistence(test_lan: TestLan, tmp_path: Path) -> None:
    credentials_dir = tmp_path / "credentials"
    credentials_dir.mkdir()
    (credentials_dir / "camera-password").write_text(DEFAULT_PASSWORD)
    state_dir = tmp_path / "state"
    hosts = [test_lan.add_camera_address() for _ in range(4)]
    first, _ = test_lan.start_cameras(test_lan.cams_ns, [camera_spec(hosts[0])])
    second, _ = test_lan.start_cameras(
        test_lan.cams_ns, [camera_spec(hosts[1], "dahua"), camera_spec(hosts[3])]
    )

    state = AgentState()
    events: list[Event] = []
    state.subscribe(events.append)
    worker = DiscoveryWorker(
        # The fourth camera is not enrolled: it is announced in the state, without events.
        CamerasConfig(
            discovery=DiscoveryConfig(timeout_s=1.0),
            enrolled=[EnrolledCamera(id=id_of(host)) for host in hosts[:3]],
        ),
        state,
        CameraLogins("admin", CredentialStore(credentials_dir)),
        state_dir,
        options=RoundOptions(timeout_s=3.0, request_timeout_s=1.5),
    )
    stopping = threading.Event()
    ctx = WorkerContext("discovery", stopping, watchdog_s=30.0)
    thread = test_lan.thread_in_namespace(test_lan.agent_ns, lambda: worker.run(ctx))

    def online() -> set[str]:
        return {c.address.split(":")[0] for c in state.cameras().values() if c.online}

    def events_of(kind: str) -> list[str]:
        return [e.payload.to_json()["address"].split(":")[0] for e in events if e.type == kind]

    try:
        wait_for(lambda: worker.rounds >= 1, what="the first round")
        assert online() == {hosts[0], hosts[1], hosts[3]}
        assert sorted(events_of("camera_online")) == sorted(hosts[:2])
        status = next(c for c in state.cameras().values() if c.address.startswith(hosts[1]))
        assert status.manufacturer == "Dahua"
        assert status.profiles[1].rtsp_uri == f"rtsp://{hosts[1]}:554/sub"
        saved = json.loads((state_dir / "inventory.json").read_text())
        assert {c["id"] for c in saved["cameras"]} == set(state.cameras())
        assert oct((state_dir / "inventory.json").stat().st_mode & 0o777) == "0o640"

        # A camera that boots later announces itself with Hello: found without a round.
        late, _ = test_lan.start_cameras(test_lan.cams_ns, [camera_spec(hosts[2], "hikvision")])
        wait_for(lambda: hosts[2] in online(), what="the Hello of a late camera")
        assert worker.rounds == 1

        # It leaves politely (Bye): offline at once, with an event.
        test_lan.stop(late)
        wait_for(lambda: hosts[2] in events_of("camera_offline"), what="the Bye")
        assert hosts[2] not in online()

        # One dies without a word: the next (requested) round finds it gone.
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        worker.request_rescan()
        wait_for(lambda: worker.rounds >= 2, what="the requested round")
        assert hosts[0] in events_of("camera_offline")
        gone = next(c for c in state.cameras().values() if c.address.startswith(hosts[0]))
        assert gone.error is not None and gone.error.code == "unreachable"
        assert gone.manufacturer == "Generic"  # what it told us before is kept
        assert online() == {hosts[1], hosts[3]}
        assert hosts[3] not in events_of("camera_online") + events_of("camera_offline")

        # The fourth is enrolled by a reload that keeps the worker (the daemon hands it the
        # new enrolment): from then on its going is an event too.
        worker.enrol(id_of(host) for host in hosts)
        test_lan.stop(second)
        worker.request_rescan()
        wait_for(lambda: worker.rounds >= 3, what="the round after the enrolment")
        assert hosts[3] in events_of("camera_offline")
        assert hosts[3] not in events_of("camera_online")  # it was online before, unreported
    finally:
        stopping.set()
        thread.join(10)
    assert not thread.is_alive()
    assert DEFAULT_PASSWORD not in (state_dir / "inventory.json").read_text()
