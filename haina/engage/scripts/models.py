"""Tables of engage.scripts (every table name starts with `engage_`): the materials and scripts
library (话术库).

* ScriptScene: a scene (场景) scripts are filed under (售前咨询, 售后安抚…), ordered.
* Script: one reusable text / image / link / mini-program card, with keywords and its use count.
* ScriptWord: the search index: one row per (script, word) with how often the word occurs in
  the title (weighted) and body; words come from jieba (the archive's tokeniser).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, PrimaryKeyConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from haina.core.database import Base, new_id, utcnow

ID = String(32)


class ScriptKind:
    TEXT = "text"
    IMAGE = "image"
    LINK = "link"
    MINIPROGRAM = "miniprogram"
    ALL = ("text", "image", "link", "miniprogram")


class ScriptScene(Base):
    __tablename__ = "engage_script_scenes"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "id"),)

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(30))
    order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Script(Base):
    __tablename__ = "engage_scripts"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "id"),
        Index("ix_engage_scripts_tenant_id_scene_id", "tenant_id", "scene_id"),
    )

    id: Mapped[str] = mapped_column(ID, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(32))
    scene_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(16), default=ScriptKind.TEXT)
    title: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text, default="")  # may hold {客户昵称}
    link_url: Mapped[str] = mapped_column(String(2000), default="")
    link_description: Mapped[str] = mapped_column(String(200), default="")
    image_url: Mapped[str] = mapped_column(String(2000), default="")  # image, link cover, card cover
    miniprogram_appid: Mapped[str] = mapped_column(String(64), default="")
    miniprogram_page: Mapped[str] = mapped_column(String(500), default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    use_count: Mapped[int] = mapped_column(default=0)
    last_used_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScriptWord(Base):
    __tablename__ = "engage_script_words"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "word", "script_id"),
        Index("ix_engage_script_words_tenant_id_script_id", "tenant_id", "script_id"),
    )

    tenant_id: Mapped[str] = mapped_column(String(32))
    word: Mapped[str] = mapped_column(String(64))
    script_id: Mapped[str] = mapped_column(ID)
    weight: Mapped[int] = mapped_column(default=1)  # 3 in the title or keywords, 1 in the body
