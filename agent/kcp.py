"""The catalogue of key control points (关键控制点) a kitchen camera can cover."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Kcp(enum.StrEnum):
    COOKING = "cooking"
    COLD_ROOM = "cold_room"
    PREP = "prep"
    DISHWASHING = "dishwashing"
    PACKING = "packing"
    STORAGE = "storage"


@dataclass(frozen=True)
class KcpInfo:
    code: Kcp
    name_zh: str
    name_en: str
    # Default stream priority when the uplink is short: the riskiest area is kept longest.
    stream_priority: int


CATALOGUE: dict[Kcp, KcpInfo] = {
    info.code: info
    for info in (
        KcpInfo(Kcp.COLD_ROOM, "专间", "cold-dish / special room", 6),
        KcpInfo(Kcp.COOKING, "烹饪区", "cooking line", 5),
        KcpInfo(Kcp.PREP, "粗加工/切配区", "preparation and cutting", 4),
        KcpInfo(Kcp.DISHWASHING, "餐用具清洗消毒区", "tableware cleaning and disinfection", 3),
        KcpInfo(Kcp.PACKING, "备餐/打包区", "plating and packing", 2),
        KcpInfo(Kcp.STORAGE, "食品库房", "food storage", 1),
    )
}

CODES: tuple[str, ...] = tuple(k.value for k in Kcp)
