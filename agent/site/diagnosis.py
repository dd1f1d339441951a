"""``kitchen-agent diagnose``: what is wrong here, with pictures, in one command.

Deep (the CLI): the box, network and DNS, time, the broker with the store's login, the
ingest by a 3-second test push, and every enrolled and discovered camera live (reachable,
ONVIF login, profiles, its RTSP stream decoded, its picture judged, each KCP region
against its reference), the KCPs' coverage, disk, CPU load and temperature, ffmpeg.
The slow parts run side by side, each under its own timeout: eight cameras take well
under 30 s. Shallow (the MQTT ``diagnose`` command, run inside the daemon, which knows its
cameras and streams itself): no camera looks and no test push.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.config.cameras import EnrolledCamera
from agent.model import Camera
from agent.site.advice import Advice, for_camera_error, for_quality
from agent.site.box_checks import (
    basic,
    clock_checks,
    cpu_check,
    ingest_check,
    network_checks,
)
from agent.site.checks import FAIL, OK, WARN, Check, Checklist
from agent.site.kitchen_checks import (
    NO_REFERENCE,
    ROI_GONE,
    broker_check,
    config_check,
    enrolled_rois,
    kcp_checks,
)
from agent.site.look import Look

Progress = Callable[[str], None]


@dataclass
class Diagnosis:
    checks: list[Check]
    config: AgentConfig | None = None
    cameras: list[Camera] = field(default_factory=list)  # every camera found, address order
    looks: dict[str, Look] = field(default_factory=dict)
    took_s: float = 0.0

    @property
    def verdict(self) -> str:
        return Checklist(self.checks).verdict

    def enrolled(self, camera_id: str) -> EnrolledCamera | None:
        if self.config is None:
            return None
        return next((c for c in self.config.cameras.enrolled if c.id == camera_id), None)

    def to_json(self) -> dict[str, Any]:
        checks = []
        for check in self.checks:
            item = check.to_json()
            item["hint"] = item["advice_en"]  # what `diagnose --json` called it before
            checks.append(item)
        return {"verdict": self.verdict, "took_s": round(self.took_s, 1), "checks": checks}


def _step_failure(camera: Camera, look: Look | None) -> tuple[str, Advice] | None:
    if camera.error is not None and (look is None or look.image is None):
        return f"{camera.error.code}: {camera.error.message}", for_camera_error(camera.error.code)
    if look is None:
        return None
    if look.image is None and look.error is not None:
        return f"no picture: {look.error.code}: {look.error.message}", for_camera_error(
            look.error.code
        )
    return None


def camera_live_check(
    camera: Camera, enrolled: EnrolledCamera | None, look: Look | None, min_visible: float
) -> Check:
    """One camera, step by step as a technician would go: reachable, ONVIF login and
    profiles, RTSP opened and decoded, its picture judged, its KCP regions in view."""
    name = f"camera {camera.id}"
    label = f"{enrolled.name} " if enrolled is not None and enrolled.name else ""
    steps = [f"{label}at {camera.address}".strip()]
    if not enrolled:
        steps.append("found, not enrolled")
    failure = _step_failure(camera, look)
    if failure is not None:
        return Check(name, FAIL, "; ".join([*steps, failure[0]]), failure[1], "cameras", camera.id)
    maker = " ".join(x for x in (camera.manufacturer, camera.model) if x) or "camera"
    steps.append(f"ONVIF login ok ({maker}, {len(camera.profiles)} profile(s))")
    status, advice = OK, Advice("", "")
    if look is not None and look.stream is not None:
        ok, what = look.stream
        steps.append(what if ok else f"RTSP: {what}")
        if not ok:
            status, advice = FAIL, for_camera_error("no_frame")
    if look is not None and look.image is not None:
        failing = look.failing()
        warning = [i.code for i in look.issues if i.code not in failing]
        steps.append("picture " + (f"fails: {', '.join(failing)}" if failing else "ok"))
        if warning:
            steps[-1] += f" (warns: {', '.join(warning)})"
        if failing and status != FAIL:
            status, advice = FAIL, for_quality(failing)
        elif warning and status == OK:
            status, advice = WARN, for_quality(warning)
        for kcp, share in look.roi_visible.items():
            if share is None:
                continue
            steps.append(f"{kcp} region {share:.0%} in view")
            if share < min_visible and status != FAIL:
                status, advice = FAIL, ROI_GONE
        if enrolled is not None and look.reference is None and status == OK:
            status, advice = WARN, NO_REFERENCE
            steps.append("no reference view yet")
    return Check(name, status, "; ".join(steps), advice, "cameras", camera.id)


def diagnose(
    path: Path, timeout_s: float = 3.0, *, deep: bool = True, show: Progress = lambda _: None
) -> Diagnosis:
    """Every check, in the order a technician goes through them."""
    from agent.diagnose import check_credentials, check_daemon, check_state_dir, check_tools
    from agent.secrets import (
        MQTT_PASSWORD,
        STREAM_TOKEN,
        CameraLogins,
        CredentialStore,
        credentials_dir,
    )
    from agent.site.daemon_link import daemon_view
    from agent.site.probes import broker_probe

    started = time.monotonic()
    first, config = config_check(path)
    result = Diagnosis([first], config)
    result.checks.append(basic(check_daemon(config, timeout_s)))
    if config is None:
        result.checks += network_checks(None, timeout_s) + clock_checks([]) + [cpu_check()]
        result.checks.append(basic(check_tools()))
        result.took_s = time.monotonic() - started
        return result
    store = CredentialStore(credentials_dir(config.paths.credentials_dir))
    store.register_all()
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="diagnose") as pool:
        show("checking the network, the broker and the ingest ...")
        network = pool.submit(network_checks, config, timeout_s)
        broker = pool.submit(broker_probe, config, store.get(MQTT_PASSWORD), timeout_s, "diagnose")
        ingest: Future[Check] | None = None
        if deep:
            running = daemon_view(config, path, timeout_s).running
            ingest = pool.submit(ingest_check, config, store.get(STREAM_TOKEN), running)
            logins = CameraLogins.from_config(config.cameras, store)
            _look_at_cameras(result, config, logins, timeout_s, show)
        result.checks += network.result()
        result.checks += clock_checks(result.cameras)
        result.checks.append(broker_check(broker.result()))
        if ingest is not None:
            show("waiting for the test push to the ingest ...")
            result.checks.append(ingest.result())
    if deep:
        result.checks += _camera_checks(result, config)
    result.checks += [
        basic(check_credentials(config)),
        basic(check_state_dir(config)),
        cpu_check(),
        basic(check_tools()),
    ]
    result.took_s = time.monotonic() - started
    return result


def _look_at_cameras(
    result: Diagnosis, config: AgentConfig, logins: Any, timeout_s: float, show: Progress
) -> None:
    from agent.site.cameras import search_cameras, search_for
    from agent.site.look import look_at_all

    search = search_for(config, min(timeout_s, config.cameras.discovery.timeout_s))
    result.cameras = search_cameras(search, logins, show)
    enrolled = {c.id for c in config.cameras.enrolled}
    total = len(result.cameras)
    done = 0

    def progress(look: Look) -> None:
        nonlocal done
        done += 1
        show(f"looked at {done}/{total} camera(s): {look.camera_id} ({look.took_s:.1f} s)")

    show(f"looking at {total} camera(s): picture, stream, regions ...")
    accepted = frozenset(c.id for c in config.cameras.enrolled if c.accept_view)
    result.looks = look_at_all(
        [c for c in result.cameras if c.id in enrolled],
        logins,
        config.quality,
        reference_dir=config.paths.state_dir,
        rois=enrolled_rois(config),
        stream=True,
        on_done=progress,
        accept_view=accepted,
    )
    others = [c for c in result.cameras if c.id not in enrolled]
    result.looks.update(look_at_all(others, logins, config.quality, stream=True, on_done=progress))


def _camera_checks(result: Diagnosis, config: AgentConfig) -> list[Check]:
    from agent.site.kitchen_checks import camera_check

    checks = []
    found = {camera.id: camera for camera in result.cameras}
    min_visible = config.quality.roi_min_visible
    for enrolled in config.cameras.enrolled:
        camera = found.get(enrolled.id)
        if camera is None:
            checks.append(camera_check(enrolled, None, None))
        else:
            checks.append(
                camera_live_check(camera, enrolled, result.looks.get(camera.id), min_visible)
            )
    for camera in result.cameras:
        if result.enrolled(camera.id) is None:
            checks.append(camera_live_check(camera, None, result.looks.get(camera.id), min_visible))
    kcps, _covered = kcp_checks(config, found, result.looks)
    return checks + kcps
