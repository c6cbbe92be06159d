"""API shapes of engage.livecodes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from haina.engage.livecodes import service
from haina.engage.livecodes.models import LiveCode

UserId = Annotated[str, Field(max_length=64)]
Clock = Annotated[str, Field(max_length=5, examples=["09:00"])]


class MemberIn(BaseModel):
    userid: UserId
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(default=[1, 2, 3, 4, 5, 6, 7], max_length=7)
    ranges: list[tuple[Clock, Clock]] = Field(default=[], max_length=10)
    daily_limit: Annotated[int, Field(ge=0, le=service.MAX_DAILY_LIMIT)] = 0


class LiveCodeIn(BaseModel):
    name: Annotated[str, Field(max_length=100)]
    channel: Annotated[str, Field(max_length=20)] = "other"
    members: list[MemberIn] = Field(max_length=100)
    backups: list[UserId] = Field(default=[], max_length=100)
    tag_ids: list[Annotated[str, Field(max_length=32)]] = Field(default=[], max_length=50)
    remark_template: Annotated[str, Field(max_length=100)] = ""
    description: Annotated[str, Field(max_length=2000)] = ""
    skip_verify: bool = True
    is_active: bool = True

    def to_input(self) -> service.LiveCodeInput:
        return service.LiveCodeInput(
            name=self.name,
            channel=self.channel,
            members=[
                service.MemberInput(
                    userid=member.userid,
                    weekdays=list(member.weekdays),
                    ranges=[(start, end) for start, end in member.ranges],
                    daily_limit=member.daily_limit,
                )
                for member in self.members
            ],
            backups=list(self.backups),
            tag_ids=list(self.tag_ids),
            remark_template=self.remark_template,
            description=self.description,
            skip_verify=self.skip_verify,
            is_active=self.is_active,
        )


class MemberOut(BaseModel):
    userid: str
    weekdays: list[int]
    ranges: list[list[str]]
    daily_limit: int


class LiveCodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    channel: str
    state: str
    config_id: str
    qr_code: str
    skip_verify: bool
    members: list[MemberOut] = []
    backups: list[str] = []
    tag_ids: list[str]
    remark_template: str
    description: str
    is_active: bool
    duty_userids: list[str]
    duty_reason: str
    created_at: datetime
    updated_at: datetime
    adds_total: int = 0
    adds_today: int = 0

    @classmethod
    def of(cls, code: LiveCode, counts: tuple[int, int] = (0, 0)) -> LiveCodeOut:
        out = cls.model_validate(code)
        out.members = [MemberOut.model_validate(member) for member in code.pool.get("members") or []]
        out.backups = list(code.pool.get("backups") or [])
        out.adds_total, out.adds_today = counts
        return out


class LiveCodeListOut(BaseModel):
    items: list[LiveCodeOut]
    total: int


class DayOut(BaseModel):
    day: date
    adds: int
    lost: int


class StaffOut(BaseModel):
    userid: str
    adds: int
    lost: int


class StatsOut(BaseModel):
    total: int
    today: int
    lost: int
    retained: int
    retention_7: float | None
    retention_30: float | None
    eligible_7: int
    eligible_30: int
    per_day: list[DayOut]
    per_staff: list[StaffOut]
    scans_known: bool = Field(False, description="WeCom does not report scans; only adds are counted")

    @classmethod
    def of(cls, stats: service.CodeStats) -> StatsOut:
        return cls(
            total=stats.total,
            today=stats.today,
            lost=stats.lost,
            retained=stats.retained,
            retention_7=stats.retention_7,
            retention_30=stats.retention_30,
            eligible_7=stats.eligible_7,
            eligible_30=stats.eligible_30,
            per_day=[DayOut(day=day, adds=adds, lost=lost) for day, adds, lost in stats.per_day],
            per_staff=[
                StaffOut(userid=userid, adds=adds, lost=lost) for userid, adds, lost in stats.per_staff
            ],
        )
