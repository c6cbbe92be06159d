"""API shapes of engage.media."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    content_type: str
    size: int
    width: int
    height: int
    uploaded_by: str
    created_at: datetime
    url: str = ""
