"""``store:`` — which restaurant this box belongs to."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from agent.config.base import Section
from agent.districts import district_slugs, unknown_district_message
from agent.kcp import Kcp

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class StoreConfig(Section):
    id: str = Field(
        pattern=SLUG,
        description="Store id, unique in the city; lower-case slug (used in MQTT topics).",
    )
    name: str = Field(min_length=1, max_length=200, description="Store name (单位名称).")
    licence_number: str = Field(
        min_length=1,
        max_length=64,
        description="Food business licence number (食品经营许可证号).",
    )
    district: str = Field(
        pattern=r"^[a-z][a-z0-9_-]{0,31}$",
        description="District slug from the programme's district table (agent/data/"
        "districts.csv), e.g. xuhui or pudong (used in MQTT topics and district reports).",
    )
    address: str = Field(min_length=1, max_length=300, description="Store address (地址).")
    expected_completion: str | None = Field(
        default=None,
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
        description="Month the store is expected to be completed (预计完成时间), YYYY-MM, as "
        "the district's annex 4 reports it.",
    )
    kcps: list[Kcp] = Field(
        min_length=1,
        description="Key control points this kitchen has and must keep in view: "
        "cooking, cold_room, prep, dishwashing, packing, storage.",
    )

    @field_validator("district", mode="before")
    @classmethod
    def _known_district(cls, value: Any) -> Any:
        # Before the pattern check, so that 徐汇 or "Xu Hui" get a "did you mean" too.
        if isinstance(value, str) and value not in district_slugs():
            raise ValueError(unknown_district_message(value))
        return value

    @field_validator("kcps")
    @classmethod
    def _no_duplicate_kcps(cls, value: list[Kcp]) -> list[Kcp]:
        if len(set(value)) != len(value):
            raise ValueError("lists a key control point twice")
        return value
