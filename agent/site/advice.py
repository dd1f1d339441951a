"""What to do next, in plain words, in Chinese and English.

Installers and technicians read these in a kitchen, often on a phone: one sentence, the
likely cause first, then the action. Keyed by the stable codes of quality checks
(:class:`agent.model.QualityCheck`), camera errors (:mod:`agent.errors`) and the checks of
``acceptance`` and ``diagnose``.
"""

from __future__ import annotations

import locale
import os
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Advice:
    en: str
    zh: str

    def __add__(self, other: Advice) -> Advice:
        return Advice(f"{self.en} {other.en}", f"{self.zh}{other.zh}")

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


NONE = Advice("", "")

QUALITY: dict[str, Advice] = {
    "no_signal": Advice(
        "The camera sends a flat screen, no picture: check its video cable and lens cap, "
        "then power-cycle it.",
        "摄像头没有画面（纯色屏）：检查视频线和镜头盖，然后重启摄像头。",
    ),
    "frozen": Advice(
        "The picture does not change (a stuck encoder): power-cycle the camera.",
        "画面静止不动（编码卡死）：重启摄像头。",
    ),
    "too_dark": Advice(
        "The view is too dark: switch on the kitchen lights or aim the camera at a lit area "
        "(or turn on its night/IR mode).",
        "画面太暗：打开后厨照明，或把摄像头对准有光的区域（或开启夜视/红外）。",
    ),
    "too_bright": Advice(
        "The view is washed out: aim away from windows, lamps and flames, or lower the "
        "camera's exposure in its web page.",
        "画面过亮：避开窗户、灯光和明火，或在摄像头网页里调低曝光。",
    ),
    "blurred": Advice(
        "The picture is blurred: wipe the lens and refocus the camera.",
        "画面模糊：擦拭镜头并重新对焦。",
    ),
    "low_contrast": Advice(
        "The lens is fogged or greasy (steam, grease, a protective film left on): clean it "
        "with a degreaser and peel off any film.",
        "镜头起雾或有油污（蒸汽、油烟、未撕的保护膜）：用去油清洁剂擦净镜头，撕掉保护膜。",
    ),
    "color_cast": Advice(
        "The colours are off: set the camera's white balance to auto, or check its cable.",
        "画面偏色：把摄像头白平衡设为自动，或检查视频线。",
    ),
    "noisy": Advice(
        "The picture is grainy (too little light or a failing sensor): add light, or "
        "replace the camera.",
        "画面噪点多（光线不足或传感器老化）：增加照明，或更换摄像头。",
    ),
    "stripes": Advice(
        "Stripes across the picture (lamp flicker or interference): set the camera's "
        "anti-flicker to 50 Hz and keep its cable away from power lines.",
        "画面有条纹（灯光闪烁或干扰）：把摄像头防闪烁设为 50Hz，视频线远离强电线。",
    ),
    "occluded": Advice(
        "Something covers part of the view: remove it or re-aim the camera.",
        "画面被遮挡：移开遮挡物，或调整摄像头角度。",
    ),
    "scene_changed": Advice(
        "The camera no longer shows its enrolled view (it was moved): aim it back, or "
        "enrol the new view with `kitchen-agent enroll`.",
        "摄像头画面与登记时不同（被移动过）：调回原位，或用 kitchen-agent enroll 重新登记。",
    ),
    "jitter": Advice(
        "The picture shakes: tighten the camera's mount.",
        "画面抖动：拧紧摄像头支架。",
    ),
    "no_frame": Advice(
        "The camera answers but gives no picture: check its snapshot and RTSP settings, "
        "then power-cycle it.",
        "摄像头在线但取不到画面：检查抓图和 RTSP 设置，然后重启摄像头。",
    ),
}

CAMERA: dict[str, Advice] = {
    "unreachable": Advice(
        "Is the camera powered and plugged into the kitchen switch? Check its cable and address.",
        "摄像头是否通电并接入后厨交换机？检查网线和 IP 地址。",
    ),
    "timeout": Advice(
        "The camera is slow or hung: power-cycle it.",
        "摄像头响应慢或卡死：重启摄像头。",
    ),
    "auth_failed": Advice(
        "The camera refuses the password: write its password into the credential file "
        "camera-password.<camera id> (or fix camera-password).",
        "摄像头拒绝密码：把它的密码写入凭据文件 camera-password.<摄像头编号>"
        "（或改正 camera-password）。",
    ),
    "clock_skew": Advice(
        "The camera's clock is far off: set its time or NTP server in its web page.",
        "摄像头时间偏差过大：在摄像头网页里设置时间或 NTP 服务器。",
    ),
    "not_onvif": Advice(
        "Enable ONVIF (and an ONVIF user) in the camera's web page.",
        "在摄像头网页里开启 ONVIF（并添加 ONVIF 用户）。",
    ),
    "bad_response": Advice(
        "The camera answers nonsense: update its firmware.",
        "摄像头返回异常数据：升级摄像头固件。",
    ),
    "not_found": Advice(
        "This enrolled camera was not found: check it is powered and on the network, then "
        "run `kitchen-agent discover`.",
        "找不到这台已登记的摄像头：确认通电并已联网，然后运行 kitchen-agent discover。",
    ),
    "no_frame": QUALITY["no_frame"],
    "camera_error": Advice("Power-cycle the camera.", "重启摄像头。"),
}

ACCEPT_VIEW = Advice(
    "If the view looks like this by nature (a bare steel wall), enrol it with "
    "--accept-view CAMERA.",
    "如果画面本来就是这样（例如光秃的不锈钢墙面），用 --accept-view 摄像头 登记。",
)


def for_quality(codes: Iterable[str]) -> Advice:
    """The advice for each issue found, most telling first, each once."""
    found = [QUALITY[code] for code in dict.fromkeys(codes) if code in QUALITY]
    if not found:
        return NONE
    total = found[0]
    for advice in found[1:]:
        total = total + advice
    return total


def for_camera_error(code: str | None) -> Advice:
    return CAMERA.get(code or "", CAMERA["camera_error"])


def default_language() -> str:
    """``zh`` when the box's locale is Chinese, else ``en``."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(variable)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    current = locale.getlocale()[0] or ""
    return "zh" if current.lower().startswith("zh") else "en"
