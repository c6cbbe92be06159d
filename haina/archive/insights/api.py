"""REST: frequent customer questions and reply-time QA (chats.read, within the actor's scope;
finance is refused), and the working hours they are measured by (chats.manage)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from haina.archive.insights import quality, questions, service
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.settings import Settings
from haina.web.database import SessionDep, get_settings
from haina.web.security import require

router = APIRouter(prefix="/api/v1/archive/insights", tags=["archive"])

ChatsReader = Annotated[Actor, require(Permission.CHATS_READ)]
ChatsManager = Annotated[Actor, require(Permission.CHATS_MANAGE)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PeriodDays = Annotated[int, Query(ge=1, le=366)]


class ExampleOut(BaseModel):
    message_id: int
    conversation_id: str
    text: str
    sent_at: datetime
    link: str


class ClusterOut(BaseModel):
    question: str
    count: int
    customers: int
    forms: int
    examples: list[ExampleOut]

    @classmethod
    def of(cls, cluster: questions.Cluster) -> ClusterOut:
        return cls(
            question=cluster.representative,
            count=cluster.count,
            customers=cluster.customers,
            forms=cluster.forms,
            examples=[
                ExampleOut(
                    message_id=example.message_id,
                    conversation_id=example.conversation_id,
                    text=example.text,
                    sent_at=example.sent_at,
                    link=f"/archive/conversations/{example.conversation_id}",
                )
                for example in cluster.examples
            ],
        )


class StaffQualityOut(BaseModel):
    staff_userid: str
    replies: int
    median_minutes: float
    within_target: float
    breaches: int
    unanswered: int


class BreachOut(BaseModel):
    conversation_id: str
    staff_userid: str
    since: datetime
    replied_at: datetime | None
    minutes: float
    link: str


class QualityOut(BaseModel):
    target_minutes: int
    staff: list[StaffQualityOut]
    worst: list[BreachOut]

    @classmethod
    def of(cls, value: quality.Quality) -> QualityOut:
        return cls(
            target_minutes=value.target_minutes,
            staff=[StaffQualityOut.model_validate(item, from_attributes=True) for item in value.staff],
            worst=[
                BreachOut(
                    conversation_id=wait.conversation_id,
                    staff_userid=wait.staff_userid,
                    since=wait.since,
                    replied_at=wait.replied_at,
                    minutes=round(wait.minutes, 1),
                    link=f"/archive/conversations/{wait.conversation_id}",
                )
                for wait in value.worst
            ],
        )


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM")
    end: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM, after start; 24:00 = midnight")


class ReplySettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[Window | None] = Field(min_length=7, max_length=7, description="Monday first; null = day off")
    target_minutes: int = Field(default=quality.DEFAULT_TARGET_MINUTES, ge=1, le=1440)
    timezone: str = Field(default=quality.DEFAULT_TIMEZONE, max_length=64)


class ReplySettingsOut(BaseModel):
    days: list[Window | None]
    target_minutes: int
    timezone: str

    @classmethod
    def of(cls, policy: service.ReplyPolicy) -> ReplySettingsOut:
        return cls(
            days=[
                Window(start=minutes_text(window[0]), end=minutes_text(window[1])) if window else None
                for window in policy.hours.days
            ],
            target_minutes=policy.target_minutes,
            timezone=policy.hours.timezone,
        )


def minutes_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def text_minutes(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


@router.get("/questions", response_model=list[ClusterOut])
def frequent_questions(
    actor: ChatsReader,
    session: SessionDep,
    settings: SettingsDep,
    days: PeriodDays = 30,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[ClusterOut]:
    """The customers' most frequent questions, clustered, with examples. Audited (reads text)."""
    until = clock.now()
    clusters = service.frequent_questions(
        session, actor, settings, since=until - timedelta(days=days), until=until, limit=limit
    )
    return [ClusterOut.of(cluster) for cluster in clusters]


@router.get("/quality", response_model=QualityOut)
def reply_quality(
    actor: ChatsReader,
    session: SessionDep,
    days: PeriodDays = 30,
    target_minutes: Annotated[int | None, Query(ge=1, le=1440)] = None,
) -> QualityOut:
    """Reply times per staff member counted in working hours, against the target."""
    until = clock.now()
    value = service.reply_quality(
        session, actor, since=until - timedelta(days=days), until=until, target_minutes=target_minutes
    )
    return QualityOut.of(value)


@router.get("/settings", response_model=ReplySettingsOut)
def get_reply_settings(actor: ChatsReader, session: SessionDep) -> ReplySettingsOut:
    return ReplySettingsOut.of(service.reply_policy(session, actor.tenant_id))


@router.put("/settings", response_model=ReplySettingsOut)
def set_reply_settings(body: ReplySettingsIn, actor: ChatsManager, session: SessionDep) -> ReplySettingsOut:
    """Working hours per weekday and the target reply time (audited)."""
    days = [
        (text_minutes(window.start), text_minutes(window.end)) if window else None for window in body.days
    ]
    policy = service.set_reply_policy(session, actor, days, body.target_minutes, body.timezone)
    return ReplySettingsOut.of(policy)
