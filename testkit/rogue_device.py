"""A rogue device for the hostile-LAN tests: what a broken or malicious device on a kitchen
LAN can throw at the box, over real sockets, and a listener that records whatever reaches
"another host".

Run it in its own network namespace (``testkit/hostile_lan.py``) as
``python -m testkit.rogue_device SPEC_JSON``. SPEC keys: ``ip`` (its address),
``recorder_ip`` (a second address: the other host it points URIs at), ``report`` (a JSON
lines file it appends to), ``secrets`` (passwords that must never reach it: any
WS-Security token made with one is reported as a leak), ``claim`` (``mac``, ``serial``,
``endpoint`` of a real camera to impersonate), ``honest_ip``.

What it does:

- answers every WS-Discovery Probe with its devices, then with a flood (hundreds of made-up
  devices), XAddrs naming other hosts, over-long datagrams and malformed ones (the input
  that made the old salvage regex quadratic); sends Hello floods, garbage and a Bye forged
  with the honest camera's endpoint to the multicast group all along;
- ONVIF devices on its own address: ``media`` (media service on the other host),
  ``redirect`` (stream and snapshot URIs on the other host), ``claim`` (answers without a
  login with the honest camera's MAC and serial, refuses every login, records tokens),
  ``bomb`` (snapshot: a 67 Mpx JPEG on its own address; stream on the other host);
- SOAP servers that answer headers one byte at a time, a body one byte at a time, and a
  256 MB body;
- the recorder: listeners on the other host (HTTP, RTSP, the media service's port) that
  report every connection and the first bytes it carried.

Report lines: ``{"kind": "ready", "cameras": {...}}``, ``{"kind": "recorded", ...}``,
``{"kind": "leak", ...}``, ``{"kind": "served", "server", "held_s", "sent"}``,
``{"kind": "probes", "count"}``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from testkit.fake_onvif import DISCOVERY_PORT, MULTICAST_GROUP, NS, FakeCamera
from testkit.servers import QuietTCPServer

RECORDER_PORTS = (80, 554, 8080)
SERVER_PORTS = {"slow_headers": 8100, "slow_body": 8101, "huge": 8102, "bomb_snapshot": 8103}
CAMERA_PORTS = {"media": 8000, "redirect": 8001, "claim": 8002, "bomb": 8003}


class Report:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.lock = threading.Lock()

    def write(self, **fields: Any) -> None:
        line = json.dumps(fields, default=str) + "\n"
        with self.lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)


class RogueCamera(FakeCamera):
    """A fake ONVIF camera that takes any login (or, ``refuse``, none) and checks every
    WS-Security token it gets against the passwords that must never reach it."""

    report: Report | None = None
    secrets: tuple[str, ...] = ()
    name: str = "rogue"
    refuse: bool = False

    def _check_auth(self, root: ET.Element) -> tuple[bool, str | None, str]:
        token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return False, None, "no UsernameToken"
        created = token.findtext("wsu:Created", None, NS)
        for index, secret in enumerate(self.secrets):
            if _digest_made_with(token, secret) and self.report is not None:
                self.report.write(kind="leak", camera=self.name, secret=index, via="ws-security")
        return (not self.refuse), created, "refused"


def _digest_made_with(token: ET.Element, secret: str) -> bool:
    password = token.find("wsse:Password", NS)
    nonce = token.findtext("wsse:Nonce", "", NS)
    created = token.findtext("wsu:Created", "", NS)
    if password is None:
        return False
    if password.get("Type", "").endswith("#PasswordText"):
        return (password.text or "") == secret
    try:
        raw = base64.b64decode(nonce)
    except ValueError:
        return False
    digest = hashlib.sha1(raw + created.encode() + secret.encode(), usedforsecurity=False)
    return base64.b64encode(digest.digest()).decode() == (password.text or "").strip()


# --- TCP servers -------------------------------------------------------------------------------


def _read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 1 << 20:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            missing = int(line.split(b":")[1]) - len(body)
            while missing > 0:
                chunk = conn.recv(min(missing, 65536))
                if not chunk:
                    break
                missing -= len(chunk)
    return data


def serve(host: str, port: int, handle: Any) -> QuietTCPServer:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            handle(self.request, self.client_address)

    server = QuietTCPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def recorder(report: Report, port: int) -> Any:
    def handle(conn: socket.socket, peer: tuple[str, int]) -> None:
        conn.settimeout(2)
        try:
            data = conn.recv(4096)
        except OSError:
            data = b""
        report.write(kind="recorded", port=port, peer=peer[0], data=data[:512].decode("latin-1"))

    return handle


def evil_soap(report: Report, name: str, jpeg: bytes = b"") -> Any:
    def handle(conn: socket.socket, _peer: tuple[str, int]) -> None:
        started, sent = time.monotonic(), 0
        try:
            _read_request(conn)
            if name == "slow_headers":
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(200):  # one byte every 0.2 s for up to 40 s
                    conn.sendall(b"a")
                    sent += 1
                    time.sleep(0.2)
            elif name == "slow_body":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                    b"Content-Length: 100000\r\n\r\n<"
                )
                for _ in range(200):
                    conn.sendall(b"a")
                    sent += 1
                    time.sleep(0.2)
            elif name == "huge":
                total = 256 * 1024 * 1024
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\n"
                    + f"Content-Length: {total}\r\n\r\n".encode()
                )
                block = b"<a>" + b" " * 65533
                while sent < total:
                    conn.sendall(block)
                    sent += len(block)
            elif name == "bomb_snapshot":
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
                    + f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                )
                sent = len(jpeg)
        except OSError:
            pass
        report.write(
            kind="served", server=name, held_s=round(time.monotonic() - started, 2), sent=sent
        )

    return handle


# --- WS-Discovery --------------------------------------------------------------------------------


def _envelope(action: str, body: str, relates_to: str = "") -> bytes:
    relates = f"<a:RelatesTo>{relates_to}</a:RelatesTo>" if relates_to else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:d="{NS["d"]}" '
        f'xmlns:dn="{NS["dn"]}"><s:Header>'
        f"<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/{action}</a:Action>"
        f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>{relates}</s:Header>"
        f"<s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _match(tag: str, endpoint: str, xaddrs: str) -> str:
    return (
        f"<d:{tag}><a:EndpointReference><a:Address>{endpoint}</a:Address>"
        "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
        f"<d:XAddrs>{xaddrs}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:{tag}>"
    )


def _made_up(ip: str, count: int, tag: str = "ProbeMatch") -> str:
    return "".join(
        _match(tag, f"urn:uuid:{uuid.uuid4()}", f"http://{ip}:{random.randint(1024, 65000)}/x")
        for _ in range(count)
    )


def garbage(ip: str) -> list[bytes]:
    """Datagrams no parser should choke on: quadratic bait, over-long, nested, binary."""
    return [
        b"probe " + b"<" * 30_000,
        b"ProbeMatch <d:Probe" + b"<a:" * 9_000,
        _envelope("ProbeMatches", "<d:ProbeMatches>" + _made_up(ip, 180) + "</d:ProbeMatches>"),
        b"<a>" * 10_000,
        os.urandom(1400),
        b"\xff\xfe" + "Hello".encode("utf-16-le") * 5000,
    ]


class Discovery:
    def __init__(self, spec: dict[str, Any], report: Report, devices: dict[str, str]) -> None:
        self.spec = spec
        self.ip = spec["ip"]
        self.report = report
        self.devices = devices  # endpoint -> device-service URL (on its own address)
        self.stop = threading.Event()
        self.seen: set[str] = set()
        self.probes = 0
        unicast = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        unicast.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        unicast.bind((self.ip, DISCOVERY_PORT))
        unicast.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.ip))
        unicast.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        group = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        group.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        group.bind((MULTICAST_GROUP, DISCOVERY_PORT))
        membership = struct.pack(
            "4s4s", socket.inet_aton(MULTICAST_GROUP), socket.inet_aton(self.ip)
        )
        group.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        for sock in (unicast, group):
            sock.settimeout(0.2)
        self.unicast, self.group = unicast, group

    def start(self) -> None:
        for sock in (self.unicast, self.group):
            threading.Thread(target=self._answer, args=(sock,), daemon=True).start()
        threading.Thread(target=self._announce, daemon=True).start()

    def _send(self, data: bytes, target: tuple[str, int]) -> None:
        # Over the UDP limit or a full buffer: on to the next one.
        with contextlib.suppress(OSError):
            self.unicast.sendto(data, target)

    def _answer(self, sock: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                data, peer = sock.recvfrom(65535)
            except OSError:
                continue
            text = data.decode("utf-8", "replace")
            if "Probe" not in text or "ProbeMatch" in text:
                continue
            message_id = text.split("MessageID>", 1)[-1].split("<", 1)[0]
            if message_id in self.seen:
                continue
            self.seen.add(message_id)
            self.probes += 1
            self.report.write(kind="probes", count=self.probes)
            # Its devices first, one datagram each (what a camera sends) ...
            for endpoint, xaddr in self.devices.items():
                self._send(_envelope("ProbeMatches", _match("ProbeMatch", endpoint, xaddr)), peer)
            # ... devices on other hosts (the password would follow) ...
            others = (
                f"http://{self.spec['recorder_ip']}:8080/onvif/device_service "
                f"http://{self.spec['honest_ip']}/onvif/device_service"
            )
            self._send(
                _envelope("ProbeMatches", _match("ProbeMatch", f"urn:uuid:{uuid.uuid4()}", others)),
                peer,
            )
            # ... then a flood and garbage.
            for _ in range(8):
                body = "<d:ProbeMatches>" + _made_up(self.ip, 100) + "</d:ProbeMatches>"
                self._send(_envelope("ProbeMatches", body), peer)
            for junk in garbage(self.ip):
                self._send(junk, peer)

    def _announce(self) -> None:
        group = (MULTICAST_GROUP, DISCOVERY_PORT)
        claim = self.spec["claim"]["endpoint"]
        rounds = 0
        while not self.stop.wait(0.25):
            rounds += 1
            self._send(_envelope("Hello", _made_up(self.ip, 60, "Hello")), group)
            for junk in garbage(self.ip)[:2]:
                self._send(junk, group)
            if rounds % 8 == 0:  # a Bye forged with the honest camera's endpoint
                bye = (
                    f"<d:Bye><a:EndpointReference><a:Address>{claim}</a:Address>"
                    "</a:EndpointReference></d:Bye>"
                )
                self._send(_envelope("Bye", bye), group)


# --- the device ----------------------------------------------------------------------------------


def bomb_jpeg() -> bytes:
    import cv2
    import numpy as np

    ok, encoded = cv2.imencode(
        ".jpg", np.zeros((8192, 8192), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 10]
    )
    assert ok
    return bytes(encoded)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    report = Report(spec["report"])
    ip, other = spec["ip"], spec["recorder_ip"]
    servers = [serve(other, port, recorder(report, port)) for port in RECORDER_PORTS]
    jpeg = bomb_jpeg()
    servers += [
        serve(ip, port, evil_soap(report, name, jpeg)) for name, port in SERVER_PORTS.items()
    ]
    cameras: dict[str, RogueCamera] = {}
    for name, port in CAMERA_PORTS.items():
        kwargs: dict[str, Any] = {"host": ip, "port": port, "discovery": False}
        persona = "generic"
        if name == "media":
            kwargs["media_service"] = f"http://{other}:8080/onvif/media_service"
        if name in ("redirect", "claim", "bomb"):
            kwargs["rtsp_main"] = f"rtsp://{other}:554/main"
            kwargs["rtsp_sub"] = f"rtsp://{other}:554/sub"
        if name in ("redirect", "claim"):
            kwargs["snapshot_base"] = f"http://{other}:80"
        if name == "bomb":
            kwargs["snapshot_base"] = f"http://{ip}:{SERVER_PORTS['bomb_snapshot']}"
        if name == "claim":
            persona = "open_info"
            kwargs.update(
                mac=spec["claim"]["mac"],
                serial=spec["claim"]["serial"],
                endpoint_uuid=spec["claim"]["endpoint"].removeprefix("urn:uuid:"),
            )
        camera = RogueCamera(persona=persona, **kwargs)
        camera.report, camera.name, camera.refuse = report, name, name == "claim"
        camera.secrets = tuple(spec.get("secrets", ()))
        cameras[name] = camera.start()
    devices = {c.endpoint: c.xaddr for c in cameras.values()}
    for name, port in SERVER_PORTS.items():
        if name != "bomb_snapshot":
            devices[f"urn:uuid:{uuid.uuid4()}"] = f"http://{ip}:{port}/onvif/device_service"
    discovery = Discovery(spec, report, devices)
    discovery.start()
    report.write(
        kind="ready", cameras={n: {"port": c.port, "mac": c.mac} for n, c in cameras.items()}
    )
    print(json.dumps({"ready": True}), flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    while not stopping.wait(0.2):
        pass
    discovery.stop.set()
    for camera in cameras.values():
        camera.stop()
    for server in servers:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
