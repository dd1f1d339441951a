"""Interactive enrolment over plain SSH: the cameras found, what each sees, a few questions.

Only ``input()`` and ``print()``: it works on any terminal, and a pseudo-terminal drives it
in tests. Each camera's picture is taken once while listing (and again on request when it
was refused); that picture is what becomes the camera's reference if it is enrolled.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from agent.config import AgentConfig
from agent.errors import UsageError
from agent.model import NATURAL_VIEW, Camera, LoginResolver
from agent.site.advice import ACCEPT_VIEW, for_camera_error, for_quality
from agent.site.cameras import CameraDirectory
from agent.site.enrolment import Request, kcp_label, parse_kcps, rois_of
from agent.site.look import CHECK_ON_SITE, Look, look_at, look_at_all, refusal
from agent.site.pictures import ascii_thumbnail, draw, file_name, save_picture, snapshot_dir

Answer = tuple[Request, dict[str, Look], set[str]]


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _Session:
    def __init__(
        self,
        config: AgentConfig,
        path: Path,
        logins: LoginResolver,
        read: Callable[[str], str] = input,
    ) -> None:
        self.config = config
        self.path = path
        self.logins = logins
        self.read = read
        self.declared = [str(k) for k in config.store.kcps]
        self.enrolled = {c.id: c.model_dump(mode="json") for c in config.cameras.enrolled}
        self.request = Request(accept_view={c.id for c in config.cameras.enrolled if c.accept_view})
        self.looks: dict[str, Look] = {}
        self.forced: set[str] = set()

    def show(self, camera: Camera, look: Look) -> None:
        entry = self.enrolled.get(camera.id)
        if entry:
            kcps = ", ".join(item["kcp"] for item in entry["kcps"]) or "-"
            name = f" ({entry['name']})" if entry.get("name") else ""
            _say(f"      enrolled now: {kcps}{name}")
        else:
            _say("      not enrolled")
        if look.image is None:
            code = look.error.code if look.error else "no_frame"
            advice = for_camera_error(code)
            message = look.error.message if look.error else ""
            _say(f"      no picture: {code} {message}".rstrip())
            _say(f"      {advice.en}\n      {advice.zh}")
            return
        refused = refusal(look.issues, camera.id in self.request.accept_view)
        issues = ", ".join(issue.code for issue in look.issues)
        if refused:
            advice = for_quality(refused)
            _say(f"      picture: REFUSED as a reference ({', '.join(refused)})")
            _say(f"      {advice.en}\n      {advice.zh}")
        else:
            _say(f"      picture: {look.verdict.value}" + (f" ({issues})" if issues else ""))
            for what in look.to_check:
                _say(f"      {CHECK_ON_SITE}: {what}")
        target = snapshot_dir(self.path) / f"{file_name(camera.id)}.jpg"
        rois = rois_of(entry) if entry else {}
        notes = [issue.code for issue in look.issues]
        save_picture(target, draw(look.image, rois, notes), owner_of=self.path)
        _say(f"      snapshot: {target}")
        for row in ascii_thumbnail(look.image, 48, rois).splitlines():
            _say("      " + row)

    def ask_kcps(self, camera: Camera) -> list[str] | None:
        """The KCPs the installer gives; None: leave the camera as it is."""
        entry = self.enrolled.get(camera.id)
        keep = ", ".join(item["kcp"] for item in entry["kcps"]) if entry else ""
        default = f"keep {keep}" if entry else "skip it"
        removal = "; - removes it" if entry else ""
        while True:
            answer = self.read(
                f"  Key control points it shows (numbers or codes, e.g. 1,3; Enter: {default}"
                f"{removal}): "
            ).strip()
            if not answer:
                return None
            if answer == "-" and entry:
                self.request.remove.append(camera.id)
                return None
            try:
                return parse_kcps(answer, self.declared, "answer")
            except UsageError as error:
                _say(f"  {error.message}")

    def settle_picture(self, camera: Camera) -> bool:
        """Make sure the camera's picture can be its reference: retake, accept the view or
        force it. A picture that passed but shows what one picture cannot settle (a soft
        view that may be a greasy lens) is put to the installer, who can look, before it
        becomes the reference. False: skip the camera."""
        while True:
            look = self.looks[camera.id]
            refused = (
                refusal(look.issues, camera.id in self.request.accept_view)
                if look.image is not None
                else ["no picture"]
            )
            if not refused and not look.to_check:
                return True
            natural = look.image is not None and set(refused) <= NATURAL_VIEW
            if refused:
                options = "[r] take the picture again"
                options += ", [a] the view is like this by nature" if natural else ""
                options += ", [f] enrol it anyway, [s] skip it: "
                answer = self.read(f"  Its picture is refused ({', '.join(refused)}). {options}")
            else:
                answer = self.read(
                    "  Is the view as it should be (lens clean, nothing in front)? "
                    "[Enter] yes, take it as the reference, [r] take the picture again, "
                    "[s] skip it: "
                )
            choice = answer.strip().lower()[:1]
            if choice == "r":
                _say("  taking the picture again ...")
                self.looks[camera.id] = look_at(camera, self.logins(camera.id), self.config.quality)
                self.show(camera, self.looks[camera.id])
            elif choice == "s":
                return False
            elif not refused and choice in ("", "y", "是"):
                return True
            elif refused and choice == "a" and natural:
                self.request.accept_view.add(camera.id)
                _say(f"  {ACCEPT_VIEW.en}")
            elif refused and choice == "f":
                self.forced.add(camera.id)
                return True

    def ask_name(self, camera: Camera) -> None:
        entry = self.enrolled.get(camera.id) or {}
        current = entry.get("name")
        hint = f"Enter: keep {current}" if current else "Enter: none"
        name = self.read(f"  Name, e.g. 热菜区 ({hint}): ").strip()
        if name and name != current:
            self.request.names[camera.id] = name

    def summary(self) -> list[str]:
        from agent.site.enrolment import apply, uncovered

        result = apply(list(self.enrolled.values()), self.request)
        lines = ["", "Enrolment:"]
        for entry in result:
            name = f" {entry['name']}" if entry.get("name") else ""
            kcps = ", ".join(kcp_label(item["kcp"]) for item in entry["kcps"])
            lines.append(f"  {entry['id']}{name}: {kcps}")
        for camera_id in self.request.remove:
            lines.append(f"  {camera_id}: removed")
        missing = uncovered(self.declared, result)
        if missing:
            lines.append("  not covered yet: " + ", ".join(kcp_label(k) for k in missing))
        else:
            lines.append("  every key control point has a camera")
        return lines


def ask(
    config: AgentConfig,
    path: Path,
    directory: CameraDirectory,
    logins: LoginResolver,
    read: Callable[[str], str] = input,
) -> Answer | None:
    """Ask the installer; None when nothing is to be written (no camera, no change, or
    the installer said no)."""
    session = _Session(config, path, logins, read)
    store = config.store
    _say(f"Store {store.id} {store.name}. Key control points:")
    for number, kcp in enumerate(session.declared, start=1):
        _say(f"  {number} {kcp_label(kcp)}")
    if not directory.found:
        _say(directory.listing())
        return None
    _say(f"Looking at {len(directory.found)} camera(s) ...")
    session.looks = look_at_all(directory.found, logins, config.quality)
    try:
        for number, camera in enumerate(directory.found, start=1):
            maker = " ".join(x for x in (camera.manufacturer, camera.model) if x) or "camera"
            _say(f"\n[{number}/{len(directory.found)}] {camera.id} at {camera.address} — {maker}")
            session.show(camera, session.looks[camera.id])
            kcps = session.ask_kcps(camera)
            if kcps is None or not session.settle_picture(camera):
                continue
            session.request.assign[camera.id] = kcps
            session.ask_name(camera)
        if session.request.empty:
            _say("\nNo change.")
            return None
        for line in session.summary():
            _say(line)
        confirm = read(f"Write this to {path}? [y/N]: ").strip().lower()
    except EOFError:
        _say("")
        return None
    if confirm not in ("y", "yes", "是"):
        return None
    return session.request, session.looks, session.forced
