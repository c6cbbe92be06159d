"""API shapes of engage.losses."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from haina.platforms.wecom.app_messages import AGENTID_MAX


class LossAlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    customer_id: str | None
    external_userid: str
    contact_name: str
    staff_userid: str
    ended_by: str
    occurred_at: datetime
    order_count: int
    paid_fen: int
    tags: list[str]
    notified_userids: list[str]
    notify_error: str
    is_handled: bool
    handled_by: str
    handled_at: datetime | None
    note: str


class LossAlertListOut(BaseModel):
    items: list[LossAlertOut]
    total: int


class HandleIn(BaseModel):
    note: str = Field(default="", max_length=1000)


class LossSettingsIn(BaseModel):
    supervisor_userids: list[str] = Field(default_factory=list, max_length=50)
    notify_customer_deleted: bool = True
    notify_staff_deleted: bool = True
    agentid: int | None = Field(default=None, gt=0, le=AGENTID_MAX)


class LossSettingsOut(LossSettingsIn):
    pass


class LossStatisticsOut(BaseModel):
    days: list[str]
    by_customer: list[int]
    by_staff: list[int]
    ranking: list[tuple[str, int]]
    total: int
