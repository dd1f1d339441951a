"""`kitchen-agent acceptance` on a fake kitchen: before and after enrolment, with the real
parts (fake ONVIF cameras serving real RTSP video, mosquitto with the store's login and
ACL, an nginx-rtmp ingest). From a fresh box, `config init`, `discover`, `enroll` and
`acceptance` alone take the kitchen to 完成建设."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.mosquitto import BrokerOptions, Mosquitto, Subscriber
from testkit.nginx_rtmp import NginxRtmp
from testkit.site_fixtures import SiteCamera, agent_cli, provision

Kitchen = Callable[..., list[SiteCamera]]
STORE = "sh-xh-0001"
ACL = """\
user ops
topic read kitchen/v1/#

pattern write kitchen/v1/+/%u/#
pattern read kitchen/v1/+/%u/cmd
"""


@pytest.fixture
def broker(broker_factory: Callable[..., Mosquitto]) -> Mosquitto:
    return broker_factory(BrokerOptions(users={STORE: "store-pw", "ops": "ops-pw"}, acl=ACL))


def acceptance(config: Path) -> tuple[int, dict[str, Any]]:
    result = agent_cli("acceptance", "--config", str(config), "--json")
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def by_name(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in out["checks"]}


def box(
    tmp_path: Path,
    cameras: list[SiteCamera],
    broker: Mosquitto,
    ingest: NginxRtmp | None,
    kcps: str = "cooking,cold_room,prep",
    mqtt_password: str = "store-pw",
) -> Path:
    return provision(
        tmp_path,
        cameras,
        kcps,
        broker_url=broker.url,
        ingest_url=f"{ingest.base_url}/{{store_id}}-{{camera_id}}?token={{token}}"
        if ingest
        else None,
        secrets={"mqtt-password": mqtt_password, "stream-token": "tok-5521"},
        sets={"broker.username": STORE, "broker.allow_plaintext": "true"},
    )


def test_four_commands_take_a_fresh_box_to_completed(
    site_kitchen: Kitchen,
    broker: Mosquitto,
    nginx_rtmp: NginxRtmp,
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    wok, cold = site_kitchen("clean", "clean")
    ops = subscriber_factory(broker, ("kitchen/v1/#",), username="ops", password="ops-pw")
    config = box(tmp_path, [wok, cold], broker, nginx_rtmp)

    found = agent_cli("discover", "--config", str(config), "--json")
    assert found.returncode == 0, found.stderr
    assert {c["id"] for c in json.loads(found.stdout)["cameras"]} == {wok.id, cold.id}

    code, before = acceptance(config)
    assert code == 1
    assert list(before) == ["stage", "stage_zh", "checks", "annex4"]
    assert (before["stage"], before["stage_zh"]) == ("preparation", "前期准备")
    checks = by_name(before)
    assert checks["config"]["status"] == "ok"
    assert checks["kcp cooking"]["status"] == "fail"
    assert "kitchen-agent enroll --assign CAMERA=cooking" in checks["kcp cooking"]["advice_en"]
    assert "登记" in checks["kcp cooking"]["advice_zh"]
    broker_check = checks["broker"]
    assert (
        broker_check["status"] == "ok" and "QoS 1 publish acknowledged in" in broker_check["detail"]
    )
    assert all(
        set(c) == {"name", "status", "detail", "advice_zh", "advice_en"} for c in before["checks"]
    )

    enrolled = agent_cli(
        "enroll",
        "--config",
        str(config),
        "--assign",
        f"{wok.address}=cooking,prep",
        "--assign",
        f"{cold.address}=cold_room",
        "--roi",
        f"{wok.address}=cooking:0.05,0.4,0.95,0.4,0.95,0.98,0.05,0.98",
    )
    assert enrolled.returncode == 0, enrolled.stderr

    code, after = acceptance(config)
    assert code == 0, json.dumps(after, ensure_ascii=False, indent=1)
    assert (after["stage"], after["stage_zh"]) == ("completed", "完成建设")
    assert after["annex4"] == {
        "单位名称": "老王面馆（漕溪北路店）",
        "地址": "上海市徐汇区漕溪北路1号",
        "许可证号": "JY23101040012345",
        "建设进度": "完成建设",
    }
    checks = by_name(after)
    assert "region 100% in view" in checks["kcp cooking"]["detail"]
    stream = checks[f"stream {wok.id}"]
    assert stream["status"] == "ok" and "pushed 3.0 s of video" in stream["detail"]
    assert "tok-5521" not in json.dumps(after)  # the token never shows
    # The store's own login published the probe, on its own topic, the contract's way.
    probes = ops.wait_for(lambda ms: [m for m in ms if m.topic.endswith("/probe")], 5)
    assert probes[0].topic == f"kitchen/v1/xuhui/{STORE}/probe"
    assert probes[0].json()["purpose"] == "acceptance"

    human = agent_cli("acceptance", "--config", str(config))
    assert human.returncode == 0
    assert "建设进度 stage: 完成建设 (completed)" in human.stdout
    assert "附件4 annex 4: 单位名称: 老王面馆（漕溪北路店）" in human.stdout


def test_a_fogged_lens_a_wrong_broker_password_and_no_ingest_keep_a_store_short(
    site_kitchen: Kitchen, broker: Mosquitto, tmp_path: Path
) -> None:
    wok, greasy = site_kitchen("clean", "greasy")
    config = box(tmp_path, [wok, greasy], broker, None, "cooking,dishwashing", "wrong-pw")
    forced = agent_cli(
        "enroll",
        "--config",
        str(config),
        "--assign",
        f"{wok.address}=cooking",
        "--assign",
        f"{greasy.address}=dishwashing",
        "--force",
    )
    assert forced.returncode == 0, forced.stderr
    code, out = acceptance(config)
    assert code == 1
    # Cameras online, no video on the platform at all: equipment installed, not more.
    assert (out["stage"], out["stage_zh"]) == ("equipment_installed", "设备安装")
    checks = by_name(out)
    assert checks["kcp cooking"]["status"] == "ok"
    dishes = checks["kcp dishwashing"]
    assert dishes["status"] == "fail" and "low_contrast" in dishes["detail"]
    assert "degreaser" in dishes["advice_en"] and "镜头" in dishes["advice_zh"]
    assert checks[f"camera {greasy.id}"]["status"] == "fail"
    assert checks["streams"]["status"] == "fail" and "ingest_url" in checks["streams"]["detail"]
    broker_check = checks["broker"]
    assert broker_check["status"] == "fail" and "refused the login" in broker_check["detail"]
    assert "mqtt-password" in broker_check["advice_en"]
    assert out["annex4"]["建设进度"] == "设备安装"


def test_with_the_agent_running_its_word_confirms_the_streams(
    site_kitchen: Kitchen, mosquitto: Mosquitto, nginx_rtmp: NginxRtmp, tmp_path: Path
) -> None:
    """The running agent pushes the streams: acceptance asks it (its status socket) rather
    than pushing the same stream names a second time."""
    from testkit.kitchen_sim import running_agent
    from testkit.mosquitto import wait_until

    (wok,) = site_kitchen("clean")
    config = provision(
        tmp_path,
        [wok],
        "cooking",
        broker_url=mosquitto.url,
        ingest_url=f"{nginx_rtmp.base_url}/{{store_id}}-{{camera_id}}",
        sets={"quality.interval_s": 5},
    )
    enrolled = agent_cli("enroll", "--config", str(config), "--assign", f"{wok.id}=cooking")
    assert enrolled.returncode == 0, enrolled.stderr
    with running_agent(config, tmp_path / "agent.log"):
        wait_until(lambda: nginx_rtmp.publishing(f"{STORE}-{wok.id}"), 40)
        code, out = acceptance(config)
        assert code == 0, json.dumps(out, ensure_ascii=False, indent=1)
        stream = by_name(out)[f"stream {wok.id}"]
        assert stream["detail"].startswith("the running agent pushes it: up (copy, ")
        assert out["stage"] == "completed"
