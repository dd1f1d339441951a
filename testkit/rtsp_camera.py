"""A fake RTSP camera: GStreamer's RTSP server serving H.264/H.265 like an IP camera.

Usable from pytest (see ``video_fixtures.py``) and from plain scripts (the demo)::

    camera = RtspCamera({"main": StreamSpec(1920, 1080), "sub": StreamSpec(640, 360)})
    camera.start()
    camera.url("sub")          # rtsp://127.0.0.1:PORT/sub
    camera.freeze(); camera.resume()   # SIGSTOP / SIGCONT: a stalled camera
    camera.stop()

GStreamer's Python bindings exist only for the system interpreter (``/usr/bin/python3``
with ``gi`` from Debian), so the server runs as its own process: this very file, executed
by ``/usr/bin/python3`` with a JSON spec. Only the standard library is imported at module
level so that both interpreters can load it.

Pre-encoded streams cost no encoding: a short clip is made once with ffmpeg (testsrc2,
whole GOPs, no B-frames, like a camera), its access units are loaded into memory, and an
``appsrc`` replays them forever with timestamps that keep increasing across loops, so a
client sees one endless stream (a ``filesrc ! qtdemux`` source would hit EOS and a seek
back would make timestamps jump backwards). The RTSP sinks pace it in real time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
CLIP_CACHE_ENV = "KITCHEN_AGENT_CLIP_CACHE"


def death_signal_prefix() -> list[str]:
    """``setpriv --pdeathsig KILL --``: the helper dies with the test process (standard
    library only here, so agent.subproc's twin is not imported)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []


@dataclass(frozen=True)
class StreamSpec:
    """One stream of the fake camera (a camera profile)."""

    width: int = 640
    height: int = 360
    fps: int = 25
    bitrate_kbps: int = 384
    codec: str = "h264"  # h264 | h265
    gop: int = 50  # frames between key frames (cameras: 1-4 s)
    live: bool = False  # True: videotestsrc ! x264enc live (costs CPU), else a looped clip
    clip_s: int = 8  # clip length for the looped kind (a whole number of GOPs is used)
    noise: int = 6  # grain added to the clip so the bitrate resembles a real camera's

    def profile(self, token: str, uri: str) -> dict[str, object]:
        """This stream as a ``discover --json`` profile object."""
        return {
            "token": token,
            "name": token,
            "encoding": "H265" if self.codec == "h265" else "H264",
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "bitrate_kbps": self.bitrate_kbps,
            "rtsp_uri": uri,
            "snapshot_uri": None,
        }


MAIN_1080P = StreamSpec(1920, 1080, fps=25, bitrate_kbps=2048, noise=0)
SUB_360P = StreamSpec(640, 360, fps=25, bitrate_kbps=384)
SUB_360P_H265 = StreamSpec(640, 360, fps=25, bitrate_kbps=256, codec="h265")


def default_clip_cache() -> Path:
    """Clips are cached across runs (keyed by their spec): encoding 1080p takes seconds."""
    configured = os.environ.get(CLIP_CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"kitchen-agent-clips-{os.getuid()}"


def make_clip(spec: StreamSpec, cache_dir: Path | None = None) -> Path:
    """An MP4 clip for ``spec`` (made once, then reused); whole GOPs, no B-frames."""
    directory = cache_dir or default_clip_cache()
    directory.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:12]
    path = directory / f"{spec.codec}-{spec.width}x{spec.height}-{spec.fps}-{key}.mp4"
    if path.exists():
        return path
    frames = max(spec.gop, (spec.clip_s * spec.fps) // spec.gop * spec.gop)
    video_filter = f"noise=alls={spec.noise}:allf=t" if spec.noise else "null"
    kbps = spec.bitrate_kbps
    if spec.codec == "h265":
        codec = [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-tag:v",
            "hvc1",
            "-x265-params",
            f"keyint={spec.gop}:min-keyint={spec.gop}:scenecut=0:bframes=0:aud=1:"
            f"repeat-headers=1:vbv-maxrate={kbps}:vbv-bufsize={kbps * 2}:log-level=error",
        ]
    else:
        codec = [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "main",
            "-bf",
            "0",
            "-g",
            str(spec.gop),
            "-keyint_min",
            str(spec.gop),
            "-sc_threshold",
            "0",
            "-maxrate",
            f"{kbps}k",
            "-bufsize",
            f"{kbps * 2}k",
        ]
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial.mp4")
    argv = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}",
        "-frames:v",
        str(frames),
        "-vf",
        f"{video_filter},format=yuv420p",
        *codec,
        "-b:v",
        f"{kbps}k",
        "-an",
        "-movflags",
        "+faststart",
        str(partial),
    ]
    result = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg could not make {path.name}: {result.stderr.decode()[-800:]}")
    os.replace(partial, path)  # atomic: a parallel session never reads half a clip
    return path


def spawn(argv: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """Start a helper process in its own session that dies with the test process."""
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [*death_signal_prefix(), *argv],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )


def stop_process(process: subprocess.Popen[bytes] | None, timeout_s: float = 5.0) -> None:
    """SIGCONT + SIGTERM the process group, then SIGKILL after ``timeout_s``."""
    if process is None or process.poll() is not None:
        return
    for sig in (signal.SIGCONT, signal.SIGTERM):  # a frozen process cannot handle SIGTERM
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class RtspCamera:
    """A running fake camera: one RTSP server process with one mount per stream."""

    def __init__(
        self,
        streams: Mapping[str, StreamSpec] | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        credentials: tuple[str, str] | None = None,
        clip_cache: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.streams = (
            dict(streams) if streams is not None else {"main": MAIN_1080P, "sub": SUB_360P}
        )
        self.host = host
        self.port = port
        self.credentials = credentials
        self.clip_cache = clip_cache
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, timeout_s: float = 60.0) -> RtspCamera:
        mounts = {}
        for name, spec in self.streams.items():
            mount: dict[str, object] = {"spec": asdict(spec)}
            if not spec.live:
                mount["clip"] = str(make_clip(spec, self.clip_cache))
            mounts[f"/{name}"] = mount
        config = {
            "host": self.host,
            "port": self.port,
            "mounts": mounts,
            "credentials": list(self.credentials) if self.credentials else None,
        }
        stderr: int | object = subprocess.DEVNULL
        log_file = None
        if self.log_path is not None:
            log_file = self.log_path.open("ab")
            stderr = log_file
        try:
            self.process = spawn(
                [SYSTEM_PYTHON, str(Path(__file__).resolve()), json.dumps(config)],
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        finally:
            if log_file is not None:
                log_file.close()
        self.port = self._await_ready(timeout_s)
        return self

    def _await_ready(self, timeout_s: float) -> int:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready:
                line = self.process.stdout.readline()
                if line.startswith(b"READY "):
                    return int(line.split()[1])
                if not line:
                    break
            if self.process.poll() is not None:
                break
        code = self.process.poll()
        self.stop()
        raise RuntimeError(f"fake RTSP camera did not start (exit {code}, said {line!r})")

    def stop(self) -> None:
        stop_process(self.process)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        self.frozen = False

    def freeze(self) -> None:
        """Stall every stream like a hung camera: the process stops, sockets stay open."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.frozen = True

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)
        self.frozen = False

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    def url(self, stream: str, with_credentials: bool = True) -> str:
        userinfo = ""
        if self.credentials and with_credentials:
            userinfo = f"{self.credentials[0]}:{self.credentials[1]}@"
        return f"rtsp://{userinfo}{self.host}:{self.port}/{stream}"

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in self.streams}

    def profiles(self) -> list[dict[str, object]]:
        """The streams as ``discover --json`` profiles (URIs without credentials)."""
        return [
            spec.profile(name, self.url(name, with_credentials=False))
            for name, spec in self.streams.items()
        ]


# --- the server side: runs under /usr/bin/python3 with GStreamer --------------------------


def _load_access_units(clip: str, codec: str) -> list[tuple[bytes, bool]]:
    """Every access unit of ``clip`` as Annex-B bytes, with its key-frame flag."""
    from gi.repository import Gst

    launch = (
        f"filesrc location={clip} ! qtdemux ! {codec}parse config-interval=-1 ! "
        f"video/x-{codec},stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false emit-signals=false max-buffers=0"
    )
    pipeline = Gst.parse_launch(launch)
    sink = pipeline.get_by_name("sink")
    pipeline.set_state(Gst.State.PLAYING)
    units = []
    while True:
        sample = sink.emit("pull-sample")
        if sample is None:
            break
        buffer = sample.get_buffer()
        ok, info = buffer.map(Gst.MapFlags.READ)
        if ok:
            units.append((bytes(info.data), not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)))
            buffer.unmap(info)
    pipeline.set_state(Gst.State.NULL)
    if not units or not units[0][1]:
        raise RuntimeError(f"{clip}: no access units or not starting with a key frame")
    return units


def _serve(config: dict[str, Any]) -> None:  # pragma: no cover - runs in the child
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(str(config["host"]))
    server.set_service(str(config["port"]))
    mount_points = server.get_mount_points()

    credentials = config.get("credentials")
    if credentials:
        user, password = credentials
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_digest(user, password, token)
        # Digest, as Hikvision/Dahua cameras ask for (the GIR types this as a plain enum).
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)

    def permit_user(factory: GstRtspServer.RTSPMediaFactory) -> None:
        if not credentials:
            return
        role = Gst.Structure.new_empty("user")
        role.set_value(GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        role.set_value(GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.add_role_from_structure(role)

    mounts = config["mounts"]
    assert isinstance(mounts, dict)
    for path, mount in mounts.items():
        spec = mount["spec"]
        codec = spec["codec"]
        pay = "rtph265pay" if codec == "h265" else "rtph264pay"
        factory = GstRtspServer.RTSPMediaFactory()
        if spec["live"]:
            encoder = (
                f"x265enc tune=zerolatency speed-preset=ultrafast bitrate={spec['bitrate_kbps']} "
                f"key-int-max={spec['gop']}"
                if codec == "h265"
                else f"x264enc tune=zerolatency speed-preset=ultrafast "
                f"bitrate={spec['bitrate_kbps']} key-int-max={spec['gop']} bframes=0 ! "
                "video/x-h264,profile=main"
            )
            launch = (
                f"( videotestsrc is-live=true pattern=smpte ! video/x-raw,width={spec['width']},"
                f"height={spec['height']},framerate={spec['fps']}/1 ! timeoverlay ! "
                f"videoconvert ! {encoder} ! {codec}parse config-interval=-1 ! "
                f"{pay} name=pay0 pt=96 config-interval=-1 )"
            )
        else:
            units = _load_access_units(mount["clip"], codec)
            launch = (
                f"( appsrc name=src format=time is-live=false max-bytes=400000 "
                f"caps=video/x-{codec},stream-format=byte-stream,alignment=au,"
                f"framerate={spec['fps']}/1 ! {codec}parse config-interval=-1 ! "
                f"{pay} name=pay0 pt=96 config-interval=-1 )"
            )
            factory.connect("media-configure", _replayer(Gst, units, spec["fps"]))
        factory.set_launch(launch)
        factory.set_shared(True)
        permit_user(factory)
        mount_points.add_factory(path, factory)

    if server.attach(None) == 0:
        raise SystemExit("cannot listen")
    print("READY", server.get_bound_port(), flush=True)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: loop.quit() or False)
    loop.run()


def _replayer(gst: Any, units: list[tuple[bytes, bool]], fps: int) -> Callable[[Any, Any], None]:
    """A media-configure handler feeding ``units`` to the media's appsrc in an endless loop."""
    Gst = gst  # noqa: N806 - the module, imported in the child only
    duration = Gst.SECOND // fps

    def configure(_factory: Any, media: Any) -> None:
        source = media.get_element().get_by_name_recurse_up("src")
        counter = {"n": 0}

        def need_data(src: Any, _length: int) -> None:
            index = counter["n"]
            data, key = units[index % len(units)]
            buffer = Gst.Buffer.new_wrapped(data)
            buffer.pts = buffer.dts = index * duration
            buffer.duration = duration
            if not key:
                buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
            counter["n"] = index + 1
            src.emit("push-buffer", buffer)

        source.connect("need-data", need_data)

    return configure


if __name__ == "__main__":  # pragma: no cover - the server process
    _serve(json.loads(sys.argv[1]))
