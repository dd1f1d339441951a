"""A fake ONVIF camera: SOAP over real HTTP and WS-Discovery over real UDP.

It behaves like the cameras installers meet in kitchens, switchable by persona:

- ``generic``: a well-behaved ONVIF Profile S camera.
- ``hikvision``: WS-UsernameToken *digest* only, ``Created`` must be Zulu (``...Z``, it
  rejects ``+00:00``), rejects clock skew over 5 s, answers auth failures with HTTP 401,
  Hikvision's date format in GetSystemDateAndTime (Date before Time, against the schema's
  order, and ``CST-8:00:00``),
  HTTP Digest on the snapshot URL.
- ``dahua``: GetServices answers a Fault (clients must fall back to GetCapabilities).
- ``zero_addr``: advertises ``http://0.0.0.0:PORT/...`` in XAddrs.
- ``port_twice``: advertises ``http://HOST:PORT:PORT/...``.
- ``skewed``: its clock is hours off and it allows 5 s of skew: only a client that
  corrects ``Created`` by the skew gets in.
- ``hang``: accepts HTTP connections and never answers.
- ``garbage``: answers SOAP with broken XML.
- ``other_password``: its password is not the site's password.
- ``reuse_msgid``: its ProbeMatch reuses the prober's MessageID and has no RelatesTo.
- ``prefix_only``: answers only Probes whose Types literally say ``dn:NetworkVideoTransmitter``.
- ``malformed_probe_match``: ProbeMatch without wrappers, odd prefixes, a raw ``&`` and no
  MetadataVersion (not well-formed XML).
- ``no_multicast``: never joins the multicast group (a network that blocks multicast):
  found only by a unicast ``--scan``.
- ``not_onvif``: a web server that is not a camera (HTML 404 on the SOAP URL).
- ``open_info``: answers GetDeviceInformation and GetNetworkInterfaces (serial, MAC) to a
  request with no credentials at all, as some firmwares do; a wrong login is still refused.

Personas combine with ``+`` (``hikvision+zero_addr``). Start in-process with
``FakeCamera(...).start()`` or as a process with ``python -m testkit.fake_onvif``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from testkit.servers import QuietHTTPServer

MULTICAST_GROUP = "239.255.255.250"
DISCOVERY_PORT = 3702
DEFAULT_PASSWORD = "kitchen-cam-pw"
OTHER_PASSWORD = "not-the-site-password"

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
}
_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<s:Envelope'
    + "".join(f' xmlns:{p}="{u}"' for p, u in NS.items() if p not in ("a", "d", "dn"))
    + ">"
)

PERSONAS = (
    "generic",
    "hikvision",
    "dahua",
    "zero_addr",
    "port_twice",
    "skewed",
    "hang",
    "garbage",
    "other_password",
    "reuse_msgid",
    "prefix_only",
    "malformed_probe_match",
    "no_multicast",
    "not_onvif",
    "open_info",
)


@dataclass
class Behaviour:
    manufacturer: str = "Generic"
    model: str = "IPC-1080"
    firmware: str = "V1.0.0 build 230101"
    require_digest: bool = False
    require_zulu: bool = False
    max_skew_s: float = 300.0
    clock_offset_s: float = 0.0
    hikvision_dates: bool = False
    auth_status: int = 400
    services_fault: bool = False
    xaddr_style: str = "normal"  # normal | zero | port_twice
    hang: bool = False
    garbage: bool = False
    wrong_password: bool = False
    probe_reply: str = "normal"  # normal | reuse_msgid | malformed
    prefix_only: bool = False
    multicast: bool = True
    not_onvif: bool = False
    open_info: bool = False
    snapshot_auth: str = "basic"  # basic | digest


def behaviour_for(persona: str) -> Behaviour:
    behaviour = Behaviour()
    for raw_name in persona.split("+"):
        name = raw_name.strip()
        if name not in PERSONAS:
            raise ValueError(f"unknown persona {name!r}; choose from {', '.join(PERSONAS)}")
        if name == "hikvision":
            behaviour.manufacturer, behaviour.model = "HIKVISION", "DS-2CD2043G2-I"
            behaviour.firmware = "V5.7.3 build 220112"
            behaviour.require_digest = behaviour.require_zulu = True
            behaviour.max_skew_s = 5.0
            behaviour.hikvision_dates = True
            behaviour.auth_status = 401
            behaviour.snapshot_auth = "digest"
        elif name == "dahua":
            behaviour.manufacturer, behaviour.model = "Dahua", "IPC-HFW1230S"
            behaviour.firmware = "2.800.0000000.25.R"
            behaviour.services_fault = True
        elif name == "zero_addr":
            behaviour.xaddr_style = "zero"
        elif name == "port_twice":
            behaviour.xaddr_style = "port_twice"
        elif name == "skewed":
            behaviour.clock_offset_s = -3 * 3600 - 17 * 60
            behaviour.max_skew_s = 5.0
        elif name == "hang":
            behaviour.hang = True
        elif name == "garbage":
            behaviour.garbage = True
        elif name == "other_password":
            behaviour.wrong_password = True
        elif name == "reuse_msgid":
            behaviour.probe_reply = "reuse_msgid"
        elif name == "prefix_only":
            behaviour.prefix_only = True
        elif name == "malformed_probe_match":
            behaviour.probe_reply = "malformed"
        elif name == "no_multicast":
            behaviour.multicast = False
        elif name == "not_onvif":
            behaviour.not_onvif = True
        elif name == "open_info":
            behaviour.open_info = True
    return behaviour


@dataclass
class EncoderConfig:
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    gov: int
    profile: str = "Main"


@dataclass
class _Request:
    operation: str
    authenticated: bool
    created: str | None = None
    refused: str | None = None  # why authentication failed (the camera does not say)
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class FakeCamera:
    persona: str = "generic"
    host: str = "127.0.0.1"
    port: int = 0
    rtsp_main: str = "rtsp://127.0.0.1:8554/main"
    rtsp_sub: str = "rtsp://127.0.0.1:8554/sub"
    username: str = "admin"
    password: str = DEFAULT_PASSWORD
    discovery: bool = True
    discovery_port: int = DISCOVERY_PORT
    multicast_interface: str | None = None  # IP of the interface to join the group on
    mac: str | None = None
    serial: str | None = None
    endpoint_uuid: str | None = None
    clock_offset_s: float | None = None
    response_delay_s: float = 0.0  # a slow camera: every SOAP answer waits this long
    media_service: str | None = None  # advertise this media XAddr instead of its own
    snapshot_base: str | None = None  # advertise snapshots here instead of on itself
    requests: list[_Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.behaviour = behaviour_for(self.persona)
        if self.behaviour.wrong_password:
            self.password = OTHER_PASSWORD
        if self.clock_offset_s is not None:
            self.behaviour.clock_offset_s = self.clock_offset_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._http: QuietHTTPServer | None = None
        self._udp: list[socket.socket] = []
        self._lock = threading.Lock()
        self.endpoint_uuid = self.endpoint_uuid or str(uuid.uuid4())
        seed = hashlib.sha1(self.endpoint_uuid.encode(), usedforsecurity=False).hexdigest()
        if self.mac is None:
            self.mac = "02:" + ":".join(seed[i : i + 2] for i in range(0, 10, 2))
        if self.serial is None:
            self.serial = f"FK{seed[10:22].upper()}"
        self.encoders = {
            "venc_main": EncoderConfig(
                "venc_main", "MainStream", "H264", 1920, 1080, 25, 4096, 50, "High"
            ),
            "venc_sub": EncoderConfig(
                "venc_sub", "SubStream", "H264", 640, 360, 15, 512, 30, "Main"
            ),
        }

    # --- lifecycle --------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"urn:uuid:{self.endpoint_uuid}"

    @property
    def xaddr(self) -> str:
        """The true device-service URL (what a client should end up using)."""
        return f"http://{self.host}:{self.port}/onvif/device_service"

    @property
    def advertised_xaddr(self) -> str:
        style = self.behaviour.xaddr_style
        if style == "zero":
            return f"http://0.0.0.0:{self.port}/onvif/device_service"
        if style == "port_twice":
            return f"http://{self.host}:{self.port}:{self.port}/onvif/device_service"
        return self.xaddr

    def start(self) -> Self:
        self._http = QuietHTTPServer((self.host, self.port), _handler_for(self))
        self.port = self._http.server_address[1]
        server = self._http
        self._spawn(lambda: server.serve_forever(poll_interval=0.05), "http")
        if self.discovery:
            self._start_discovery()
        return self

    def stop(self) -> None:
        if self._stop.is_set():
            return
        if self.discovery and self._udp:
            with contextlib.suppress(OSError):
                self._send_announcement("Bye")
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for sock in self._udp:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in self._threads:
            thread.join(2.0)

    def __enter__(self) -> FakeCamera:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=f"fake-{self.persona}-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def now(self) -> dt.datetime:
        """The camera's own idea of the time (UTC)."""
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.behaviour.clock_offset_s)

    def operations(self) -> list[str]:
        with self._lock:
            return [r.operation for r in self.requests]

    # --- WS-Discovery -----------------------------------------------------------------

    def _start_discovery(self) -> None:
        unicast = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        unicast.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        unicast.bind((self.host, self.discovery_port))
        unicast.setsockopt(
            socket.IPPROTO_IP,
            socket.IP_MULTICAST_IF,
            socket.inet_aton(self.multicast_interface or self.host),
        )
        unicast.settimeout(0.2)
        self._udp.append(unicast)
        self._spawn(lambda: self._serve_udp(unicast, unicast), "udp-unicast")
        if self.behaviour.multicast:
            group = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            group.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            group.bind((MULTICAST_GROUP, self.discovery_port))
            membership = struct.pack(
                "4s4s",
                socket.inet_aton(MULTICAST_GROUP),
                socket.inet_aton(self.multicast_interface or self.host),
            )
            group.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            group.settimeout(0.2)
            self._udp.append(group)
            self._spawn(lambda: self._serve_udp(group, unicast), "udp-multicast")
            self._send_announcement("Hello")

    def _serve_udp(self, listen: socket.socket, reply_from: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                data, peer = listen.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            reply = self.probe_reply(data)
            if reply is not None:
                with contextlib.suppress(OSError):
                    reply_from.sendto(reply, peer)

    def probe_reply(self, data: bytes) -> bytes | None:
        """The datagram this camera answers ``data`` with (None: ignore it)."""
        text = data.decode("utf-8", "replace")
        if "Probe" not in text or "ProbeMatch" in text:
            return None
        try:
            root = ET.fromstring(data)
        except ET.ParseError:
            return None
        if not any(el.tag.endswith("}Probe") for el in root.iter()):
            return None
        message_id = next(
            (el.text or "" for el in root.iter() if el.tag.endswith("}MessageID")), ""
        )
        types = " ".join((el.text or "") for el in root.iter() if el.tag.endswith("}Types"))
        if self.behaviour.prefix_only:
            if "dn:NetworkVideoTransmitter" not in types:
                return None
        elif types.strip() and not re.search(r"(NetworkVideoTransmitter|Device)\b", types):
            return None
        return self._probe_match(message_id.strip()).encode("utf-8")

    def _scopes(self) -> str:
        name = self.behaviour.manufacturer.replace(" ", "%20")
        return (
            f"onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming "
            f"onvif://www.onvif.org/hardware/{self.behaviour.model} "
            f"onvif://www.onvif.org/name/{name} onvif://www.onvif.org/location/kitchen"
        )

    def _probe_match(self, relates_to: str) -> str:
        style = self.behaviour.probe_reply
        if style == "malformed":
            # No ProbeMatches wrapper, odd prefixes, a raw '&' (not well-formed), no
            # MessageID, RelatesTo or MetadataVersion: all seen from real firmwares.
            return (
                '<?xml version="1.0"?><SOAP-ENV:Envelope '
                'xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
                'xmlns:wsa5="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
                'xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery">'
                "<SOAP-ENV:Header><wsa5:Action>"
                "http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches"
                "</wsa5:Action></SOAP-ENV:Header><SOAP-ENV:Body><wsdd:ProbeMatch>"
                f"<wsa5:EndpointReference><wsa5:Address>{self.endpoint}</wsa5:Address>"
                "</wsa5:EndpointReference><wsdd:Types>dn:NetworkVideoTransmitter</wsdd:Types>"
                f"<wsdd:Scopes>onvif://www.onvif.org/name/Cheap&Cam {self._scopes()}</wsdd:Scopes>"
                f"<wsdd:XAddrs>{self.advertised_xaddr}</wsdd:XAddrs>"
                "</wsdd:ProbeMatch></SOAP-ENV:Body>"
            )
        message_id = relates_to if style == "reuse_msgid" else f"urn:uuid:{uuid.uuid4()}"
        relates = (
            "" if style == "reuse_msgid" else f"<a:RelatesTo>{escape(relates_to)}</a:RelatesTo>"
        )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:d="{NS["d"]}" '
            f'xmlns:dn="{NS["dn"]}" xmlns:tds="{NS["tds"]}"><s:Header>'
            "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action>"
            f"<a:MessageID>{escape(message_id)}</a:MessageID>{relates}"
            "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
            "</s:Header><s:Body><d:ProbeMatches><d:ProbeMatch>"
            f"<a:EndpointReference><a:Address>{self.endpoint}</a:Address></a:EndpointReference>"
            "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>"
            f"<d:Scopes>{self._scopes()}</d:Scopes>"
            f"<d:XAddrs>{self.advertised_xaddr}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion>"
            "</d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"
        )

    def _send_announcement(self, kind: str) -> None:
        if not self._udp or not self.behaviour.multicast:
            return
        body = (
            f"<d:{kind}><a:EndpointReference><a:Address>{self.endpoint}</a:Address>"
            "</a:EndpointReference>"
            + (
                ""
                if kind == "Bye"
                else "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
                f"<d:Scopes>{self._scopes()}</d:Scopes>"
                f"<d:XAddrs>{self.advertised_xaddr}</d:XAddrs>"
                "<d:MetadataVersion>1</d:MetadataVersion>"
            )
            + f"</d:{kind}>"
        )
        message = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:a="{NS["a"]}" xmlns:d="{NS["d"]}" '
            f'xmlns:dn="{NS["dn"]}"><s:Header>'
            f"<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/{kind}</a:Action>"
            f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
            "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
            f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
        )
        self._udp[0].sendto(message.encode("utf-8"), (MULTICAST_GROUP, self.discovery_port))

    # --- SOAP -------------------------------------------------------------------------

    def handle_soap(self, body: bytes, path: str) -> tuple[int, str]:
        """(HTTP status, response XML) for one SOAP request."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return 400, self._fault("s:Sender", "ter:WellFormed", "Malformed request")
        soap_body = root.find("s:Body", NS)
        if soap_body is None or len(soap_body) == 0:
            return 400, self._fault("s:Sender", "ter:WellFormed", "No body")
        request = soap_body[0]
        operation = request.tag.rsplit("}", 1)[-1]
        authenticated, created, reason = self._check_auth(root)
        with self._lock:
            self.requests.append(_Request(operation, authenticated, created))
        anonymous_ok = operation == "GetSystemDateAndTime" or (
            self.behaviour.open_info
            and reason == "no UsernameToken"
            and operation in ("GetDeviceInformation", "GetNetworkInterfaces")
        )
        if not authenticated and not anonymous_ok:
            with self._lock:
                self.requests[-1].refused = reason
            # Like real cameras, say nothing about *why* (clock, digest, password).
            return self.behaviour.auth_status, self._fault(
                "s:Sender", "ter:NotAuthorized", "Sender not Authorized"
            )
        handler = getattr(self, f"_op_{operation}", None)
        if handler is None:
            return 400, self._fault(
                "s:Sender", "ter:ActionNotSupported", f"{operation} is not supported"
            )
        result: tuple[int, str] = handler(request, path)
        return result

    def _check_auth(self, root: ET.Element) -> tuple[bool, str | None, str]:
        token = root.find("s:Header/wsse:Security/wsse:UsernameToken", NS)
        if token is None:
            return False, None, "no UsernameToken"
        username = token.findtext("wsse:Username", "", NS)
        password_el = token.find("wsse:Password", NS)
        nonce = token.findtext("wsse:Nonce", "", NS)
        created = token.findtext("wsu:Created", None, NS)
        if password_el is None:
            return False, created, "no password"
        password_type = password_el.get("Type", "")
        if username != self.username:
            return False, created, "unknown user"
        if password_type.endswith("#PasswordText"):
            if self.behaviour.require_digest:
                return False, created, "plain text passwords are refused"
            return (password_el.text or "") == self.password, created, "wrong password"
        if created is None:
            return False, None, "no Created"
        if self.behaviour.require_zulu and not created.endswith("Z"):
            return False, created, "Created must be in Zulu form"
        try:
            when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return False, created, "unreadable Created"
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        if abs((when - self.now()).total_seconds()) > self.behaviour.max_skew_s:
            return False, created, "Created is too far from the camera clock"
        try:
            nonce_bytes = base64.b64decode(nonce)
        except ValueError:
            return False, created, "bad nonce"
        expected = base64.b64encode(
            hashlib.sha1(
                nonce_bytes + created.encode() + self.password.encode(), usedforsecurity=False
            ).digest()
        ).decode()
        return (
            secrets.compare_digest(expected, (password_el.text or "").strip()),
            created,
            ("wrong password"),
        )

    @staticmethod
    def _envelope(body: str) -> str:
        return f"{_ENVELOPE_OPEN}<s:Body>{body}</s:Body></s:Envelope>"

    def _fault(self, code: str, subcode: str, reason: str) -> str:
        return self._envelope(
            "<s:Fault><s:Code>"
            f"<s:Value>{code}</s:Value><s:Subcode><s:Value>{subcode}</s:Value></s:Subcode>"
            f'</s:Code><s:Reason><s:Text xml:lang="en">{escape(reason)}</s:Text></s:Reason>'
            "</s:Fault>"
        )

    def _datetime_xml(self, moment: dt.datetime) -> str:
        date = (
            f"<tt:Date><tt:Year>{moment.year}</tt:Year><tt:Month>{moment.month}</tt:Month>"
            f"<tt:Day>{moment.day}</tt:Day></tt:Date>"
        )
        clock = (
            f"<tt:Time><tt:Hour>{moment.hour}</tt:Hour><tt:Minute>{moment.minute}"
            f"</tt:Minute><tt:Second>{moment.second}</tt:Second></tt:Time>"
        )
        # The schema says Time then Date; Hikvision firmwares send Date first.
        return date + clock if self.behaviour.hikvision_dates else clock + date

    def _op_GetSystemDateAndTime(self, _: ET.Element, __: str) -> tuple[int, str]:
        now = self.now()
        local = now + dt.timedelta(hours=8)
        tz = "CST-8:00:00" if self.behaviour.hikvision_dates else "CST-8"
        return 200, self._envelope(
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false"
            f"</tt:DaylightSavings><tt:TimeZone><tt:TZ>{tz}</tt:TZ></tt:TimeZone>"
            f"<tt:UTCDateTime>{self._datetime_xml(now)}</tt:UTCDateTime>"
            f"<tt:LocalDateTime>{self._datetime_xml(local)}</tt:LocalDateTime>"
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _op_GetDeviceInformation(self, _: ET.Element, __: str) -> tuple[int, str]:
        b = self.behaviour
        return 200, self._envelope(
            f"<tds:GetDeviceInformationResponse><tds:Manufacturer>{escape(b.manufacturer)}"
            f"</tds:Manufacturer><tds:Model>{escape(b.model)}</tds:Model>"
            f"<tds:FirmwareVersion>{escape(b.firmware)}</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{escape(self.serial or '')}</tds:SerialNumber>"
            "<tds:HardwareId>88</tds:HardwareId></tds:GetDeviceInformationResponse>"
        )

    def _op_GetNetworkInterfaces(self, _: ET.Element, __: str) -> tuple[int, str]:
        return 200, self._envelope(
            '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
            "<tt:Enabled>true</tt:Enabled><tt:Info><tt:Name>eth0</tt:Name>"
            f"<tt:HwAddress>{self.mac}</tt:HwAddress><tt:MTU>1500</tt:MTU></tt:Info>"
            "<tt:IPv4><tt:Enabled>true</tt:Enabled><tt:Config><tt:Manual>"
            f"<tt:Address>{self.host}</tt:Address><tt:PrefixLength>24</tt:PrefixLength>"
            "</tt:Manual><tt:DHCP>false</tt:DHCP></tt:Config></tt:IPv4>"
            "</tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
        )

    def _media_xaddr(self) -> str:
        return self.media_service or f"http://{self.host}:{self.port}/onvif/media_service"

    def _op_GetServices(self, _: ET.Element, __: str) -> tuple[int, str]:
        if self.behaviour.services_fault:
            return 400, self._fault(
                "s:Sender", "ter:ActionNotSupported", "GetServices is not supported"
            )
        services = [(NS["tds"], self.xaddr, 2, 40), (NS["trt"], self._media_xaddr(), 2, 60)]
        return 200, self._envelope(
            "<tds:GetServicesResponse>"
            + "".join(
                f"<tds:Service><tds:Namespace>{ns}</tds:Namespace><tds:XAddr>{xaddr}"
                f"</tds:XAddr><tds:Version><tt:Major>{major}</tt:Major><tt:Minor>{minor}"
                "</tt:Minor></tds:Version></tds:Service>"
                for ns, xaddr, major, minor in services
            )
            + "</tds:GetServicesResponse>"
        )

    def _op_GetCapabilities(self, _: ET.Element, __: str) -> tuple[int, str]:
        return 200, self._envelope(
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{self.xaddr}</tt:XAddr></tt:Device>"
            f"<tt:Media><tt:XAddr>{self._media_xaddr()}</tt:XAddr><tt:StreamingCapabilities>"
            "<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>"
            "<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>"
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def _encoder_xml(self, config: EncoderConfig, tag: str) -> str:
        return (
            f'<{tag} token="{config.token}"><tt:Name>{config.name}</tt:Name>'
            f"<tt:UseCount>1</tt:UseCount><tt:Encoding>{config.encoding}</tt:Encoding>"
            f"<tt:Resolution><tt:Width>{config.width}</tt:Width><tt:Height>{config.height}"
            "</tt:Height></tt:Resolution><tt:Quality>4</tt:Quality><tt:RateControl>"
            f"<tt:FrameRateLimit>{config.fps}</tt:FrameRateLimit>"
            "<tt:EncodingInterval>1</tt:EncodingInterval>"
            f"<tt:BitrateLimit>{config.bitrate_kbps}</tt:BitrateLimit></tt:RateControl>"
            f"<tt:H264><tt:GovLength>{config.gov}</tt:GovLength>"
            f"<tt:H264Profile>{config.profile}</tt:H264Profile></tt:H264>"
            "<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0"
            "</tt:IPv4Address></tt:Address><tt:Port>0</tt:Port><tt:TTL>1</tt:TTL>"
            "<tt:AutoStart>false</tt:AutoStart></tt:Multicast>"
            f"<tt:SessionTimeout>PT60S</tt:SessionTimeout></{tag}>"
        )

    def _op_GetProfiles(self, _: ET.Element, __: str) -> tuple[int, str]:
        profiles = []
        with self._lock:
            encoders = list(self.encoders.values())
        for token, config in zip(("Profile_1", "Profile_2"), encoders, strict=True):
            profiles.append(
                f'<trt:Profiles token="{token}" fixed="true"><tt:Name>{config.name}</tt:Name>'
                '<tt:VideoSourceConfiguration token="VideoSource_1"><tt:Name>VideoSource_1'
                "</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1"
                '</tt:SourceToken><tt:Bounds x="0" y="0" width="1920" height="1080"/>'
                "</tt:VideoSourceConfiguration>"
                + self._encoder_xml(config, "tt:VideoEncoderConfiguration")
                + "</trt:Profiles>"
            )
        return 200, self._envelope(
            "<trt:GetProfilesResponse>" + "".join(profiles) + "</trt:GetProfilesResponse>"
        )

    def _profile_param(self, request: ET.Element) -> str:
        return (request.findtext("trt:ProfileToken", "", NS) or "").strip()

    def _media_uri(self, uri: str, tag: str) -> tuple[int, str]:
        return 200, self._envelope(
            f"<trt:{tag}><trt:MediaUri><tt:Uri>{escape(uri)}</tt:Uri>"
            "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot>"
            f"<tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:{tag}>"
        )

    def _op_GetStreamUri(self, request: ET.Element, __: str) -> tuple[int, str]:
        token = self._profile_param(request)
        if token not in ("Profile_1", "Profile_2"):
            return 400, self._fault("s:Sender", "ter:NoProfile", f"no profile {token}")
        return self._media_uri(
            self.rtsp_main if token == "Profile_1" else self.rtsp_sub, "GetStreamUriResponse"
        )

    def _op_GetSnapshotUri(self, request: ET.Element, __: str) -> tuple[int, str]:
        token = self._profile_param(request)
        channel = "101" if token == "Profile_1" else "102"
        return self._media_uri(
            f"{self.snapshot_base or f'http://{self.host}:{self.port}'}"
            f"/onvif/snapshot?channel={channel}",
            "GetSnapshotUriResponse",
        )

    def _op_GetVideoEncoderConfigurations(self, _: ET.Element, __: str) -> tuple[int, str]:
        with self._lock:
            encoders = list(self.encoders.values())
        return 200, self._envelope(
            "<trt:GetVideoEncoderConfigurationsResponse>"
            + "".join(self._encoder_xml(c, "trt:Configurations") for c in encoders)
            + "</trt:GetVideoEncoderConfigurationsResponse>"
        )

    def _op_GetVideoEncoderConfiguration(self, request: ET.Element, __: str) -> tuple[int, str]:
        token = (request.findtext("trt:ConfigurationToken", "", NS) or "").strip()
        with self._lock:
            config = self.encoders.get(token)
        if config is None:
            return 400, self._fault("s:Sender", "ter:NoConfig", f"no configuration {token}")
        return 200, self._envelope(
            "<trt:GetVideoEncoderConfigurationResponse>"
            + self._encoder_xml(config, "trt:Configuration")
            + "</trt:GetVideoEncoderConfigurationResponse>"
        )

    def _op_SetVideoEncoderConfiguration(self, request: ET.Element, __: str) -> tuple[int, str]:
        element = request.find("trt:Configuration", NS)
        if element is None:
            return 400, self._fault("s:Sender", "ter:InvalidArgVal", "no Configuration")
        token = element.get("token", "")
        with self._lock:
            config = self.encoders.get(token)
            if config is None:
                return 400, self._fault("s:Sender", "ter:NoConfig", f"no configuration {token}")

            def text(path: str) -> str | None:
                value = element.findtext(path, None, NS)
                return value.strip() if value else None

            config.encoding = text("tt:Encoding") or config.encoding
            config.width = int(text("tt:Resolution/tt:Width") or config.width)
            config.height = int(text("tt:Resolution/tt:Height") or config.height)
            config.fps = int(text("tt:RateControl/tt:FrameRateLimit") or config.fps)
            config.bitrate_kbps = int(text("tt:RateControl/tt:BitrateLimit") or config.bitrate_kbps)
            config.gov = int(text("tt:H264/tt:GovLength") or config.gov)
            config.profile = text("tt:H264/tt:H264Profile") or config.profile
        return 200, self._envelope("<trt:SetVideoEncoderConfigurationResponse/>")

    # --- snapshot (HTTP auth) -------------------------------------------------------------

    def snapshot_jpeg(self) -> bytes:
        try:
            import cv2
            import numpy as np
        except ImportError:  # the system interpreter may lack them
            return _TINY_JPEG
        image = np.zeros((360, 640, 3), np.uint8)
        image[:, :, 1] = np.linspace(0, 255, 640, dtype=np.uint8)[None, :]
        image[:, :, 2] = np.linspace(0, 255, 360, dtype=np.uint8)[:, None]
        ok, encoded = cv2.imencode(".jpg", image)
        return bytes(encoded) if ok else _TINY_JPEG


_TINY_JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIs"
    "IxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAACf/EABQQAQAAAAAA"
    "AAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q=="
)


def _parse_digest(header: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)', header)}


def _handler_for(camera: FakeCamera) -> type[BaseHTTPRequestHandler]:
    realm = "IP Camera(kitchen)"
    nonce = secrets.token_hex(16)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body in one segment: with two writes, Nagle + delayed ACK add
        # 40 ms to every request, which no real camera does.
        wbufsize = 1 << 16

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests read camera.requests instead

        def _hang(self) -> None:
            camera._stop.wait()

        def _send(
            self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(length) if length else b""
            if camera.behaviour.hang:
                self._hang()
                return
            if camera.behaviour.not_onvif or not self.path.startswith("/onvif/"):
                self._send(404, b"<html><body>Not Found</body></html>", "text/html")
                return
            if camera.behaviour.garbage:
                self._send(
                    200,
                    b'<?xml version="1.0"?><s:Envelope><s:Body><tds:GetSys&&<<',
                    "application/soap+xml; charset=utf-8",
                )
                return
            status, text = camera.handle_soap(body, self.path)
            if camera.response_delay_s > 0:
                camera._stop.wait(camera.response_delay_s)
            self._send(status, text.encode("utf-8"), "application/soap+xml; charset=utf-8")

        def do_GET(self) -> None:
            if camera.behaviour.hang:
                self._hang()
                return
            if not self.path.startswith("/onvif/snapshot"):
                self._send(404, b"not found", "text/plain")
                return
            if not self._authorized():
                challenge = (
                    f'Digest realm="{realm}", qop="auth", nonce="{nonce}", algorithm=MD5'
                    if camera.behaviour.snapshot_auth == "digest"
                    else f'Basic realm="{realm}"'
                )
                self._send(401, b"unauthorized", "text/plain", {"WWW-Authenticate": challenge})
                return
            self._send(200, camera.snapshot_jpeg(), "image/jpeg")

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            if camera.behaviour.snapshot_auth == "basic":
                if not header.startswith("Basic "):
                    return False
                try:
                    decoded = base64.b64decode(header[6:]).decode()
                except ValueError:
                    return False
                return decoded == f"{camera.username}:{camera.password}"
            if not header.startswith("Digest "):
                return False
            fields = _parse_digest(header[7:])

            def md5(text: str) -> str:
                return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

            ha1 = md5(f"{camera.username}:{realm}:{camera.password}")
            ha2 = md5(f"GET:{fields.get('uri', '')}")
            expected = md5(
                f"{ha1}:{fields.get('nonce', '')}:{fields.get('nc', '')}:"
                f"{fields.get('cnonce', '')}:{fields.get('qop', '')}:{ha2}"
            )
            return fields.get("username") == camera.username and secrets.compare_digest(
                expected, fields.get("response", "")
            )

    return Handler


# --- running cameras as a process (network namespaces, demo) --------------------------------


def _parse_camera_spec(spec: str) -> dict[str, Any]:
    """``persona=hikvision,host=192.0.2.10,port=8000,...`` → FakeCamera kwargs."""
    kwargs: dict[str, Any] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        key = key.strip()
        if key in ("port", "discovery_port"):
            kwargs[key] = int(value)
        elif key in ("clock_offset_s", "response_delay_s"):
            kwargs[key] = float(value)
        elif key == "discovery":
            kwargs[key] = value.lower() in ("1", "true", "yes")
        else:
            kwargs[key] = value
    return kwargs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testkit.fake_onvif",
        description="Run fake ONVIF cameras until SIGTERM. Each --camera is "
        "key=value,... with keys persona, host, port, rtsp_main, rtsp_sub, mac, serial, "
        "endpoint_uuid, clock_offset_s, response_delay_s, discovery, multicast_interface, "
        "media_service, snapshot_base.",
    )
    parser.add_argument("--camera", action="append", required=True, metavar="SPEC")
    parser.add_argument(
        "--password-file", default=None, help="site password (default: the kit's default password)"
    )
    parser.add_argument("--username", default="admin")
    args = parser.parse_args(argv)
    password = DEFAULT_PASSWORD
    if args.password_file:
        with open(args.password_file, encoding="utf-8") as handle:
            password = handle.read().strip()
    cameras = []
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        for spec in args.camera:
            kwargs = _parse_camera_spec(spec)
            camera = FakeCamera(username=args.username, password=password, **kwargs)
            if camera.behaviour.wrong_password:
                camera.password = OTHER_PASSWORD
            cameras.append(camera.start())
            print(
                json.dumps(
                    {
                        "ready": True,
                        "persona": camera.persona,
                        "xaddr": camera.xaddr,
                        "endpoint": camera.endpoint,
                        "mac": camera.mac,
                        "serial": camera.serial,
                    }
                ),
                flush=True,
            )
        print(json.dumps({"all_ready": len(cameras)}), flush=True)
        while not stopping.wait(0.2):
            pass
    finally:
        for camera in cameras:
            camera.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
