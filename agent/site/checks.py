"""One check of a checklist (``acceptance``, ``diagnose``): ok, warn or fail, what was
seen, and what to do next in Chinese and English."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agent.scrub import scrub_value
from agent.site.advice import NONE, Advice

OK, WARN, FAIL = "ok", "warn", "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Check:
    name: str  # stable id: "broker", "camera mac-...", "kcp cooking", "stream mac-..."
    status: str  # ok | warn | fail
    detail: str  # what was seen (numbers, names)
    advice: Advice = NONE  # what to do next (empty when nothing is to be done)
    group: str = "box"  # section of the report: box, network, broker, cameras, kcps, ...
    camera: str | None = None  # the camera it is about, for the report's pictures
    detail_zh: str | None = None  # what was seen, in Chinese, where it reads better

    def to_json(self) -> dict[str, Any]:
        """The acceptance/diagnose object: ``name, status, detail, advice_zh, advice_en``
        (and ``hint``, the English advice, as ``diagnose --json`` always had it)."""
        value: dict[str, Any] = {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "advice_zh": self.advice.zh or None,
            "advice_en": self.advice.en or None,
        }
        result: dict[str, Any] = scrub_value(value)
        return result

    def text(self, lang: str) -> tuple[str, str]:
        """(what was seen, what to do) in ``lang``."""
        detail = self.detail_zh if lang == "zh" and self.detail_zh else self.detail
        return detail, self.advice.text(lang)


@dataclass
class Checklist:
    checks: list[Check] = field(default_factory=list)

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    def extend(self, checks: Iterable[Check]) -> None:
        self.checks.extend(checks)

    @property
    def verdict(self) -> str:
        return overall(self.checks)

    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.status == FAIL]


def overall(checks: Iterable[Check | Any]) -> str:
    """The worst status of all checks (ok when there are none)."""
    worst = OK
    for check in checks:
        if _RANK[check.status] > _RANK[worst]:
            worst = check.status
    return worst
