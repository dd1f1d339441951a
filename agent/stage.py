"""Construction stage of a store, as the programme's district reports count it (annex 4).

前期准备 preparation → 设备安装 equipment installed → 视频对接 video connected to the
platform → 完成建设 completed. Derived from what the box sees, never typed in by hand, so
the monthly report cannot claim more than the kitchen shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from agent.model import Camera, Stage, StoreCoverage, StreamState, StreamStatus

if TYPE_CHECKING:
    from agent.config import AgentConfig


def construction_stage(
    declared_kcps: Iterable[str],
    camera_kcps: Mapping[str, Iterable[str]],
    cameras_online: Iterable[str],
    streams_up: Iterable[str],
    covered_kcps: Iterable[str],
    streaming_enabled: bool,
) -> Stage:
    """The stage the store has provably reached right now.

    - equipment installed: at least one enrolled camera is online;
    - video connected: at least one enrolled camera's stream is up at the platform ingest;
    - completed: every declared KCP is covered (a healthy camera has it in view) and, where
      streaming is configured, each declared KCP has a camera whose stream is up.
    """
    declared = set(declared_kcps)
    online = set(cameras_online) & set(camera_kcps)
    up = set(streams_up) & set(camera_kcps)
    if not online:
        return Stage.PREPARATION
    if streaming_enabled and not up:
        return Stage.EQUIPMENT_INSTALLED
    all_covered = bool(declared) and declared <= set(covered_kcps)
    streamed = {kcp for cam in up for kcp in camera_kcps[cam]}
    if all_covered and (not streaming_enabled or declared <= streamed):
        return Stage.COMPLETED
    return Stage.VIDEO_CONNECTED if streaming_enabled else Stage.EQUIPMENT_INSTALLED


def store_stage(
    config: AgentConfig,
    cameras: Mapping[str, Camera],
    streams: Mapping[str, StreamStatus],
    coverage: StoreCoverage | None,
) -> Stage:
    """:func:`construction_stage` of a config and what AgentState holds now."""
    return construction_stage(
        declared_kcps=[k.value for k in config.store.kcps],
        camera_kcps={c.id: [a.kcp.value for a in c.kcps] for c in config.cameras.enrolled},
        cameras_online=[cid for cid, camera in cameras.items() if camera.online],
        streams_up=[cid for cid, status in streams.items() if status.state is StreamState.UP],
        covered_kcps=[item.kcp for item in coverage.kcps if item.covered] if coverage else [],
        streaming_enabled=config.streams.ingest_url is not None,
    )
