"""API shapes of the materials and scripts library."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SceneIn(_In):
    name: str = Field(min_length=1, max_length=30)
    order: int | None = Field(default=None, ge=0, le=100_000)


class ScenePatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=30)
    order: int | None = Field(default=None, ge=0, le=100_000)


class SceneOut(_Out):
    id: str
    name: str
    order: int
    script_count: int = 0


class ScriptIn(_In):
    title: str = Field(min_length=1, max_length=100)
    kind: Literal["text", "image", "link", "miniprogram"] = "text"
    scene_id: str | None = Field(default=None, max_length=32)
    content: str = Field(default="", max_length=5000)
    link_url: str = Field(default="", max_length=2000)
    link_description: str = Field(default="", max_length=200)
    image_url: str = Field(default="", max_length=2000)
    miniprogram_appid: str = Field(default="", max_length=64)
    miniprogram_page: str = Field(default="", max_length=500)
    keywords: list[str] = Field(default_factory=list, max_length=20)


class ScriptOut(_Out):
    id: str
    scene_id: str | None
    kind: str
    title: str
    content: str
    link_url: str
    link_description: str
    image_url: str
    miniprogram_appid: str
    miniprogram_page: str
    keywords: list[str]
    use_count: int
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


class UseOut(BaseModel):
    id: str
    use_count: int
