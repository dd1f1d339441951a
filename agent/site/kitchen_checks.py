"""The checks ``acceptance`` and ``diagnose`` share: the config, each camera, each key
control point, each camera's stream at the platform, and the broker. Pure: each takes
what was seen (a :class:`~agent.site.look.Look`, a :class:`~agent.site.probes.Probe`) and
says ok, warn or fail with what to do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.config import AgentConfig, load_config
from agent.config.cameras import EnrolledCamera
from agent.errors import ConfigError
from agent.kcp import CATALOGUE, Kcp
from agent.model import Camera, Severity
from agent.site.advice import Advice, for_camera_error, for_quality
from agent.site.checks import FAIL, OK, WARN, Check
from agent.site.look import Look
from agent.site.probes import Probe

FIX_CONFIG = Advice(
    "Fix the file (each problem names its line), then run `kitchen-agent config check`.",
    "按提示的行号改正配置文件，然后运行 kitchen-agent config check。",
)
ENROLL_KCP = Advice(
    "Enrol a camera that shows it: kitchen-agent enroll --assign CAMERA={kcp}.",
    "登记一台拍到该区域的摄像头：kitchen-agent enroll --assign 摄像头={kcp}。",
)
ROI_GONE = Advice(
    "The camera no longer shows this key control point's region: aim it back, or enrol "
    "the new view with kitchen-agent enroll (and redraw the region with --roi).",
    "摄像头已拍不到该关键控制点的区域：调回原位，或用 kitchen-agent enroll 重新登记"
    "（并用 --roi 重画区域）。",
)
REENROL = Advice(
    "Then enrol it again with kitchen-agent enroll, so that its reference is a good view.",
    "然后用 kitchen-agent enroll 重新登记，让参考画面是清晰的画面。",
)
NO_REFERENCE = Advice(
    "The camera has no reference view yet: enrol it again with kitchen-agent enroll so "
    "that its picture is judged against what it should show.",
    "摄像头还没有参考画面：用 kitchen-agent enroll 重新登记，之后才能判断画面是否偏移。",
)
NO_INGEST = Advice(
    "Set the platform's ingest address: kitchen-agent config init ... --set "
    "streams.ingest_url=rtmp://…/{store_id}-{camera_id}?token={token}, and the token in "
    "the credential file stream-token.",
    "设置平台推流地址 streams.ingest_url（kitchen-agent config init ... --set），"
    "并把推流令牌写入凭据文件 stream-token。",
)
INGEST_DOWN = Advice(
    "The platform's ingest did not take the video: check streams.ingest_url, the token "
    "in stream-token, and that the shop's uplink reaches the platform.",
    "平台没有收到视频：检查 streams.ingest_url、凭据文件 stream-token 里的令牌，"
    "以及门店网络能否连到平台。",
)
BROKER_ADVICE = {
    "dns": Advice(
        "The broker's name does not resolve: check the box's DNS (the shop router) and broker.url.",
        "无法解析服务器域名：检查盒子的 DNS（门店路由器）和 broker.url。",
    ),
    "tcp": Advice(
        "The box cannot reach central operations: check the shop's internet uplink and "
        "broker.url (host and port).",
        "盒子连不上中心平台：检查门店网络和 broker.url（地址与端口）。",
    ),
    "tls": Advice(
        "TLS to the broker failed: check broker.tls.ca_file and the box's clock.",
        "与服务器的 TLS 连接失败：检查 broker.tls.ca_file 和盒子的时间。",
    ),
    "auth": Advice(
        "The broker refused the store's login: check broker.username and the password in "
        "the credential file mqtt-password.",
        "服务器拒绝了门店账号：检查 broker.username 和凭据文件 mqtt-password 里的密码。",
    ),
    "publish": Advice(
        "The broker does not let this store publish: ask central operations to check the "
        "store's ACL.",
        "服务器不允许本店发布消息：请中心平台检查本店的访问权限（ACL）。",
    ),
}


def config_check(path: Path) -> tuple[Check, AgentConfig | None]:
    try:
        config = load_config(path)
    except ConfigError as error:
        detail = "; ".join(error.problems[:5])
        return Check(
            "config", FAIL, detail, FIX_CONFIG, "box", detail_zh=f"配置有误：{detail}"
        ), None
    store = config.store
    return (
        Check(
            "config",
            OK,
            f"{path} valid (store {store.id}, district {store.district})",
            group="box",
            detail_zh=f"{path} 有效（门店 {store.id}，{store.district}）",
        ),
        config,
    )


def _label(kcp: str) -> str:
    info = CATALOGUE.get(Kcp(kcp))
    return f"{kcp} {info.name_zh}" if info else kcp


def camera_check(enrolled: EnrolledCamera, camera: Camera | None, look: Look | None) -> Check:
    """One enrolled camera now: found, logged into, picture judged against its reference."""
    name = f"camera {enrolled.id}"
    title = f"{enrolled.name} " if enrolled.name else ""
    if camera is None:
        return Check(
            name,
            FAIL,
            f"{title}not found on the network",
            for_camera_error("not_found"),
            "cameras",
            enrolled.id,
        )
    where = f"{title}at {camera.address}"
    if look is None or look.image is None:
        error = (look.error if look is not None else None) or camera.error
        code = error.code if error else "no_frame"
        message = error.message if error else "no picture"
        return Check(
            name,
            FAIL,
            f"{where}: {code}: {message}",
            for_camera_error(code),
            "cameras",
            enrolled.id,
        )
    failing = look.failing()
    warning = [i.code for i in look.issues if i.severity is Severity.WARN and i.code not in failing]
    if failing:
        return Check(
            name,
            FAIL,
            f"{where}: picture fails: {', '.join(failing)}",
            for_quality(failing),
            "cameras",
            enrolled.id,
        )
    if look.reference_vetoed:
        return Check(
            name,
            FAIL,
            f"{where}: its reference view itself reads {', '.join(look.reference_vetoed)} "
            "(enrolled with --force?)",
            for_quality(look.reference_vetoed) + REENROL,
            "cameras",
            enrolled.id,
        )
    maker = camera.model or "camera"
    detail = f"{where} ({maker}): picture " + (f"warns: {', '.join(warning)}" if warning else "ok")
    if look.reference is None:
        return Check(
            name, WARN, f"{detail}; no reference view yet", NO_REFERENCE, "cameras", enrolled.id
        )
    if warning:
        return Check(name, WARN, detail, for_quality(warning), "cameras", enrolled.id)
    return Check(name, OK, detail, group="cameras", camera=enrolled.id)


def kcp_checks(
    config: AgentConfig,
    cameras: Mapping[str, Camera],
    looks: Mapping[str, Look],
) -> tuple[list[Check], set[str]]:
    """Each declared KCP: covered by an enrolled camera that is online, passes quality and
    still shows the KCP's region. Also the set of KCPs covered."""
    min_visible = config.quality.roi_min_visible
    checks: list[Check] = []
    covered: set[str] = set()
    for declared in config.store.kcps:
        kcp = str(declared)
        name = f"kcp {kcp}"
        assigned = [c for c in config.cameras.enrolled if any(str(a.kcp) == kcp for a in c.kcps)]
        if not assigned:
            enrol = Advice(ENROLL_KCP.en.format(kcp=kcp), ENROLL_KCP.zh.format(kcp=kcp))
            checks.append(
                Check(name, FAIL, f"{_label(kcp)}: no camera is enrolled for it", enrol, "kcps")
            )
            continue
        covering: list[str] = []
        problems: list[str] = []
        advice: Advice | None = None
        for enrolled in assigned:
            look = looks.get(enrolled.id)
            if enrolled.id not in cameras or look is None or look.image is None:
                problems.append(f"{enrolled.id} offline or without a picture")
                advice = advice or for_camera_error(
                    look.error.code if look and look.error else "not_found"
                )
                continue
            failing = look.failing()
            if failing:
                problems.append(f"{enrolled.id}: {', '.join(failing)}")
                advice = advice or for_quality(failing)
                continue
            share = look.roi_visible.get(kcp)
            if share is not None and share < min_visible:
                problems.append(f"{enrolled.id}: its region is {share:.0%} in view")
                advice = advice or ROI_GONE
                continue
            covering.append(
                enrolled.id + ("" if share is None else f" (region {share:.0%} in view)")
            )
        if covering:
            covered.add(kcp)
            checks.append(
                Check(name, OK, f"{_label(kcp)}: covered by {', '.join(covering)}", group="kcps")
            )
        else:
            checks.append(
                Check(
                    name,
                    FAIL,
                    f"{_label(kcp)}: not covered: {'; '.join(problems)}",
                    advice or for_camera_error(None),
                    "kcps",
                    assigned[0].id,
                )
            )
    return checks, covered


def stream_check(camera_id: str, probe: Probe | None, by_daemon: str | None) -> Check:
    """One enrolled camera's video at the platform: the running agent's word, or a push."""
    name = f"stream {camera_id}"
    if by_daemon is not None:
        return Check(
            name, OK, f"the running agent pushes it: {by_daemon}", group="streams", camera=camera_id
        )
    if probe is None:
        return Check(
            name, FAIL, "not pushed: the camera gave no stream", INGEST_DOWN, "streams", camera_id
        )
    if probe.ok:
        return Check(name, OK, probe.detail, group="streams", camera=camera_id)
    return Check(name, FAIL, probe.detail, INGEST_DOWN, "streams", camera_id)


def no_ingest_check() -> Check:
    return Check(
        "streams",
        FAIL,
        "streams.ingest_url is not set: no video reaches the platform, so the store cannot "
        "be completed",
        NO_INGEST,
        "streams",
        detail_zh="未设置 streams.ingest_url：视频无法推送到平台，门店不能完成建设",
    )


def broker_check(probe: Probe) -> Check:
    if probe.ok:
        return Check("broker", OK, probe.detail, group="broker")
    return Check(
        "broker", FAIL, probe.detail, BROKER_ADVICE.get(probe.step, BROKER_ADVICE["tcp"]), "broker"
    )


def enrolled_rois(
    config: AgentConfig,
) -> dict[str, dict[str, Sequence[tuple[float, float]] | None]]:
    return {
        camera.id: {str(a.kcp): (list(a.roi) if a.roi else None) for a in camera.kcps}
        for camera in config.cameras.enrolled
    }
