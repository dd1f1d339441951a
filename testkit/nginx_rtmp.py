"""Real ingests for stream tests: nginx with the RTMP module, and ffmpeg RTSP/SRT listeners.

``NginxRtmp`` runs a private nginx (``nginx -p DIR -c DIR/nginx.conf``) on free loopback
ports with the ``/stat`` XML endpoint; it can be stopped and started again on the same ports
("ingest down, then back"). ``stat()`` parses what arrived; ``measure_kbps()`` measures a
stream's bitrate from the growth of its ``bytes_in`` (nginx's own ``bw_in`` is averaged over
10 s and reads 0 for the first interval).

``FfmpegListener`` is a one-client receiver for the ``rtsp://`` (ANNOUNCE/RECORD) and
``srt://`` publish routes: ``ffmpeg -rtsp_flags listen`` / ``srt://...?mode=listener``,
copying what arrives into an MPEG-TS file that tests can ffprobe and measure.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from testkit import ports
from testkit.rtsp_camera import spawn, stop_process

T = TypeVar("T")

RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")

NGINX_CONF = """\
load_module {module};
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
daemon off;
master_process off;
events {{ worker_connections 256; }}
rtmp {{
    server {{
        listen 127.0.0.1:{rtmp_port};
        chunk_size 4096;
        application live {{
            live on;
            record off;
            drop_idle_publisher 10s;
        }}
    }}
}}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{http_port};
        location /stat {{ rtmp_stat all; }}
    }}
}}
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    return ports.free_port(kind)


def wait_for(
    condition: Callable[[], T | None],
    timeout_s: float,
    interval_s: float = 0.2,
    what: str = "condition",
) -> T:
    """Poll ``condition()`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not met within {timeout_s:g} s")
        time.sleep(interval_s)


@dataclass(frozen=True)
class IngestStream:
    """One stream as nginx-rtmp's /stat sees it."""

    name: str
    publishing: bool
    bytes_in: int
    time_ms: int
    codec: str | None
    width: int | None
    height: int | None
    frame_rate: float | None
    clients: int


def _int(node: ET.Element | None) -> int | None:
    if node is None or node.text is None or not node.text.strip():
        return None
    return int(float(node.text))


class NginxRtmp:
    """A private nginx-rtmp ingest on loopback."""

    def __init__(self, workdir: Path, app: str = "live") -> None:
        self.workdir = workdir
        self.app = app
        self.rtmp_port = 0
        self.http_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> NginxRtmp:
        if not RTMP_MODULE.exists():
            raise RuntimeError(f"{RTMP_MODULE} missing: apt-get install libnginx-mod-rtmp")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _attempt in range(5):
            if not self.rtmp_port:  # keep the ports across a restart ("ingest back up")
                self.rtmp_port, self.http_port = free_port(), free_port()
            conf = self.workdir / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    module=RTMP_MODULE,
                    dir=self.workdir,
                    rtmp_port=self.rtmp_port,
                    http_port=self.http_port,
                )
            )
            log = (self.workdir / "stderr.log").open("ab")
            try:
                self.process = spawn(
                    [
                        "nginx",
                        "-p",
                        str(self.workdir),
                        "-e",
                        str(self.workdir / "error.log"),
                        "-c",
                        str(conf),
                    ],
                    stdout=log,
                    stderr=log,
                )
            finally:
                log.close()
            try:
                wait_for(self._answers, timeout_s, what="nginx /stat")
                return self
            except TimeoutError:
                stop_process(self.process)
                self.rtmp_port = self.http_port = 0  # port taken meanwhile: pick new ones
        raise RuntimeError(f"nginx-rtmp did not start; see {self.workdir}/error.log")

    def _answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            self._stat_xml(timeout_s=1.0)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        stop_process(self.process)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> NginxRtmp:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- addresses and inspection --------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"rtmp://127.0.0.1:{self.rtmp_port}/{self.app}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    @property
    def stat_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/stat"

    def _stat_xml(self, timeout_s: float = 3.0) -> ET.Element:
        with urllib.request.urlopen(self.stat_url, timeout=timeout_s) as response:
            return ET.fromstring(response.read())

    def stat(self) -> dict[str, IngestStream]:
        """Streams currently known to the ingest, by name."""
        streams = {}
        for node in self._stat_xml().iter("stream"):
            name = node.findtext("name") or ""
            video = node.find("meta/video")
            frame_rate = video.findtext("frame_rate") if video is not None else None
            streams[name] = IngestStream(
                name=name,
                publishing=node.find("publishing") is not None,
                bytes_in=_int(node.find("bytes_in")) or 0,
                time_ms=_int(node.find("time")) or 0,
                codec=video.findtext("codec") if video is not None else None,
                width=_int(video.find("width")) if video is not None else None,
                height=_int(video.find("height")) if video is not None else None,
                frame_rate=float(frame_rate) if frame_rate else None,
                clients=_int(node.find("nclients")) or 0,
            )
        return streams

    def publishing(self, name: str) -> IngestStream | None:
        stream = self.stat().get(name) if self.running() else None
        return stream if stream is not None and stream.publishing else None

    def wait_publishing(self, name: str, timeout_s: float = 20.0) -> IngestStream:
        result: IngestStream = wait_for(
            lambda: self.publishing(name), timeout_s, what=f"stream {name} publishing"
        )
        return result

    def wait_video(self, name: str, timeout_s: float = 20.0) -> IngestStream:
        """``name`` publishing with its video's codec and size known: nginx-rtmp learns
        them from the stream's metadata, a moment after the publish itself shows."""

        def described() -> IngestStream | None:
            stream = self.publishing(name)
            return stream if stream is not None and stream.codec is not None else None

        result: IngestStream = wait_for(described, timeout_s, what=f"stream {name}'s video")
        return result

    def measure_kbps(self, name: str, window_s: float = 6.0) -> float:
        """Average bitrate of ``name`` arriving over ``window_s`` (kbit/s, RTMP payload)."""
        first = self.wait_publishing(name)
        started = time.monotonic()
        time.sleep(window_s)
        last = self.stat().get(name)
        if last is None or last.bytes_in < first.bytes_in:
            raise AssertionError(f"stream {name} restarted or vanished while measuring")
        return (last.bytes_in - first.bytes_in) * 8 / 1000 / (time.monotonic() - started)


def ffprobe(url: str, timeout_s: float = 20.0) -> dict[str, object]:
    """The first video stream at ``url`` (codec_name, profile, width, height, ...)."""
    argv = [
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=codec_name,profile,width,height,avg_frame_rate,r_frame_rate",
        "-of",
        "json",
    ]
    if url.startswith("rtsp://"):
        argv += ["-rtsp_transport", "tcp"]
    argv += ["-rw_timeout", str(int(timeout_s * 1_000_000)), url]
    result = subprocess.run(argv, capture_output=True, timeout=timeout_s + 5, check=False)
    if result.returncode != 0:
        raise AssertionError(f"ffprobe {url} failed: {result.stderr.decode()[-500:]}")
    streams = json.loads(result.stdout)["streams"]
    if not streams:
        raise AssertionError(f"ffprobe {url}: no video stream")
    return dict(streams[0])


class FfmpegListener:
    """A one-publisher ``rtsp://`` or ``srt://`` ingest writing what arrives to ``output``."""

    def __init__(self, scheme: str, workdir: Path, name: str = "ingest") -> None:
        if scheme not in ("rtsp", "srt"):
            raise ValueError(scheme)
        self.scheme = scheme
        self.workdir = workdir
        self.port = free_port(socket.SOCK_DGRAM if scheme == "srt" else socket.SOCK_STREAM)
        self.output = workdir / f"{name}.ts"
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def publish_url(self) -> str:
        """Where a publisher sends (what ``streams.ingest_url`` would be)."""
        if self.scheme == "rtsp":
            return f"rtsp://127.0.0.1:{self.port}/live/{self.name}"
        return f"srt://127.0.0.1:{self.port}?mode=caller&streamid=live/{self.name}"

    def start(self) -> FfmpegListener:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.scheme == "rtsp":
            source = [
                "-rtsp_flags",
                "listen",
                "-timeout",
                "60",
                "-i",
                f"rtsp://127.0.0.1:{self.port}/live/{self.name}",
            ]
        else:
            source = ["-i", f"srt://127.0.0.1:{self.port}?mode=listener&timeout=60000000"]
        log = (self.workdir / f"{self.name}-listener.log").open("ab")
        try:
            self.process = spawn(
                [
                    "ffmpeg",
                    "-nostdin",
                    "-hide_banner",
                    "-loglevel",
                    "warning",
                    "-y",
                    *source,
                    "-c",
                    "copy",
                    "-f",
                    "mpegts",
                    "-flush_packets",
                    "1",
                    str(self.output),
                ],
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()
        # Listening sockets appear a moment after exec; callers start publishers after this.
        time.sleep(0.3)
        return self

    def stop(self) -> None:
        stop_process(self.process)

    def size(self) -> int:
        try:
            return self.output.stat().st_size
        except FileNotFoundError:
            return 0

    def wait_receiving(self, min_bytes: int = 50_000, timeout_s: float = 20.0) -> int:
        result: int = wait_for(
            lambda: self.size() >= min_bytes and self.size(),
            timeout_s,
            what=f"{self.scheme} ingest receiving",
        )
        return result

    def measure_kbps(self, window_s: float = 6.0) -> float:
        first = self.wait_receiving()
        started = time.monotonic()
        time.sleep(window_s)
        return (self.size() - first) * 8 / 1000 / (time.monotonic() - started)

    def probe(self) -> dict[str, object]:
        return ffprobe(str(self.output))
