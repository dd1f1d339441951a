"""The fleet consumer against a real mosquitto and fifty simulated stores, one MQTT
connection each: what ops see in `fleet watch`, `cameras`, `alerts` and `report` is what
the stores said, through power cuts, hung agents, clean stops, a late Will and garbage.

The report is read back the way people read it: CSV and XLSX (openpyxl), and the HTML page
in headless chromium (screenshot and DOM).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.fleet.db import Database, open_database
from testkit.fleet_fixtures import FleetConsumer, FleetRun
from testkit.fleet_sim import STAGES, Fleet, send_late_will
from testkit.images import read_bgr
from testkit.mosquitto import Mosquitto, Subscriber, wait_until

STORES = 50


def ground_truth(fleet: Fleet, never_seen: dict[str, str]) -> dict[str, dict[str, int]]:
    """Annex-3 counts per district from what the simulated boxes hold themselves."""
    counts: dict[str, Counter[str]] = {}
    for link in fleet.links.values():
        rank = STAGES.index(link.store.stage_reached)
        tally = counts.setdefault(link.store.district, Counter())
        tally["selected"] += 1
        tally["installed"] += rank >= 1
        tally["connected"] += rank >= 2
        tally["completed"] += rank >= 3
    for district in never_seen.values():
        counts.setdefault(district, Counter())["selected"] += 1
    return {
        d: {k: c[k] for k in ("selected", "installed", "connected", "completed")}
        for d, c in counts.items()
    }


def stores_now(database: Database) -> dict[str, Any]:
    return {record.store_id: record for record in database.load_stores()}


def chromium_look(html: Path, out: Path) -> tuple[np.ndarray, str]:
    """A phone-sized screenshot and the DOM of the page, as headless chromium renders it."""
    browser = shutil.which("chromium")
    assert browser, "chromium is installed by scripts/setup.sh"
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    shot = out / "report.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=412,1400", html.as_uri()],
        capture_output=True,
        timeout=90,
        check=True,
    )
    dom = subprocess.run(
        [*common, "--dump-dom", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    image = read_bgr(shot)
    assert image is not None, "chromium wrote no screenshot"
    return image, dom


def colour_pixels(image: np.ndarray, hex_colour: str) -> int:
    rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    bgr = np.array(rgb[::-1], dtype=np.int16)
    return int((np.abs(image.astype(np.int16) - bgr).max(axis=2) <= 6).sum())


@pytest.mark.slow
def test_fleet_through_a_real_broker(
    broker_factory: Callable[..., Mosquitto],
    sim_fleet_factory: Callable[..., Fleet],
    fleet_config_factory: Callable[..., Path],
    fleet_consumer_factory: Callable[[Path], FleetConsumer],
    fleet_cli: Callable[..., FleetRun],
    subscriber_factory: Callable[..., Subscriber],
    tmp_path: Path,
) -> None:
    broker = broker_factory()
    database_url = f"sqlite:///{tmp_path / 'fleet.db'}"
    config = fleet_config_factory(
        broker,
        database_url,
        alerts={"offline_after_s": 0, "kcp_uncovered_after_s": 0},
    )

    # A district's selected-store list, in the annex's Chinese headings, as Excel saves it.
    selected = tmp_path / "selected.csv"
    never_seen = {"sh-xh-9001": "xuhui", "sh-pd-9002": "pudong"}
    selected.write_bytes(
        "门店编号,单位名称,地址,许可证号,区,预计完成时间\n"
        "sh-xh-9001,未上线面馆,上海市徐汇区未上线路1号,JY900001,徐汇区,2024/9\n"
        "sh-pd-9002,未上线小吃,上海市浦东新区未上线路2号,JY900002,浦东,2024-10\n"
        "sim-0003,导入时的店名,导入地址,JY3,xuhui,\n".encode("gb18030")
    )
    imported = fleet_cli("stores", "import", str(selected), "--json", config=config)
    assert imported.returncode == 0, imported.stderr
    assert imported.json()["added"] == 3

    # The stores are up before the consumer starts: it learns them from retained messages.
    fleet = sim_fleet_factory(broker, STORES)
    for index, store_id in enumerate(sorted(fleet.links)):
        fleet.set_stage(store_id, STAGES[index % 4])
    consumer = fleet_consumer_factory(config)
    reader = None
    try:
        wait_until(lambda: Path(tmp_path / "fleet.db").exists(), 20)
        reader = open_database(database_url, None, writer=False, create=False)

        def caught_up() -> bool:
            """Every store online, and its stage known from a heartbeat (its retained birth
            predates the stage it was moved to)."""
            now = stores_now(reader)
            return len(now) == STORES and all(
                r.online and r.stage_reached == fleet.links[s].store.stage_reached
                for s, r in now.items()
            )

        wait_until(caught_up, 30)

        # Straight from the broker, with no database: retained births and states, then a
        # heartbeat from every store.
        direct = fleet_cli("report", "--json", "--broker", broker.url).json()
        assert direct["availability_known"] is False
        direct_counts = {
            d["slug"]: {k: d[k] for k in ("selected", "installed", "connected", "completed")}
            for d in direct["districts"]
            if d["selected"]
        }
        assert direct_counts == ground_truth(fleet, {})
        assert all(s["availability"] is None for s in direct["stores"])

        ids = sorted(fleet.links)
        cut, hung, stopped, late, garbage, progressing, uncovered = ids[:7]
        ops = subscriber_factory(broker, (f"kitchen/v1/+/{late}/state",))
        fleet.power_cut(cut)
        fleet.mute(hung)
        fleet.stop_cleanly(stopped)
        late_store = fleet.links[late].store
        send_late_will(broker.host, broker.port, late_store, late_store.session - 1)
        fleet.publish_raw(garbage, "heartbeat", b"\x00 this is not json")
        fleet.set_stage(progressing, "completed")
        kcp = fleet.links[uncovered].store.kcps[0]
        fleet.emit(uncovered, "kcp_uncovered", {"kcp": kcp, "reason": "blurred"})

        def settled() -> bool:
            now = stores_now(reader)
            return (
                (now[cut].online, now[cut].offline_reason) == (False, "connection_lost")
                and not now[hung].online  # stale: no heartbeat for 3 intervals
                and (now[stopped].online, now[stopped].offline_reason) == (False, "stopped")
                and now[late].offline_session == late_store.session - 1  # the Will arrived...
                and now[progressing].stage_reached == "completed"
                and now[uncovered].coverage.get(kcp, {}).get("covered") is False
            )

        wait_until(settled, 30)
        # ... and the late Will, though it is now the broker's retained state, left the live
        # box online.
        retained = ops.wait_json("state", lambda s: s["online"] is False, 5)
        assert retained["session"] == late_store.session - 1
        assert stores_now(reader)[late].online
        assert consumer.alive, consumer.log_tail()

        # fleet watch: one snapshot
        watch = fleet_cli("watch", "--json", config=config)
        assert watch.returncode == 0, watch.stderr
        snapshot = watch.json()
        assert snapshot["counts"]["stores"] == STORES
        assert snapshot["counts"]["offline"] == 3
        rows = {r["store_id"]: r for r in snapshot["stores"]}
        assert (rows[cut]["status"], rows[hung]["status"]) == ("connection_lost", "stale")
        assert rows[uncovered]["kcps_uncovered"] == [kcp]
        (instance,) = snapshot["consumers"]
        assert instance["bad"] >= 1  # the garbage was counted, and nothing else broke
        assert instance["lag_p99_s"] < 2.0

        # fleet cameras --offline: the regulator's question
        cameras = fleet_cli("cameras", "--offline", "--json", config=config)
        assert cameras.returncode == 0, cameras.stderr
        listed = cameras.json()
        dark = {c["store_id"] for c in listed["cameras"]}
        assert dark == {cut, hung, stopped}
        assert all(c["status"] == "unknown" for c in listed["cameras"])
        total_cameras = sum(len(link.store.cameras) for link in fleet.links.values())
        assert sum(listed["counts"].values()) == total_cameras

        alerts = fleet_cli("alerts", "--json", config=config).json()["alerts"]
        assert {(a["kind"], a["store_id"]) for a in alerts} >= {
            ("store_offline", cut),
            ("store_offline", hung),
            ("kcp_uncovered", uncovered),
        }
        assert [a["since"] for a in alerts] == sorted(a["since"] for a in alerts)

        # fleet report: annex 3 matches the boxes, annex 4 lists every store
        out = tmp_path / "report"
        report = fleet_cli(
            "report",
            "--json",
            "--csv",
            str(out / "csv"),
            "--xlsx",
            str(out / "r.xlsx"),
            "--html",
            str(out / "html"),
            config=config,
        )
        assert report.returncode == 0, report.stderr
        body = report.json()
        truth = ground_truth(fleet, never_seen)
        got = {
            d["slug"]: {k: d[k] for k in ("selected", "installed", "connected", "completed")}
            for d in body["districts"]
            if d["selected"]
        }
        assert got == truth
        stores = {s["store_id"]: s for s in body["stores"]}
        assert len(stores) == STORES + len(never_seen)
        for store_id, link in fleet.links.items():
            assert stores[store_id]["stage"] == link.store.stage_reached
            assert stores[store_id]["licence_number"] == link.store.licence_number
        assert stores["sim-0003"]["name"] == fleet.links["sim-0003"].store.name
        assert stores["sh-xh-9001"]["expected_completion"] == "2024-09"
        assert stores[cut]["online"] is False and 0 < stores[cut]["availability"] < 1
        assert stores[ids[10]]["availability"] == pytest.approx(1.0)
        xuhui = next(d for d in body["districts"] if d["slug"] == "xuhui")
        assert {"kind": "never_seen", "store_id": "sh-xh-9001"}.items() <= next(
            p for p in xuhui["problems"] if p["store_id"] == "sh-xh-9001"
        ).items()

        # CSV: the annex's Chinese headings, UTF-8 with a BOM for Excel
        with (out / "csv" / "annex4-xuhui.csv").open(encoding="utf-8-sig", newline="") as handle:
            table = list(csv.reader(handle))
        assert table[0][:6] == ["序号", "单位名称", "地址", "许可证号", "建设进度", "预计完成时间"]
        assert {row[4] for row in table[1:]} <= {"前期准备", "设备安装", "视频对接", "完成建设"}
        assert len(table) - 1 == truth["xuhui"]["selected"]

        # XLSX, read back
        from openpyxl import load_workbook

        book = load_workbook(out / "r.xlsx")
        assert book.sheetnames[0] == "汇总"
        form = book["徐汇 附件3"]
        cells = {row[0]: row[1:] for row in form.iter_rows(values_only=True) if row[0]}
        assert cells["上报单位："][0] == "徐汇区市场监督管理局"
        assert cells["示范店选点完成数量（户）"][:2] == (truth["xuhui"]["selected"], 80)
        assert cells["示范店视频对接第三方平台数量（户）"][0] == truth["xuhui"]["connected"]
        assert "已选点但设备从未上线" in str(cells["存在的问题和建议"][0])
        sheet = book["徐汇 附件4"]
        headings = [c.value for c in sheet[2]]
        assert headings[:6] == ["序号", "单位名称", "地址", "许可证号", "建设进度", "预计完成时间"]
        assert sheet.max_row - 2 == truth["xuhui"]["selected"]

        # HTML, as a person sees it in a browser
        image, dom = chromium_look(out / "html" / "index.html", tmp_path)
        assert image.shape[1] == 412
        assert colour_pixels(image, "#1f4f99") > 20  # completed bars are drawn
        assert colour_pixels(image, "#b3261e") > 20  # and the targets
        assert (image < 250).any(axis=2).mean() > 0.05  # a page with content, not a blank
        assert dom.count('class="bar completed"') == 16
        assert 'id="annex3-summary"' in dom and 'class="annex4" data-district="xuhui"' in dom
        # Offline by construction: nothing to run and nothing to fetch.
        assert "<script" not in dom and "<link" not in dom and "url(" not in dom
        assert 'src="' not in dom and "@import" not in dom
        assert dom.count("<tr>") >= STORES + len(never_seen) + 16

    finally:
        if reader is not None:
            reader.close()
    assert consumer.stop() == 0, consumer.log_tail()
