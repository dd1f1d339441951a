"""A simulated fleet: N stores, one MQTT connection each as in the field.

Each store speaks the box's contract (``docs/mqtt.md``): on connect a Last Will (retained
``state`` offline with its session), retained ``state`` online, retained ``birth``, then a
heartbeat right away and every ``heartbeat_interval_s``; events when something happens.
Every payload is built with the box's own pydantic models (so it validates against the
published schemas) plus the optional v1 fields newer boxes send (``stage_reached``,
``store.expected_completion``, per-camera ``enrolled``).

One thread drives every connection through one selector (paho's external-loop API), so a
thousand stores cost one thread, not a thousand. Tests and benchmarks steer stores
(``power_cut``, ``power_on``, ``set_stage``, ``emit``); ``churn`` makes random stores join,
progress through the stages, raise and clear alarms, lose power and come back.

Run alone: ``.venv/bin/python benchmarks/fleet_sim.py --broker mqtt://127.0.0.1:1883
--stores 50 --interval 5 --duration 60 --churn``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import heapq
import json
import queue
import random
import selectors
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.districts import load_districts
from agent.uplink.messages import (
    BirthMessage,
    EventMessage,
    HeartbeatMessage,
    StateMessage,
)

STAGES = ("preparation", "equipment_installed", "video_connected", "completed")
KCP_SETS = (
    ("cooking", "cold_room", "prep"),
    ("cooking", "prep", "dishwashing"),
    ("cooking", "cold_room", "prep", "dishwashing", "packing"),
    ("cooking",),
)
NAMES = ("面馆", "小笼包", "本帮菜", "烧烤", "快餐", "粥铺", "茶餐厅", "饺子馆")


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


# --- one store's messages (pure) -------------------------------------------------------------


@dataclass
class SimStore:
    store_id: str
    district: str
    name: str
    address: str
    licence_number: str
    kcps: tuple[str, ...]
    cameras: tuple[str, ...]
    session: int = 1
    seq: int = 0
    stage: str = "preparation"
    stage_reached: str = "preparation"
    expected_completion: str | None = None
    heartbeat_interval_s: int = 30
    keepalive_s: int = 60
    cameras_offline: set[str] = field(default_factory=set)
    issues: dict[str, list[str]] = field(default_factory=dict)
    uncovered: set[str] = field(default_factory=set)
    send_new_fields: bool = True  # False: a box from before stage_reached existed
    started: float = field(default_factory=time.time)

    @property
    def root(self) -> str:
        return f"kitchen/v1/{self.district}/{self.store_id}"

    def state(self, online: bool, reason: str, now: float | None = None) -> bytes:
        message = StateMessage(
            online=online,
            session=self.session,
            ts=datetime.fromtimestamp(now or time.time(), UTC),
            reason=reason,  # type: ignore[arg-type]
        )
        return message.model_dump_json().encode()

    def birth(self, now: float | None = None) -> bytes:
        message = BirthMessage.model_validate(
            {
                "session": self.session,
                "ts": iso(now or time.time()),
                "agent_version": "0.1.0",
                "config_hash": "3f9c2a71d05b8e44",
                "protocol": "5",
                "heartbeat_interval_s": self.heartbeat_interval_s,
                "keepalive_s": self.keepalive_s,
                "store": {
                    "id": self.store_id,
                    "name": self.name,
                    "licence_number": self.licence_number,
                    "district": self.district,
                    "address": self.address,
                    "kcps": list(self.kcps),
                },
                "cameras": [
                    {"id": cam, "name": f"摄像头{i + 1}", "kcps": [self.kcps[i % len(self.kcps)]]}
                    for i, cam in enumerate(self.cameras)
                ],
                "stage": self.stage,
            }
        )
        body = message.model_dump(mode="json")
        if self.send_new_fields:
            body["stage_reached"] = self.stage_reached
            body["store"]["expected_completion"] = self.expected_completion
        return json.dumps(body, ensure_ascii=False).encode()

    def heartbeat(self, now: float | None = None) -> bytes:
        self.seq += 1
        moment = now or time.time()
        cameras = []
        for camera in self.cameras:
            online = camera not in self.cameras_offline
            issues = self.issues.get(camera, [])
            cameras.append(
                {
                    "id": camera,
                    "online": online,
                    "error": None if online else "timeout",
                    "fps": 15.0 if online else None,
                    "stream": "up" if online and self.stage in STAGES[2:] else "stopped",
                    "kbps": 480.0 if online else None,
                    "quality": ("fail" if issues else "ok") if online else "unknown",
                    "issues": issues,
                    "clock_skew_s": 0.3,
                }
            )
        coverage = {kcp: kcp not in self.uncovered for kcp in self.kcps}
        message = HeartbeatMessage.model_validate(
            {
                "session": self.session,
                "seq": self.seq,
                "ts": iso(moment),
                "uptime_s": moment - self.started,
                "system": {
                    "uptime_s": 86400.0,
                    "load": [0.2, 0.2, 0.2],
                    "mem_total_mb": 3882.4,
                    "mem_available_mb": 2712.9,
                    "disk_total_mb": 29804.1,
                    "disk_free_mb": 21011.6,
                    "temperature_c": 51.0,
                },
                "broker_rtt_ms": 3.5,
                "cameras": cameras,
                "coverage": {
                    "ratio": round(sum(coverage.values()) / len(coverage), 3),
                    "kcps": coverage,
                },
                "stage": self.stage,
                "outbox": {"pending": 0, "dropped": 0},
            }
        )
        body = message.model_dump(mode="json")
        if self.send_new_fields:
            body["stage_reached"] = self.stage_reached
            for camera in body["cameras"]:
                camera["enrolled"] = True
        else:
            # The model gained these fields; an older box never sent them.
            body.pop("stage_reached", None)
            for camera in body["cameras"]:
                camera.pop("enrolled", None)
        return json.dumps(body, ensure_ascii=False).encode()

    def event(self, event_type: str, data: dict[str, Any], now: float | None = None) -> bytes:
        message = EventMessage(
            msg_id=uuid.uuid4().hex,
            type=event_type,
            ts=datetime.fromtimestamp(now or time.time(), UTC),
            session=self.session,
            late=False,
            queued_s=0.0,
            data=data,
        )
        return message.model_dump_json().encode()

    def advance_stage(self, stage: str) -> dict[str, Any]:
        """Move to ``stage``; the stage_changed event's data."""
        previous = self.stage
        self.stage = stage
        if STAGES.index(stage) > STAGES.index(self.stage_reached):
            self.stage_reached = stage
        return {"stage": stage, "previous": previous, "stage_reached": self.stage_reached}


def send_late_will(host: str, port: int, store: SimStore, session: int) -> None:
    """What a broker does with an old connection of ``store`` that dies late: publish its
    Last Will (retained ``state`` offline, ``session``) after a newer session is online.

    A second connection registers that Will and then loses its socket without DISCONNECT,
    so the broker itself publishes it, exactly as it would for a half-open old session."""
    old = SimStore(**{**store.__dict__, "session": session})
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"kitchen-agent-{store.store_id}-old-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )
    client.will_set(f"{store.root}/state", old.state(False, "connection_lost"), 1, True)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect(host, port, keepalive=30)
    deadline = time.monotonic() + 10
    while not connected.is_set() and time.monotonic() < deadline:
        client.loop(0.1)
    if not connected.is_set():
        raise TimeoutError("late-will connection was not accepted")
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def make_stores(
    count: int,
    *,
    heartbeat_interval_s: int = 30,
    seed: int = 7,
    prefix: str = "sim",
) -> list[SimStore]:
    """``count`` stores spread over the 16 districts in proportion to their targets."""
    rng = random.Random(seed)
    districts = load_districts()
    total = sum(d.target for d in districts)
    slots: list[str] = []
    for district in districts:
        slots += [district.slug] * max(1, round(count * district.target / total))
    rng.shuffle(slots)
    stores = []
    for index in range(count):
        slug = slots[index % len(slots)]
        kcps = KCP_SETS[index % len(KCP_SETS)]
        cameras = tuple(f"cam-{index:04d}-{n}" for n in range(max(2, len(kcps))))
        stores.append(
            SimStore(
                store_id=f"{prefix}-{index:04d}",
                district=slug,
                name=f"{rng.choice(NAMES)}{index:04d}号店",
                address=f"上海市{slug}路{index + 1}号",
                licence_number=f"JY{31000000000000 + index}",
                kcps=kcps,
                cameras=cameras,
                session=rng.randint(1, 5),
                expected_completion=f"2024-{rng.randint(6, 12):02d}",
                heartbeat_interval_s=heartbeat_interval_s,
            )
        )
    return stores


# --- the fleet: one selector thread, one MQTT connection per store -------------------------


@dataclass
class _Link:
    store: SimStore
    client: mqtt.Client | None = None
    sock: socket.socket | None = None
    connected: bool = False
    next_beat: float = 0.0
    powered: bool = True
    muted: bool = False  # connected, but its heartbeats stopped (a hung agent)


class Fleet:
    """Simulated stores against one broker. Thread-safe steering methods."""

    def __init__(
        self,
        host: str,
        port: int,
        stores: list[SimStore],
        *,
        keepalive_s: int = 60,
        on_publish: Callable[[str, str], None] | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.keepalive_s = keepalive_s
        # With it, each store logs in as <district>/<store id> (the documented ACL's %u).
        self.password = password
        self.links = {store.store_id: _Link(store) for store in stores}
        self.selector = selectors.DefaultSelector()
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-sim", daemon=True)
        self.published = 0
        self.heartbeats = 0
        self.on_publish = on_publish
        self.rng = random.Random(11)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = 0

    # --- steering (any thread) -----------------------------------------------------------

    def call(self, task: Callable[[], None], wait: bool = True, timeout_s: float = 30) -> None:
        done = threading.Event()
        errors: list[BaseException] = []

        def wrapped() -> None:
            try:
                task()
            except BaseException as error:  # handed to the caller
                errors.append(error)
            finally:
                done.set()

        self._tasks.put(wrapped)
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if wait:
            if not done.wait(timeout_s):
                raise TimeoutError("simulator loop did not run the task")
            if errors:
                raise errors[0]

    def start(self, connect_per_s: float = 400.0) -> Fleet:
        self._thread.start()
        delay = 1.0 / connect_per_s
        for link in list(self.links.values()):
            self.call(functools.partial(self._connect, link), wait=False)
            time.sleep(delay)
        return self

    def wait_connected(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(link.connected or not link.powered for link in self.links.values()):
                return
            time.sleep(0.05)
        missing = [s for s, link in self.links.items() if link.powered and not link.connected]
        raise TimeoutError(f"{len(missing)} simulated stores not connected: {missing[:5]}")

    def power_cut(self, store_id: str) -> None:
        """The box loses power: its TCP connection dies without DISCONNECT (the broker
        then publishes its Last Will)."""
        self.call(lambda: self._drop(self.links[store_id]))

    def power_on(self, store_id: str) -> None:
        """The box boots again: a new session (+1), state, birth, heartbeat."""

        def task() -> None:
            link = self.links[store_id]
            link.powered = True
            link.store.session += 1
            link.store.seq = 0
            self._connect(link)

        self.call(task)

    def stop_cleanly(self, store_id: str) -> None:
        """A planned stop: ``state`` offline reason stopped, then DISCONNECT (no will)."""

        def task() -> None:
            link = self.links[store_id]
            if link.client is not None and link.connected:
                self._publish(link, "state", link.store.state(False, "stopped"), retain=True)
                link.client.disconnect()
                self._pump(link)
            link.powered = False

        self.call(task)

    def set_stage(self, store_id: str, stage: str) -> None:
        def task() -> None:
            link = self.links[store_id]
            data = link.store.advance_stage(stage)
            if link.connected:
                self._publish(link, "event", link.store.event("stage_changed", data))
                self._beat(link)

        self.call(task)

    def emit(self, store_id: str, event_type: str, data: dict[str, Any]) -> None:
        def task() -> None:
            link = self.links[store_id]
            self._fold_event(link.store, event_type, data)
            if link.connected:
                self._publish(link, "event", link.store.event(event_type, data))

        self.call(task)

    def publish_raw(self, store_id: str, suffix: str, payload: bytes, retain: bool = False) -> None:
        """Anything on a store's topic (a malformed message, for instance)."""

        def task() -> None:
            link = self.links[store_id]
            self._publish(link, suffix, payload, retain=retain)

        self.call(task)

    def mute(self, store_id: str, muted: bool = True) -> None:
        """Stop (or resume) a store's heartbeats while its connection stays up."""

        def task() -> None:
            self.links[store_id].muted = muted

        self.call(task)

    def beat_now(self, store_id: str) -> None:
        self.call(lambda: self._beat(self.links[store_id]))

    def churn(self, rate_per_s: float, outage_s: tuple[float, float] = (20, 120)) -> None:
        """Random life in the fleet: stage progress, alarms, KCPs, power cuts."""

        def tick() -> None:
            if self._stop.is_set():
                return
            link = self.rng.choice(list(self.links.values()))
            store = link.store
            roll = self.rng.random()
            if not link.powered:
                pass
            elif roll < 0.35 and store.stage != "completed":
                nxt = STAGES[STAGES.index(store.stage) + 1]
                data = store.advance_stage(nxt)
                if link.connected:
                    self._publish(link, "event", store.event("stage_changed", data))
            elif roll < 0.6:
                camera = self.rng.choice(store.cameras)
                raised = camera not in store.issues
                data = {
                    "camera_id": camera,
                    "code": "low_contrast",
                    "state": "raised" if raised else "cleared",
                    "raised": raised,
                    "severity": "fail",
                    "value": 0.1,
                    "threshold": 0.2,
                }
                self._fold_event(store, "quality_alarm", data)
                if link.connected:
                    self._publish(link, "event", store.event("quality_alarm", data))
            elif roll < 0.8:
                kcp = self.rng.choice(store.kcps)
                kind = "kcp_covered" if kcp in store.uncovered else "kcp_uncovered"
                self._fold_event(store, kind, {"kcp": kcp})
                if link.connected:
                    self._publish(link, "event", store.event(kind, {"kcp": kcp}))
            elif roll < 0.9 and link.connected:
                self._drop(link)
                back = self.rng.uniform(*outage_s)
                self._later(back, functools.partial(self._reboot, link))
            self._later(self.rng.expovariate(rate_per_s), tick)

        self.call(lambda: self._later(self.rng.expovariate(rate_per_s), tick), wait=False)

    def stop(self) -> None:
        def task() -> None:
            for link in self.links.values():
                if link.client is not None and link.connected:
                    with contextlib.suppress(Exception):
                        self._publish(
                            link, "state", link.store.state(False, "stopped"), retain=True
                        )
                        link.client.disconnect()
                        self._pump(link)
                self._close(link)

        if self._thread.is_alive():
            with contextlib.suppress(TimeoutError):
                self.call(task, timeout_s=60)
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(10)
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def clear_retained(self) -> None:
        """Remove every retained state and birth of the simulated stores from the broker."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect(self.host, self.port, 30)
        client.loop_start()
        try:
            for link in self.links.values():
                for suffix in ("state", "birth"):
                    client.publish(
                        f"{link.store.root}/{suffix}", b"", qos=1, retain=True
                    ).wait_for_publish(10)
        finally:
            client.disconnect()
            client.loop_stop()

    # --- the loop thread -----------------------------------------------------------------

    def _later(self, delay_s: float, task: Callable[[], None]) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay_s, self._timer_seq, task))

    def _reboot(self, link: _Link) -> None:
        link.powered = True
        link.store.session += 1
        link.store.seq = 0
        self._connect(link)

    def _fold_event(self, store: SimStore, event_type: str, data: dict[str, Any]) -> None:
        if event_type == "quality_alarm":
            camera = data["camera_id"]
            if data.get("state", "raised" if data.get("raised") else "cleared") == "raised":
                store.issues[camera] = [data["code"]]
            else:
                store.issues.pop(camera, None)
        elif event_type == "kcp_uncovered":
            store.uncovered.add(data["kcp"])
        elif event_type == "kcp_covered":
            store.uncovered.discard(data["kcp"])
        elif event_type == "camera_offline":
            store.cameras_offline.add(data["camera_id"])
        elif event_type == "camera_online":
            store.cameras_offline.discard(data["camera_id"])

    def _connect(self, link: _Link) -> None:
        self._close(link)
        store = link.store
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"kitchen-agent-{store.store_id}",
            protocol=mqtt.MQTTv5,
        )
        client.will_set(f"{store.root}/state", store.state(False, "connection_lost"), 1, True)
        if self.password is not None:
            client.username_pw_set(f"{store.district}/{store.store_id}", self.password)
        client.on_connect = lambda c, u, f, rc, p, link=link: self._on_connect(link, rc)
        client.on_disconnect = lambda c, u, f, rc, p, link=link: self._on_disconnect(link)
        client.on_socket_register_write = lambda c, u, s, link=link: self._want_write(link, True)
        client.on_socket_unregister_write = lambda c, u, s, link=link: self._want_write(link, False)
        link.client = client
        link.powered = True
        try:
            client.connect(self.host, self.port, keepalive=self.keepalive_s, clean_start=True)
        except OSError:
            self._later(1.0, lambda: self._connect(link))
            return
        link.sock = client.socket()  # type: ignore[assignment]
        assert link.sock is not None
        self.selector.register(link.sock, selectors.EVENT_READ, link)
        self._want_write(link, client.want_write())

    def _want_write(self, link: _Link, wanted: bool) -> None:
        if link.sock is None:
            return
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if wanted else 0)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(link.sock, events, link)

    def _on_connect(self, link: _Link, rc: Any) -> None:
        if rc.is_failure:
            return
        link.connected = True
        store = link.store
        self._publish(link, "state", store.state(True, "connected"), retain=True)
        self._publish(link, "birth", store.birth(), retain=True)
        self._beat(link)
        # Spread the fleet's heartbeats over the interval, as boots spread them in the field.
        link.next_beat = time.monotonic() + self.rng.uniform(0.2, 1.0) * store.heartbeat_interval_s

    def _on_disconnect(self, link: _Link) -> None:
        link.connected = False

    def _beat(self, link: _Link) -> None:
        if not link.connected or link.muted:
            return
        self._publish(link, "heartbeat", link.store.heartbeat())
        self.heartbeats += 1
        link.next_beat = time.monotonic() + link.store.heartbeat_interval_s

    def _publish(self, link: _Link, suffix: str, payload: bytes, retain: bool = False) -> None:
        if link.client is None:
            return
        link.client.publish(f"{link.store.root}/{suffix}", payload, qos=1, retain=retain)
        self.published += 1
        if self.on_publish is not None:
            self.on_publish(link.store.store_id, suffix)
        self._pump(link)

    def _pump(self, link: _Link) -> None:
        if link.client is not None and link.sock is not None:
            with contextlib.suppress(Exception):
                link.client.loop_write()

    def _drop(self, link: _Link) -> None:
        link.powered = False
        if link.sock is not None:
            with contextlib.suppress(OSError):
                link.sock.shutdown(socket.SHUT_RDWR)
        self._close(link)

    def _close(self, link: _Link) -> None:
        if link.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(link.sock)
            with contextlib.suppress(OSError):
                link.sock.close()
        link.sock = None
        link.client = None
        link.connected = False

    def _run(self) -> None:
        last_misc = 0.0
        while not self._stop.is_set():
            for key, mask in self.selector.select(timeout=0.05):
                if key.data is None:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    continue
                link: _Link = key.data
                client = link.client
                if client is None:
                    continue
                if mask & selectors.EVENT_READ:
                    rc = client.loop_read()
                    if rc != mqtt.MQTT_ERR_SUCCESS and link.powered:
                        self._close(link)
                        self._later(1.0, functools.partial(self._reboot, link))
                        continue
                if mask & selectors.EVENT_WRITE:
                    client.loop_write()
            while True:
                try:
                    task = self._tasks.get_nowait()
                except queue.Empty:
                    break
                task()
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, task = heapq.heappop(self._timers)
                task()
            for link in self.links.values():
                if link.connected and now >= link.next_beat:
                    self._beat(link)
            if now - last_misc >= 1.0:
                last_misc = now
                for link in self.links.values():
                    if link.client is not None:
                        link.client.loop_misc()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--interval", type=int, default=30, help="heartbeat interval, s")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--churn", action="store_true", help="random life in the fleet")
    args = parser.parse_args(argv)
    parts = urlsplit(args.broker)
    raise_fd_limit()
    stores = make_stores(args.stores, heartbeat_interval_s=args.interval)
    fleet = Fleet(parts.hostname or "127.0.0.1", parts.port or 1883, stores).start()
    fleet.wait_connected()
    print(f"{len(stores)} stores connected to {args.broker}", flush=True)
    if args.churn:
        fleet.churn(rate_per_s=max(0.1, len(stores) / 60))
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(args.duration)
    fleet.stop()
    print(f"published {fleet.published} messages ({fleet.heartbeats} heartbeats)")
    return 0


def raise_fd_limit() -> None:
    """A thousand connections need more than the usual 1024 descriptors."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
