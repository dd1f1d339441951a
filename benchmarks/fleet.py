"""The fleet at scale: N simulated stores (one MQTT connection each) at a 30 s heartbeat
through a local mosquitto into ``kitchen-agent fleet run``, and ``fleet report`` on a month
of history.

Live, for each size (default 100 and 1000 stores): the consumer (SQLite) and a baseline
run side by side on the same traffic — the baseline is a bare paho subscriber to the same
topics that only counts what arrives (what any consumer pays to receive). Measured over a
window after the heartbeats have spread out: the consumer's CPU (% of one core, from
/proc), its lag (box timestamp -> committed to the database, p50/p99/max, as the consumer
itself records it over the last minute) and its resident memory; and, first, how long the
consumer takes to commit the burst of the whole fleet connecting at once. Stores churn
meanwhile: stages progress, alarms come and go, KCPs flip, boxes lose power and come back.

Report: a month of history for the same fleet sizes, made by folding a month of simulated
traffic (connections, outages, stage changes, alarms, KCPs, heartbeats every 6 h: the
history tables keep changes only, so denser heartbeats would add no rows) through the
consumer's own code into SQLite; then ``kitchen-agent fleet report --month M`` with CSV,
XLSX and HTML, timed as a user runs it. Baseline: reading the same history rows with the
sqlite3 module alone.

Run: ``.venv/bin/python benchmarks/fleet.py [--sizes 100,1000] [--window 60]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from agent.fleet.db import open_database  # noqa: E402
from agent.fleet.ingest import Incoming, Observation, parse  # noqa: E402
from testkit.fleet_sim import STAGES, Fleet, make_stores, raise_fd_limit  # noqa: E402
from testkit.mosquitto import Mosquitto, wait_until  # noqa: E402

HEARTBEAT_S = 30
TICKS = os.sysconf("SC_CLK_TCK")

BASELINE = r"""
import signal, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
count = 0
def on_message(client, userdata, message):
    global count
    count += 1
client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=mqtt.MQTTv5)
client.on_connect = lambda c, *a: c.subscribe(sys.argv[3] + "/#", 1)
client.on_message = on_message
client.connect(sys.argv[1], int(sys.argv[2]), 60)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *a: done.set())
client.loop_start()
print("ready", flush=True)
done.wait()
print(count, flush=True)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def live(size: int, window_s: float, workdir: Path) -> dict[str, Any]:
    broker = Mosquitto(workdir / f"broker-{size}")
    broker.start()
    db_path = workdir / f"live-{size}.db"
    config = workdir / f"fleet-{size}.yaml"
    config.write_text(
        f"broker:\n  url: {broker.url}\n  client_id: bench-{size}\n  session_expiry_s: 0\n"
        f"database:\n  url: sqlite:///{db_path}\nlog:\n  level: warning\n",
        encoding="utf-8",
    )
    log = (workdir / f"consumer-{size}.log").open("wb")
    consumer = subprocess.Popen(
        [sys.executable, "-m", "agent", "fleet", "run", "--config", str(config)],
        stdout=log,
        stderr=log,
        cwd=REPO,
    )
    baseline = subprocess.Popen(
        [sys.executable, "-c", BASELINE, broker.host, str(broker.port), "kitchen/v1"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert baseline.stdout is not None and baseline.stdout.readline().strip() == "ready"
    wait_until(db_path.exists, 30)
    stores = make_stores(size, heartbeat_interval_s=HEARTBEAT_S, seed=size)
    began = time.monotonic()
    fleet = Fleet(broker.host, broker.port, stores, keepalive_s=60).start(connect_per_s=500)
    fleet.wait_connected(120)
    # The whole fleet connecting at once (as after a broker restart): state, birth and a
    # heartbeat from every store. How long until the consumer has all of it committed?
    watcher = open_database(f"sqlite:///{db_path}", None, writer=False, create=False)
    wait_until(
        lambda: sum(r.online and r.hb_ts is not None for r in watcher.load_stores()) == size,
        300,
        interval_s=0.2,
    )
    watcher.close()
    caught_up = time.monotonic() - began
    fleet.churn(rate_per_s=size / 300.0, outage_s=(10, 60))
    time.sleep(HEARTBEAT_S + 5)  # every store's heartbeat phase is established
    start_wall = time.monotonic()
    start_cpu = cpu_seconds(consumer.pid), cpu_seconds(baseline.pid)
    beats_before = fleet.heartbeats
    time.sleep(window_s)
    wall = time.monotonic() - start_wall
    consumer_cpu = (cpu_seconds(consumer.pid) - start_cpu[0]) / wall * 100
    baseline_cpu = (cpu_seconds(baseline.pid) - start_cpu[1]) / wall * 100
    memory = rss_mb(consumer.pid)
    beats = fleet.heartbeats - beats_before
    time.sleep(6)  # the consumer saves its statistics every 5 s
    database = open_database(f"sqlite:///{db_path}", None, writer=False, create=False)
    stats = database.load_consumers()[0]["stats"]
    online = sum(r.online for r in database.load_stores())
    database.close()
    fleet.stop()
    consumer.send_signal(signal.SIGTERM)
    consumer.wait(60)
    baseline.send_signal(signal.SIGTERM)
    baseline.wait(30)
    broker.stop()
    log.close()
    return {
        "stores": size,
        "caught_up_s": caught_up,
        "heartbeats_per_s": beats / wall,
        "consumer_cpu_pct": consumer_cpu,
        "baseline_cpu_pct": baseline_cpu,
        "lag_p50_s": stats["lag_p50_s"],
        "lag_p99_s": stats["lag_p99_s"],
        "lag_max_s": stats["lag_max_s"],
        "bad": stats["bad"],
        "dropped": stats["dropped"],
        "rss_mb": memory,
        "online_at_end": online,
    }


# --- a month of history ---------------------------------------------------------------------


def month_of_history(size: int, db_url: str, month_start: float) -> int:
    """Fold a month of simulated traffic into the database; the number of messages."""
    rng = random.Random(size)
    stores = make_stores(size, heartbeat_interval_s=HEARTBEAT_S, seed=size)
    database = open_database(db_url, None, writer=True, create=True)
    day = 86400.0
    timeline: list[tuple[float, int, str, bytes]] = []
    for index, store in enumerate(stores):
        at = month_start + rng.uniform(0, 2 * day)
        end = month_start + 30 * day
        stage_times = sorted(rng.uniform(at, end) for _ in range(rng.randint(0, 3)))
        outages = sorted(rng.uniform(at, end) for _ in range(rng.randint(2, 20)))
        alarms = sorted(rng.uniform(at, end) for _ in range(rng.randint(0, 30)))
        flips = sorted(rng.uniform(at, end) for _ in range(rng.randint(0, 8)))
        events: list[tuple[float, str]] = [(t, "stage") for t in stage_times]
        events += [(t, "outage") for t in outages] + [(t, "alarm") for t in alarms]
        events += [(t, "kcp") for t in flips]
        moment = at
        beat_every = 6 * 3600.0

        def emit(when: float, suffix: str, payload: bytes, store_index: int = index) -> None:
            timeline.append((when, store_index, suffix, payload))

        def connect(when: float, store: Any = store, emit: Any = emit) -> None:
            emit(when, "state", store.state(True, "connected", when))
            emit(when + 0.1, "birth", store.birth(when + 0.1))
            emit(when + 0.2, "heartbeat", store.heartbeat(when + 0.2))

        connect(moment)
        for when, kind in sorted(events):
            while moment + beat_every < when:
                moment += beat_every
                emit(moment, "heartbeat", store.heartbeat(moment))
            if kind == "stage" and store.stage != "completed":
                data = store.advance_stage(STAGES[STAGES.index(store.stage) + 1])
                emit(when, "event", store.event("stage_changed", data, when))
            elif kind == "outage":
                emit(when, "state", store.state(False, "connection_lost", when))
                back = when + rng.uniform(300, 6 * 3600)
                store.session += 1
                store.seq = 0
                connect(back)
                moment = back
            elif kind == "alarm":
                camera = rng.choice(store.cameras)
                raised = camera not in store.issues
                store.issues[camera] = ["low_contrast"] if raised else []
                if not raised:
                    store.issues.pop(camera)
                data = {
                    "camera_id": camera,
                    "code": "low_contrast",
                    "state": "raised" if raised else "cleared",
                }
                emit(when, "event", store.event("quality_alarm", data, when))
            else:
                kcp = rng.choice(store.kcps)
                name = "kcp_covered" if kcp in store.uncovered else "kcp_uncovered"
                (store.uncovered.discard if kcp in store.uncovered else store.uncovered.add)(kcp)
                emit(when, "event", store.event(name, {"kcp": kcp}, when))
    timeline.sort(key=lambda item: item[0])
    batch: list[Observation] = []
    for when, store_index, suffix, payload in timeline:
        store = stores[store_index]
        parsed = parse(
            Incoming(f"{store.root}/{suffix}", payload, False, when), "kitchen/v1", 262144
        )
        batch.append(parsed)  # type: ignore[arg-type]
        if len(batch) >= 2000:
            database.apply_batch(batch, 3)
            batch = []
    if batch:
        database.apply_batch(batch, 3)
    database.close()
    return len(timeline)


def report_timing(size: int, workdir: Path) -> dict[str, Any]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Asia/Shanghai")
    start = datetime(2024, 5, 1, tzinfo=zone).timestamp()
    db_path = workdir / f"month-{size}.db"
    made = time.perf_counter()
    messages = month_of_history(size, f"sqlite:///{db_path}", start)
    made = time.perf_counter() - made
    config = workdir / f"report-{size}.yaml"
    config.write_text(f"database:\n  url: sqlite:///{db_path}\n", encoding="utf-8")
    out = workdir / f"report-{size}"
    timings = []
    for _ in range(3):
        began = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "agent",
                "fleet",
                "report",
                "--month",
                "2024-05",
                "--config",
                str(config),
                "--json",
                "--csv",
                str(out / "csv"),
                "--xlsx",
                str(out / "r.xlsx"),
                "--html",
                str(out / "html"),
            ],
            check=True,
            capture_output=True,
            cwd=REPO,
        )
        timings.append(time.perf_counter() - began)
    baseline = []
    for _ in range(3):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", READ_ROWS, str(db_path)], check=True, capture_output=True
        )
        baseline.append(time.perf_counter() - began)
    with sqlite3.connect(db_path) as conn:
        rows = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("presence_log", "stage_log", "kcp_log", "alarm_log")
        }
    return {
        "stores": size,
        "messages": messages,
        "history_rows": rows,
        "generate_s": made,
        "report_s": min(timings),
        "baseline_s": min(baseline),
    }


READ_ROWS = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
for table in ("stores", "presence_log", "stage_log", "kcp_log", "alarm_log"):
    conn.execute(f"SELECT * FROM {table}").fetchall()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--window", type=float, default=60.0, help="measurement window, s")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    args = parser.parse_args()
    raise_fd_limit()  # mosquitto and the simulator inherit it: a socket per store
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, list[dict[str, Any]]] = {"live": [], "report": []}
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        workdir = Path(tmp)
        if not args.skip_live:
            for size in sizes:
                results["live"].append(live(size, args.window, workdir))
                print(json.dumps(results["live"][-1]), file=sys.stderr, flush=True)
        if not args.skip_report:
            for size in sizes:
                results["report"].append(report_timing(size, workdir))
                print(json.dumps(results["report"][-1]), file=sys.stderr, flush=True)
    print_summary(results, args.window)
    return 0


def print_summary(results: dict[str, list[dict[str, Any]]], window_s: float) -> None:
    live_rows, report_rows = results["live"], results["report"]
    if live_rows:
        print(
            f"live, {HEARTBEAT_S} s heartbeats, {window_s:.0f} s window, churning fleet; "
            "baseline: a bare paho subscriber counting the same messages"
        )
        for row in live_rows:
            ratio = row["consumer_cpu_pct"] / max(row["baseline_cpu_pct"], 0.01)
            print(
                f"  {row['stores']:>5} stores  {row['heartbeats_per_s']:5.1f} hb/s  "
                f"consumer CPU {row['consumer_cpu_pct']:5.2f} % of a core "
                f"({ratio:.1f}x baseline {row['baseline_cpu_pct']:.2f} %)  "
                f"lag p50 {row['lag_p50_s']:.3f} s p99 {row['lag_p99_s']:.3f} s "
                f"max {row['lag_max_s']:.3f} s  RSS {row['rss_mb']:.0f} MB  "
                f"bad {row['bad']} dropped {row['dropped']}"
            )
            print(
                f"  {'':>5}         whole fleet connecting at once: all committed in "
                f"{row['caught_up_s']:.1f} s"
            )
        if len(live_rows) >= 2:
            small, large = live_rows[0], live_rows[-1]
            print(
                f"  {small['stores']} -> {large['stores']} stores: consumer CPU x"
                f"{large['consumer_cpu_pct'] / max(small['consumer_cpu_pct'], 0.01):.1f}, "
                f"baseline x{large['baseline_cpu_pct'] / max(small['baseline_cpu_pct'], 0.01):.1f}"
            )
        worst = max(live_rows, key=lambda r: r["stores"])
        met = worst["lag_p99_s"] < 2 and worst["consumer_cpu_pct"] < 20
        print(
            f"  goals at {worst['stores']} stores (lag < 2 s, < 20 % of a core): "
            f"{'met' if met else 'NOT met'}"
        )
    if report_rows:
        print(
            "fleet report --month (JSON + CSV + XLSX + HTML) on a month of history; "
            "baseline: reading the same rows with sqlite3 alone"
        )
        for row in report_rows:
            rows = row["history_rows"]
            print(
                f"  {row['stores']:>5} stores  history {sum(rows.values())} rows "
                f"(presence {rows['presence_log']}, stage {rows['stage_log']}, "
                f"kcp {rows['kcp_log']}, alarms {rows['alarm_log']})  report "
                f"{row['report_s']:.2f} s = {row['report_s'] / row['baseline_s']:.1f}x baseline "
                f"{row['baseline_s']:.2f} s"
            )
        if len(report_rows) >= 2:
            small, large = report_rows[0], report_rows[-1]
            print(
                f"  {small['stores']} -> {large['stores']} stores: report x"
                f"{large['report_s'] / small['report_s']:.1f}"
            )
        worst = max(report_rows, key=lambda r: r["stores"])
        print(
            f"  goal at {worst['stores']} stores (< 5 s): "
            f"{'met' if worst['report_s'] < 5 else 'NOT met'}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
