"""Request and response bodies of archive.alerts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from haina.archive.alerts.models import ArchiveAlertNotification
from haina.archive.alerts.service import SettingsView
from haina.platforms.wecom.app_messages import AGENTID_MAX

UserId = str


class AlertSettingsIn(BaseModel):
    is_enabled: bool = True
    agentid: int | None = Field(default=None, ge=1, le=AGENTID_MAX)
    supervisor_userids: list[UserId] = Field(default_factory=list, max_length=50)
    notify_member: bool = True
    rule_recipients: dict[str, list[UserId]] = Field(default_factory=dict, max_length=200)


class AlertSettingsOut(BaseModel):
    is_enabled: bool
    agentid: int | None
    effective_agentid: int | None
    supervisor_userids: list[str]
    notify_member: bool
    rule_recipients: dict[str, list[str]]

    @classmethod
    def of(cls, view: SettingsView) -> AlertSettingsOut:
        return cls(
            is_enabled=view.is_enabled,
            agentid=view.agentid,
            effective_agentid=view.effective_agentid,
            supervisor_userids=view.supervisor_userids,
            notify_member=view.notify_member,
            rule_recipients=view.rule_recipients,
        )


class NotificationOut(BaseModel):
    id: str
    alert_id: str
    rule_id: str
    conversation_id: str
    staff_userid: str
    phrase: str
    status: str
    userids: list[str]
    invalid_userids: list[str]
    hit_count: int
    error_code: str
    reason: str
    sent_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: ArchiveAlertNotification) -> NotificationOut:
        return cls(
            id=row.id,
            alert_id=row.alert_id,
            rule_id=row.rule_id,
            conversation_id=row.conversation_id,
            staff_userid=row.staff_userid,
            phrase=row.phrase,
            status=row.status,
            userids=list(row.userids or []),
            invalid_userids=list(row.invalid_userids or []),
            hit_count=row.hit_count,
            error_code=row.error_code,
            reason=row.reason,
            sent_at=row.sent_at,
            created_at=row.created_at,
        )
