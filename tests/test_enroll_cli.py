"""`kitchen-agent enroll` as an installer uses it: flags, refusals with what to do, the
interactive questions in a pseudo-terminal, the config rewritten and nothing else lost."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.capture.reference import ReferenceStore
from agent.config import load_config
from agent.errors import UsageError
from agent.site.enrolment import Request, apply, parse_kcps, parse_roi, split_pair, uncovered
from testkit.site_fixtures import SiteCamera, agent_cli, provision
from testkit.terminal import Terminal

Kitchen = Callable[..., list[SiteCamera]]
DECLARED = ["cooking", "cold_room", "dishwashing"]


# --- the pure part --------------------------------------------------------------------------


def test_flags_read_as_the_issue_spells_them() -> None:
    assert split_pair("192.0.2.7:8000=cooking,prep", "--assign") == (
        "192.0.2.7:8000",
        "cooking,prep",
    )
    assert parse_kcps("cooking，3", DECLARED) == ["cooking", "dishwashing"]
    assert parse_roi("cooking:0.1,0.2,0.9,0.2,0.9,0.95") == (
        "cooking",
        [(0.1, 0.2), (0.9, 0.2), (0.9, 0.95)],
    )
    for bad, message in [
        (lambda: parse_kcps("kitchen", DECLARED), "unknown key control point 'kitchen'"),
        (lambda: parse_kcps("storage", DECLARED), "storage is not a key control point of this"),
        (lambda: parse_roi("cooking:0.1,0.2,0.9"), "at least three x,y corners"),
        (lambda: parse_roi("cooking:0,0,1.5,0,1,1"), "between 0 and 1"),
        (lambda: parse_roi("cooking:0,0,1,1,0.5,0.5"), "(almost) empty"),
        (lambda: split_pair("cam", "--name"), "expected CAMERA=VALUE"),
    ]:
        with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
            bad()


def test_apply_keeps_everything_not_asked_about() -> None:
    before: list[dict[str, Any]] = [
        {
            "id": "a",
            "name": "热菜区",
            "kcps": [{"kcp": "cooking", "roi": [[0, 0], [1, 0], [1, 1]]}],
        },
        {"id": "b", "name": None, "kcps": [{"kcp": "cold_room", "roi": None}]},
    ]
    request = Request(
        assign={"a": ["cooking", "dishwashing"], "c": ["cold_room"]},
        rois={"c": {"cold_room": [(0.2, 0.2), (0.8, 0.2), (0.5, 0.9)]}},
        names={"c": "凉菜间"},
        remove=["b"],
    )
    after = apply(before, request)
    assert [e["id"] for e in after] == ["a", "c"]
    assert after[0]["name"] == "热菜区"
    assert after[0]["kcps"][0]["roi"] == [[0, 0], [1, 0], [1, 1]]  # a region it keeps
    assert after[1] == {
        "id": "c",
        "kcps": [{"kcp": "cold_room", "roi": [[0.2, 0.2], [0.8, 0.2], [0.5, 0.9]]}],
        "name": "凉菜间",
    }
    assert uncovered(DECLARED, after) == []
    with pytest.raises(UsageError, match="cooking is not assigned to this camera"):
        apply(before, Request(rois={"b": {"cooking": [(0, 0), (1, 0), (1, 1)]}}))


# --- the command against fake cameras -------------------------------------------------------


def enroll(config: Path, *args: str) -> tuple[int, dict[str, object]]:
    result = agent_cli("enroll", "--config", str(config), "--json", *args)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def enroll_each(
    config: Path, *assignments: tuple[SiteCamera, str]
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Assign each camera (by address) to its KCP in one call: the exit code, the JSON and
    its cameras by id."""
    args = [f"--assign={camera.address}={kcp}" for camera, kcp in assignments]
    code, out = enroll(config, *args)
    return code, out, {camera["id"]: camera for camera in out["cameras"]}  # type: ignore[attr-defined]


def test_enroll_by_address_takes_each_reference_and_keeps_the_rest(
    site_kitchen: Kitchen, tmp_path: Path
) -> None:
    wok, cold = site_kitchen("clean", "clean")
    config = provision(tmp_path, [wok, cold], "cooking,cold_room", sets={"streams.max_kbps": 384})
    config.chmod(0o640)
    code, out = enroll(
        config,
        "--assign",
        f"{wok.address}=cooking",
        "--roi",
        f"{wok.address}=cooking:0.05,0.3,0.95,0.3,0.95,0.95,0.05,0.95",
        "--name",
        f"{wok.id}=热菜区",
        "--assign",
        f"{cold.id}=2",
    )
    assert code == 0, out
    loaded = load_config(config)
    assert loaded.streams.max_kbps == 384  # everything else kept
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert [(c.id, c.name, [str(a.kcp) for a in c.kcps]) for c in loaded.cameras.enrolled] == [
        (wok.id, "热菜区", ["cooking"]),
        (cold.id, None, ["cold_room"]),
    ]
    assert loaded.cameras.enrolled[0].kcps[0].roi == [
        (0.05, 0.3),
        (0.95, 0.3),
        (0.95, 0.95),
        (0.05, 0.95),
    ]
    cameras = {c["id"]: c for c in out["cameras"]}  # type: ignore[attr-defined]
    assert cameras[wok.id]["reference_taken"] and cameras[wok.id]["verdict"] == "ok"
    assert Path(cameras[wok.id]["snapshot"]) == tmp_path / "snapshots" / f"{wok.id}.jpg"
    assert Path(cameras[wok.id]["snapshot"]).stat().st_size > 10_000
    assert out["uncovered"] == [] and out["daemon"] == {
        "running": False,
        "pids": [],
        "reloaded": False,
    }
    stored = {e["camera_id"] for e in ReferenceStore(tmp_path / "state").entries()}
    assert stored == {wok.id, cold.id}

    # A person reads the same, with a picture in characters.
    human = agent_cli("enroll", "--config", str(config), "--assign", f"{cold.address}=cold_room")
    assert human.returncode == 0, human.stderr
    assert f"{cold.id} → cold_room 专间: enrolled, reference taken (picture: ok)" in human.stdout
    assert f"snapshot: {tmp_path / 'snapshots' / cold.id}.jpg" in human.stdout
    assert "+------------------------------------------------+" in human.stdout

    code, out = enroll(config, "--remove", wok.id)
    assert code == 0 and out["removed"] == [wok.id]
    assert [c.id for c in load_config(config).cameras.enrolled] == [cold.id]
    assert {e["camera_id"] for e in ReferenceStore(tmp_path / "state").entries()} == {cold.id}
    assert out["uncovered"] == ["cooking"]


def test_a_fogged_lens_is_refused_with_what_to_do_unless_forced(
    site_kitchen: Kitchen, tmp_path: Path
) -> None:
    clean, greasy = site_kitchen("clean", "greasy")
    config = provision(tmp_path, [clean, greasy], "cooking,dishwashing")
    code, out, cameras = enroll_each(config, (clean, "cooking"), (greasy, "dishwashing"))
    assert code == 1
    refused = cameras[greasy.id]
    assert not refused["enrolled"] and not refused["reference_taken"]
    assert "low_contrast" in refused["refused"]
    assert "clean it with a degreaser" in refused["advice_en"]
    assert "镜头起雾或有油污" in refused["advice_zh"] and "--accept-view" in refused["advice_en"]
    assert Path(refused["snapshot"]).name == f"{greasy.id}-refused.jpg"
    assert cameras[clean.id]["enrolled"]  # the good camera is written all the same
    assert [c.id for c in load_config(config).cameras.enrolled] == [clean.id]
    assert out["uncovered"] == ["dishwashing"]
    assert {e["camera_id"] for e in ReferenceStore(tmp_path / "state").entries()} == {clean.id}

    # A bare steel wall reads low-contrast by nature: --accept-view says so.
    code, out = enroll(
        config, "--assign", f"{greasy.id}=dishwashing", "--accept-view", greasy.address
    )
    assert code == 0, out
    accepted = {c.id: c.accept_view for c in load_config(config).cameras.enrolled}
    assert accepted == {clean.id: False, greasy.id: True}  # remembered for the daemon
    code, out = enroll(config, "--remove", greasy.id)
    code, out = enroll(config, "--assign", f"{greasy.id}=dishwashing", "--force")
    assert code == 0 and out["cameras"][0]["reference_taken"]  # type: ignore[index]
    assert {c.id for c in load_config(config).cameras.enrolled} == {clean.id, greasy.id}


def test_what_one_picture_cannot_settle_is_put_to_the_installer(
    site_kitchen: Kitchen, tmp_path: Path
) -> None:
    # Grease over most of the lens with clear glass between: nothing is raised, so the
    # picture becomes the reference, but the installer is told to look at the lens.
    clean, smeared = site_kitchen("clean", "smeared")
    config = provision(tmp_path, [clean, smeared], "cooking,packing")
    code, out, cameras = enroll_each(config, (clean, "cooking"), (smeared, "packing"))
    assert code == 0, out
    taken = cameras[smeared.id]
    assert taken["reference_taken"] and taken["issues"] == []
    soft = [note for note in taken["notes"] if "soft" in note]
    assert len(soft) == 1, taken["notes"]
    assert soft[0].startswith("check on site, one picture cannot tell")
    assert "smeared" in soft[0] and "cannot judge without a reference" not in soft[0]
    assert not any("soft" in note for note in cameras[clean.id]["notes"])

    human = agent_cli("enroll", "--config", str(config), "--assign", f"{smeared.id}=packing")
    assert human.returncode == 0, human.stderr
    assert "  note: check on site, one picture cannot tell (this picture is now its" in human.stdout


def test_a_textured_view_is_not_called_noisy_once_a_second_picture_settles_it(
    site_kitchen: Kitchen, tmp_path: Path
) -> None:
    # One picture of a granite counter filling the view reads as noisy; the box takes a
    # second: the grain is in both, the sensor's noise is not. A snowy night view stays.
    granite, snowy, clean = site_kitchen("granite", "snowy", "clean")
    config = provision(tmp_path, [granite, snowy, clean], "cooking,packing,cold_room")
    before = {c.id: c.camera.served for c in (granite, snowy, clean)}
    code, out, cameras = enroll_each(
        config, (granite, "cooking"), (snowy, "packing"), (clean, "cold_room")
    )
    assert code == 0, out
    assert cameras[granite.id]["reference_taken"] and cameras[granite.id]["issues"] == []
    assert cameras[granite.id]["verdict"] == "ok"
    assert [i["code"] for i in cameras[snowy.id]["issues"]] == ["noisy"]
    assert cameras[snowy.id]["reference_taken"]  # noise is no reason to refuse a view
    taken = {c.id: c.camera.served - before[c.id] for c in (granite, snowy, clean)}
    # A second picture only when the first read noisy.
    assert taken == {granite.id: 2, snowy.id: 2, clean.id: 1}


def test_mistakes_are_told_before_anything_is_written(
    site_kitchen: Kitchen, tmp_path: Path
) -> None:
    (camera,) = site_kitchen("clean")
    config = provision(tmp_path, [camera], "cooking")
    before = config.read_text(encoding="utf-8")
    cases = [
        (("--assign", f"{camera.address}=storage"), 2, "storage is not a key control point"),
        (("--assign", "192.0.2.99:80=cooking"), 69, "no camera 192.0.2.99:80 was found"),
        (("--roi", f"{camera.id}=cooking:0,0,1,0,1,1"), 2, "the camera is not enrolled"),
        ((), 2, "nothing to do"),
    ]
    for args, code, message in cases:
        result = agent_cli("enroll", "--config", str(config), *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr
    assert config.read_text(encoding="utf-8") == before


def test_interactive_enrolment_in_a_pseudo_terminal(site_kitchen: Kitchen, tmp_path: Path) -> None:
    wok, cold, greasy = site_kitchen("clean", "smeared", "greasy")
    config = provision(tmp_path, [wok, cold, greasy], "cooking,cold_room,dishwashing")
    with Terminal("enroll", "--config", str(config), cwd=tmp_path) as term:
        term.expect(r"1 cooking 烹饪区")
        for _ in range(3):  # the cameras come in address order
            camera_id = term.expect(r"\[\d/3\] (\S+) at ").group(1)
            if camera_id == wok.id:
                term.expect(r"picture: ok")
                term.expect(rf"snapshot: {tmp_path}/snapshots/{wok.id}\.jpg")
                term.expect(r"Key control points it shows .*: $")
                term.send_line("1")
                term.expect(r"Name, e\.g\. 热菜区 \(Enter: none\): $")
                term.send_line("热菜区")
            elif camera_id == cold.id:
                # Grease over most of its lens: nothing is raised, but the installer is
                # asked to look before it becomes the reference, and may take it again.
                term.expect(
                    r"picture: ok\s+check on site, one picture cannot tell: most of the lit"
                )
                term.expect(r"Key control points it shows .*: $")
                term.send_line("cold_room")
                doubt = r"Is the view as it should be \(lens clean, nothing in front\)\? .*: $"
                term.expect(doubt)
                term.send_line("r")
                term.expect(r"taking the picture again")
                term.expect(r"check on site, one picture cannot tell")
                term.expect(doubt)
                term.send_line("")
                term.expect(r"Name.*: $")
                term.send_line("")
            else:
                assert camera_id == greasy.id
                term.expect(r"REFUSED as a reference \(low_contrast")
                term.expect(r"镜头起雾")
                term.expect(r"Key control points it shows .*: $")
                term.send_line("3")
                term.expect(r"\[r\] take the picture again, \[a\] the view is like this.*: $")
                term.send_line("s")
        term.expect(r"not covered yet: dishwashing 餐用具清洗消毒区")
        term.expect(rf"Write this to {config}\? \[y/N\]: $")
        term.send_line("y")
        assert term.wait(60) == 0, term.text
        assert "enrolled, reference taken" in term.text
    enrolled = load_config(config).cameras.enrolled
    assert {(c.id, c.name, tuple(str(a.kcp) for a in c.kcps)) for c in enrolled} == {
        (wok.id, "热菜区", ("cooking",)),
        (cold.id, None, ("cold_room",)),
    }


def test_interactive_enrolment_can_be_declined(site_kitchen: Kitchen, tmp_path: Path) -> None:
    (camera,) = site_kitchen("clean")
    config = provision(tmp_path, [camera], "cooking")
    before = config.read_text(encoding="utf-8")
    with Terminal("enroll", "--config", str(config)) as term:
        term.expect(r"Key control points it shows .*: $")
        term.send_line("cooking")
        term.expect(r"Name.*: $")
        term.send_line("")
        term.expect(r"\[y/N\]: $")
        term.send_line("n")
        assert term.wait(30) == 1
    assert config.read_text(encoding="utf-8") == before


def test_a_running_agent_is_told_to_reload(site_kitchen: Kitchen, tmp_path: Path) -> None:
    from agent.site.daemon_link import config_of
    from testkit.kitchen_sim import running_agent
    from testkit.mosquitto import wait_until

    # Another agent with another config is left alone; `fleet run` is not an agent.
    assert config_of(["/usr/bin/python3", "-m", "agent", "run"], {}, Path("/")) is not None
    assert config_of(["kitchen-agent", "fleet", "run"], {}, Path("/")) is None
    assert config_of(["kitchen-agent", "run", "--config", "b.yaml"], {}, Path("/etc")) == Path(
        "/etc/b.yaml"
    )

    (camera,) = site_kitchen("clean")
    config = provision(tmp_path, [camera], "cooking")
    log = tmp_path / "agent.log"
    with running_agent(config, log) as daemon:
        started = b'"agent_starting"'
        wait_until(lambda: started in log.read_bytes() or daemon.poll() is not None, 30)
        assert daemon.poll() is None, log.read_text(errors="replace")[-3000:]
        code, out = enroll(config, "--assign", f"{camera.address}=cooking")
        assert code == 0, out
        assert out["daemon"] == {"running": True, "pids": [daemon.pid], "reloaded": True}
        wait_until(lambda: b"config_reloading" in log.read_bytes(), 30)
        assert daemon.poll() is None
