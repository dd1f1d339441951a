"""The base every config model derives from: strict, documented, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """Unknown keys are errors; every field carries a description (it becomes the schema)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
