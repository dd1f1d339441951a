"""``kitchen-agent check-frame``: the contract for people and scripts, run as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from testkit import kitchen_textures
from testkit import quality_evalset as ev
from testkit import quality_physical as qp
from testkit.images import read_bgr

PHOTOS = Path(__file__).parent / "data" / "quality"
REPO = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "KITCHEN_AGENT_CONFIG": ""}
    environment.pop("KITCHEN_AGENT_CONFIG")
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "agent", "check-frame", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=environment,
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("frames")
    coffee = read_bgr(PHOTOS / "coffee.jpg")
    out = {}

    def save(name: str, image: np.ndarray) -> None:
        path = folder / f"{name}.jpg"
        path.write_bytes(ev.encode(image, 90))
        out[name] = path

    save("clean", coffee)
    save("clean2", ev.add_noise(coffee, 1.5, np.random.default_rng(1), 1.0))
    save("dark", ev.expose_to(coffee, 20))
    save("blurred", ev.blur(coffee, 2.0))
    save("steam", ev.veil(coffee, 0.35, 215.0, np.ones(3, np.float32)))
    # A grey sheet over the left 40 % of the view: a cover, or a smooth wall?
    sheet = coffee.copy()
    sheet[:, : sheet.shape[1] * 2 // 5] = 128
    save("sheet", sheet)
    # Half the view blown out to white, the mean still under the brightness threshold.
    over = qp.overexposed(qp.to_radiance(coffee), 0.6, np.random.default_rng(3))
    save("overexposed", over)
    save("moved", ev.view_crop(read_bgr(PHOTOS / "rocket.jpg")))
    (folder / "garbage.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    out["garbage"] = folder / "garbage.jpg"
    out["missing"] = folder / "nope.jpg"
    save("placeholder", np.zeros((1, 1, 3), np.uint8))  # what some cameras send instead
    save("no_video", qp.no_video_screen(640, 360, 2))  # a recorder's card for a dead camera
    view = ev.view_crop(coffee)
    for k, (dx, dy) in enumerate(((0, 0), (8, -4), (-5, 6))):  # a shaking mount
        save(f"shaken{k}", ev.translate(view, dx, dy))
    # A granite counter filling the view, twice: in daylight, and at night's high gain.
    granite = qp.to_radiance(kitchen_textures.scene("granite", 9, 0.0))
    for k in range(2):
        save(f"granite{k}", qp.capture(granite, qp.rng_for("cli granite", k)))
        save(f"granite_night{k}", qp.capture(granite, qp.rng_for("cli night", k), light=1 / 48))
    # Faint flicker that rolls between two samples of the counter.
    counter = qp.to_radiance(coffee)
    for k, phase in enumerate((0.4, 2.6)):
        lit = qp.flicker_bands(counter, 0.15, 4.5, phase)
        save(f"flicker{k}", qp.capture(lit, qp.rng_for("cli flicker", k)))
    # Paper over 60 % of a store room's lens, the room in focus and out of focus.
    room = qp.to_radiance(read_bgr(qp.KITCHENS / "storage_2.jpg"))
    for name, seen in (
        ("covered", room),
        ("covered_soft", qp.disc_blur(room, 3 * qp._scale(room))),
    ):
        hidden, _ = qp.covered(seen, 0.6, "paper", np.random.default_rng(4))
        save(name, qp.capture(hidden, np.random.default_rng(2)))
    return out


def test_clean_frame_exits_0_with_the_json_contract(images: dict[str, Path]) -> None:
    result = run("--json", str(images["clean"]))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"frames", "sequence"}
    assert payload["sequence"] == {"issues": []}
    (frame,) = payload["frames"]
    assert set(frame) == {"image", "verdict", "issues", "cannot_judge", "metrics"}
    assert frame["image"] == str(images["clean"])
    assert frame["verdict"] == "ok" and frame["issues"] == []
    expected = {"brightness", "contrast", "blur", "noise_floor", "stripes", "uniformity"}
    assert expected <= set(frame["metrics"])
    assert result.stdout.count("\n") == 1  # exactly one JSON object


def test_degraded_frames_exit_1_with_issues(images: dict[str, Path]) -> None:
    result = run("--json", str(images["clean"]), str(images["dark"]), str(images["steam"]))
    assert result.returncode == 1
    frames = json.loads(result.stdout)["frames"]
    assert [f["verdict"] for f in frames] == ["ok", "fail", "warn"]
    dark_issue = frames[1]["issues"][0]
    assert set(dark_issue) == {"code", "severity", "value", "threshold"}
    assert dark_issue["code"] == "too_dark" and dark_issue["severity"] == "fail"
    assert dark_issue["value"] < dark_issue["threshold"]
    assert [i["code"] for i in frames[2]["issues"]] == ["low_contrast"]


def test_reference_enables_relative_checks(images: dict[str, Path]) -> None:
    result = run(
        "--json",
        "--reference",
        str(images["clean"]),
        str(images["clean2"]),
        str(images["blurred"]),
        str(images["moved"]),
    )
    assert result.returncode == 1, result.stderr
    frames = json.loads(result.stdout)["frames"]
    assert frames[0]["issues"] == []
    assert "blur_rise" in frames[0]["metrics"] and "view_lost" in frames[0]["metrics"]
    assert [i["code"] for i in frames[1]["issues"]] == ["blurred"]
    assert "scene_changed" in [i["code"] for i in frames[2]["issues"]]


def test_half_the_view_clipped_is_too_bright_whatever_the_mean(images: dict[str, Path]) -> None:
    result = run("--json", str(images["overexposed"]))
    assert result.returncode == 1
    (frame,) = json.loads(result.stdout)["frames"]
    assert frame["metrics"]["brightness"] < 229 and frame["metrics"]["clipped"] > 0.4
    assert [(i["code"], i["threshold"]) for i in frame["issues"]] == [("too_bright", 0.4)]


def test_one_frame_says_what_it_cannot_judge(images: dict[str, Path]) -> None:
    result = run("--json", str(images["sheet"]))
    assert result.returncode == 0, result.stdout  # not a finding: no issue, no exit 1
    (frame,) = json.loads(result.stdout)["frames"]
    assert frame["issues"] == []
    (undecided,) = frame["cannot_judge"]
    assert undecided["code"] == "occluded"
    assert "cannot judge without a reference" in undecided["reason"]
    human = run(str(images["sheet"]))
    assert "occluded? a featureless area" in human.stdout
    assert "cannot judge without a reference" in human.stdout
    # With the reference the same picture is judged: the sheet covers what was there.
    judged = run("--json", "--reference", str(images["clean"]), str(images["sheet"]))
    (frame,) = json.loads(judged.stdout)["frames"]
    assert frame["cannot_judge"] == []
    assert [i["code"] for i in frame["issues"]] == ["occluded"]


def test_a_cover_over_a_soft_view_is_also_blurred(images: dict[str, Path]) -> None:
    # A cover leaves the rest of the view as sharp as it was; through a lens out of focus
    # what it leaves is soft too, and one frame says both.
    result = run("--json", str(images["covered"]), str(images["covered_soft"]))
    assert result.returncode == 1, result.stderr
    sharp, soft = json.loads(result.stdout)["frames"]
    assert [i["code"] for i in sharp["issues"]] == ["occluded"]
    assert [i["code"] for i in soft["issues"]] == ["blurred", "occluded"]
    (blurred,) = [i for i in soft["issues"] if i["code"] == "blurred"]
    assert blurred["value"] == soft["metrics"]["blur_beyond_blank"] >= blurred["threshold"]
    assert sharp["metrics"]["blur_beyond_blank"] < blurred["threshold"]


def test_sequence_detects_a_frozen_picture(images: dict[str, Path]) -> None:
    frozen = run("--json", "--sequence", str(images["clean"]), str(images["clean"]))
    assert frozen.returncode == 1
    issues = json.loads(frozen.stdout)["sequence"]["issues"]
    assert [(i["code"], i["severity"]) for i in issues] == [("frozen", "fail")]
    live = run("--json", "--sequence", str(images["clean"]), str(images["clean2"]))
    assert live.returncode == 0, live.stdout
    assert json.loads(live.stdout)["sequence"]["issues"] == []


def test_a_no_video_card_in_a_row_is_no_signal_not_frozen(images: dict[str, Path]) -> None:
    card = str(images["no_video"])
    result = run("--json", "--sequence", card, card)
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert [[i["code"] for i in f["issues"]] for f in payload["frames"]] == [["no_signal"]] * 2
    assert payload["sequence"]["issues"] == []


def test_sequence_detects_a_shaking_camera(images: dict[str, Path]) -> None:
    shaking = [str(images[f"shaken{k}"]) for k in range(3)]
    result = run("--json", "--sequence", *shaking)
    assert result.returncode == 1, result.stdout
    issues = json.loads(result.stdout)["sequence"]["issues"]
    assert [(i["code"], i["severity"]) for i in issues] == [("jitter", "warn")]


def test_samples_of_a_still_view_tell_fine_texture_from_noise(images: dict[str, Path]) -> None:
    daylight = [str(images["granite0"]), str(images["granite1"])]
    one = run("--json", daylight[0])
    assert one.returncode == 1  # one frame cannot tell a granite counter from snow
    assert [i["code"] for i in json.loads(one.stdout)["frames"][0]["issues"]] == ["noisy"]

    both = run("--json", "--sequence", *daylight)
    assert both.returncode == 0, both.stdout
    payload = json.loads(both.stdout)
    assert [frame["verdict"] for frame in payload["frames"]] == ["ok", "ok"]
    assert payload["sequence"]["withdrawn"] == ["noisy"]
    assert payload["sequence"]["noise_over_time"] < 1.5
    human = run("--sequence", *daylight)
    assert human.returncode == 0
    assert "fine texture (noisy withdrawn)" in human.stdout

    night = run(
        "--json", "--sequence", str(images["granite_night0"]), str(images["granite_night1"])
    )
    assert night.returncode == 1  # the same counter at night's gain is noisy
    payload = json.loads(night.stdout)
    assert all("noisy" in [i["code"] for i in f["issues"]] for f in payload["frames"])
    assert payload["sequence"]["withdrawn"] == []
    assert payload["sequence"]["noise_over_time"] >= 2.5


def test_bands_that_roll_between_samples_are_stripes(images: dict[str, Path]) -> None:
    rolling = run("--json", "--sequence", str(images["flicker0"]), str(images["flicker1"]))
    assert rolling.returncode == 1
    issues = json.loads(rolling.stdout)["sequence"]["issues"]
    assert [i["code"] for i in issues] == ["stripes"] and issues[0]["value"] > 3.5
    human = run("--sequence", str(images["flicker0"]), str(images["flicker1"]))
    assert "sequence: stripes(warn)" in human.stdout


def test_with_a_reference_the_sequence_does_not_judge_noise_over_time(
    images: dict[str, Path],
) -> None:
    result = run(
        "--json",
        "--sequence",
        "--reference",
        str(images["granite0"]),
        str(images["granite1"]),
        str(images["granite0"]),
    )
    payload = json.loads(result.stdout)
    assert payload["sequence"]["noise_over_time"] is None  # noise is a rise over the reference's
    assert payload["sequence"]["withdrawn"] == []


def test_human_output_is_a_table(images: dict[str, Path]) -> None:
    result = run(str(images["clean"]), str(images["dark"]))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "VERDICT", "ISSUES"]
    assert "too_dark(fail" in lines[3]


@pytest.mark.parametrize("name", ["garbage", "missing", "placeholder"])
def test_unreadable_image_is_a_clear_error(images: dict[str, Path], name: str) -> None:
    result = run(str(images[name]))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert str(images[name]) in result.stderr
    as_json = run("--json", str(images[name]))
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error"]["code"] == "no_frame"


def test_usage_errors_exit_2(images: dict[str, Path]) -> None:
    assert run().returncode == 2  # no IMAGE
    single = run("--sequence", str(images["clean"]))
    assert single.returncode == 2 and "at least two" in single.stderr
    assert run("--bogus", str(images["clean"])).returncode == 2


def test_thresholds_come_from_the_config(images: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        "store:\n  id: sh-xh-0001\n  name: 老王面馆\n  licence_number: JY31010400012345\n"
        "  district: xuhui\n  address: 上海市徐汇区漕溪北路1号\n  kcps: [cooking]\n"
        "broker:\n  url: mqtts://127.0.0.1:8883\n  username: box-0001\n"
        "quality:\n  checks:\n    too_dark:\n      threshold: 150\n      severity: warn\n",
        encoding="utf-8",
    )
    result = run("--json", "--config", str(config), str(images["clean"]))
    assert result.returncode == 1
    issue = json.loads(result.stdout)["frames"][0]["issues"][0]
    assert (issue["code"], issue["severity"], issue["threshold"]) == ("too_dark", "warn", 150.0)
    from_env = run("--json", str(images["clean"]), env={"KITCHEN_AGENT_CONFIG": str(config)})
    assert from_env.returncode == 1
    config.write_text("quality:\n  chekcs: {}\n", encoding="utf-8")
    broken = run("--config", str(config), str(images["clean"]))
    assert broken.returncode == 78
    assert "Traceback" not in broken.stderr


def test_listed_in_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert "check-frame" in result.stdout
