"""``kitchen-agent acceptance``: is the store done? The programme's checklist, live.

Each item is checked now, on the real parts: the config; every enrolled camera logged
into and its picture judged against its reference; every declared key control point
covered by an enrolled camera that is online, passes quality and still shows the KCP's
region; each enrolled camera's video at the platform's ingest (the running agent's word,
or, when none runs, a short test push of its own); the broker reached with the store's
credentials and a QoS 1 publish acknowledged. The stage follows from the same facts by the
same rules as the daemon's (:func:`agent.stage.construction_stage`): 完成建设 only when
everything passed, never without video on the platform.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.config import AgentConfig
from agent.model import STAGE_NAMES_ZH, Stage
from agent.secrets import (
    MQTT_PASSWORD,
    STREAM_TOKEN,
    CameraLogins,
    CredentialStore,
    credentials_dir,
)
from agent.site.checks import WARN, Check, Checklist
from agent.site.kitchen_checks import (
    broker_check,
    camera_check,
    config_check,
    enrolled_rois,
    kcp_checks,
    no_ingest_check,
    stream_check,
)
from agent.site.probes import TEST_PUSH_S, Probe, broker_probe
from agent.stage import construction_stage

ANNEX4_KEYS = ("单位名称", "地址", "许可证号", "建设进度")


@dataclass
class Acceptance:
    stage: Stage
    checks: list[Check]
    annex4: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage.value,
            "stage_zh": STAGE_NAMES_ZH[self.stage],
            "checks": [check.to_json() for check in self.checks],
            "annex4": self.annex4,
        }


def annex4_row(config: AgentConfig | None, stage: Stage) -> dict[str, str | None]:
    store = config.store if config is not None else None
    values = (
        store.name if store else None,
        store.address if store else None,
        store.licence_number if store else None,
        STAGE_NAMES_ZH[stage],
    )
    return dict(zip(ANNEX4_KEYS, values, strict=True))


def run_acceptance(path: Path, show: Callable[[str], None], timeout_s: float = 5.0) -> Acceptance:
    from agent.site.cameras import CameraDirectory, search_cameras, search_for
    from agent.site.daemon_link import daemon_view
    from agent.site.look import look_at_all

    checklist = Checklist()
    first, config = config_check(path)
    checklist.add(first)
    if config is None:
        return Acceptance(Stage.PREPARATION, checklist.checks, annex4_row(None, Stage.PREPARATION))
    store = CredentialStore(credentials_dir(config.paths.credentials_dir))
    store.register_all()
    logins = CameraLogins.from_config(config.cameras, store)
    daemon = daemon_view(config, path)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker") as pool:
        broker = pool.submit(broker_probe, config, store.get(MQTT_PASSWORD), timeout_s)
        found = search_cameras(search_for(config), logins, show)
        directory = CameraDirectory(found, [c.id for c in config.cameras.enrolled])
        cameras = {c.id: camera for c in config.cameras.enrolled if (camera := directory.get(c.id))}
        show(f"looking at {len(cameras)} enrolled camera(s) ...")
        looks = look_at_all(
            list(cameras.values()),
            logins,
            config.quality,
            reference_dir=config.paths.state_dir,
            rois=enrolled_rois(config),
            accept_view=frozenset(c.id for c in config.cameras.enrolled if c.accept_view),
        )
        for enrolled in config.cameras.enrolled:
            checklist.add(camera_check(enrolled, cameras.get(enrolled.id), looks.get(enrolled.id)))
        kcps, covered = kcp_checks(config, cameras, looks)
        checklist.extend(kcps)
        on_platform = _streams(
            config, cameras, logins, store.get(STREAM_TOKEN), daemon, checklist, show
        )
        checklist.add(broker_check(broker.result()))
    online = [camera_id for camera_id, camera in cameras.items() if camera.online]
    stage = construction_stage(
        [str(k) for k in config.store.kcps],
        {c.id: [str(a.kcp) for a in c.kcps] for c in config.cameras.enrolled},
        online,
        on_platform,
        covered,
        config.streams.ingest_url is not None,
        checks_pass=not checklist.failed(),
    )
    return Acceptance(stage, checklist.checks, annex4_row(config, stage))


def _streams(
    config: AgentConfig,
    cameras: dict[str, Any],
    logins: CameraLogins,
    token: str | None,
    daemon: Any,
    checklist: Checklist,
    show: Callable[[str], None],
) -> set[str]:
    """Each enrolled camera's stream at the ingest; the cameras whose video got there."""
    from agent.site.probes import camera_argv, ingest_url, stream_kcp, test_push, where

    if config.streams.ingest_url is None:
        checklist.add(no_ingest_check())
        return set()
    on_platform: set[str] = set()
    pushes: dict[str, Any] = {}
    streams = config.streams
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="push") as pool:
        for enrolled in config.cameras.enrolled:
            own = streams.cameras.get(enrolled.id)
            name = f"stream {enrolled.id}"
            if own is not None and not own.enabled:
                checklist.add(
                    Check(
                        name,
                        WARN,
                        "streaming is off for this camera (streams.cameras)",
                        group="streams",
                        camera=enrolled.id,
                    )
                )
                continue
            said = (daemon.streams or {}).get(enrolled.id)
            if said is not None and said[0] == "up":
                checklist.add(stream_check(enrolled.id, None, said[1]))
                on_platform.add(enrolled.id)
                continue
            if daemon.running and daemon.streams is None:
                checklist.add(
                    Check(
                        name,
                        WARN,
                        f"the running agent (pid {', '.join(map(str, daemon.pids))}) pushes the "
                        "streams; this check cannot ask it: see kitchen-agent status",
                        group="streams",
                        camera=enrolled.id,
                    )
                )
                continue
            camera = cameras.get(enrolled.id)
            if camera is None or not camera.profiles:
                checklist.add(stream_check(enrolled.id, None, None))
                continue
            kcp = stream_kcp([str(a.kcp) for a in enrolled.kcps])
            url = ingest_url(config, enrolled.id, kcp, token)
            try:
                argv = camera_argv(config, camera, logins(enrolled.id), url, TEST_PUSH_S)
            except ValueError as error:
                checklist.add(stream_check(enrolled.id, Probe(False, "push", str(error)), None))
                continue
            show(f"test push of {enrolled.id} to {where(url)} ({TEST_PUSH_S:g} s) ...")
            pushes[enrolled.id] = pool.submit(
                test_push, argv, TEST_PUSH_S, where(url), TEST_PUSH_S + 20
            )
        for camera_id, future in pushes.items():
            probe = future.result()
            checklist.add(stream_check(camera_id, probe, None))
            if probe.ok:
                on_platform.add(camera_id)
    return on_platform
