"""Console: keyword alert notifications (/archive/alerts): recent alerts with how each was
notified (sent to whom, folded into an earlier message, or why not), and who is told (settings
form, chats.manage to save)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from haina.archive import service as archive
from haina.archive.alerts import service
from haina.connections import wecom_staff
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.errors import InvalidInput
from haina.web.security import require
from haina.web.views import ConsoleRoute, SessionDep, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False, default_response_class=HTMLResponse)

ChatsReader = Annotated[Actor, require(Permission.CHATS_READ)]
ChatsManager = Annotated[Actor, require(Permission.CHATS_MANAGE)]
PHONE_RULE_LABEL = "phone"


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.replace("，", ",").replace("\n", ",").split(",") if part.strip()]


def _rule_label(kind: str, phrase: str) -> str:
    return PHONE_RULE_LABEL if kind == "phone_leak" else phrase


def _rule_lines(session: SessionDep, tenant_id: str, extras: dict[str, list[str]]) -> str:
    """The per-rule recipients as the form shows them: one "phrase: userid, userid" per line."""
    labels = {rule.id: _rule_label(rule.kind, rule.phrase) for rule in archive.list_rules(session, tenant_id)}
    return "\n".join(
        f"{labels[rule_id]}: {', '.join(userids)}" for rule_id, userids in extras.items() if rule_id in labels
    )


def _parse_rule_lines(session: SessionDep, tenant_id: str, text: str) -> dict[str, list[str]]:
    by_label = {
        _rule_label(rule.kind, rule.phrase): rule.id for rule in archive.list_rules(session, tenant_id)
    }
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        label, separator, userids = line.replace("：", ":").partition(":")
        rule_id = by_label.get(label.strip())
        if not separator or rule_id is None:
            raise InvalidInput(
                f"not a watched word: {label.strip()[:40]}",
                code="unknown_rule",
                zh=f"「{label.strip()[:40]}」不是已设置的关键词；每行写“关键词: 成员账号, 成员账号”",
            )
        found.setdefault(rule_id, []).extend(_split(userids))
    return found


def _page(request: Request, session: SessionDep, actor: Actor, **extra: Any) -> HTMLResponse:
    settings = service.get_settings(session, actor.tenant_id)
    rows = service.recent_alerts(session, actor, 100)
    rules = {rule.id: rule for rule in archive.list_rules(session, actor.tenant_id)}
    context: dict[str, Any] = {
        "rows": rows,
        "rules": rules,
        "settings": settings,
        "rule_lines": _rule_lines(session, actor.tenant_id, settings.rule_recipients),
        "can_manage": actor.can(Permission.CHATS_MANAGE),
        "member_names": wecom_staff.tenant_names(session, actor.tenant_id),
        "error": "",
        "form": None,
    }
    context.update(extra)
    return render(request, "archive/alerts/index.html", context, session=session)


@router.get("/archive/alerts")
def alerts_page(request: Request, actor: ChatsReader, session: SessionDep) -> HTMLResponse:
    return _page(request, session, actor)


@router.post("/archive/alerts/settings")
def save_alert_settings(
    request: Request,
    actor: ChatsManager,
    session: SessionDep,
    is_enabled: Annotated[str, Form(max_length=8)] = "",
    agentid: Annotated[str, Form(max_length=20)] = "",
    supervisor_userids: Annotated[str, Form(max_length=4000)] = "",
    notify_member: Annotated[str, Form(max_length=8)] = "",
    rule_recipients: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    try:
        number = agentid.strip()
        if number and not number.isdigit():
            raise InvalidInput(
                "the agentid is a positive number", code="invalid_agentid", zh="应用 AgentId 应为正整数"
            )
        service.save_settings(
            session,
            actor.tenant_id,
            is_enabled=bool(is_enabled),
            agentid=int(number) if number else None,
            supervisor_userids=_split(supervisor_userids),
            notify_member=bool(notify_member),
            rule_recipients=_parse_rule_lines(session, actor.tenant_id, rule_recipients),
            actor=actor,
        )
    except InvalidInput as error:
        form = {
            "is_enabled": bool(is_enabled),
            "agentid": agentid,
            "supervisor_userids": supervisor_userids,
            "notify_member": bool(notify_member),
            "rule_recipients": rule_recipients,
        }
        response = _page(request, session, actor, error=error.details.get("zh", error.message), form=form)
        response.status_code = 422
        return response
    return RedirectResponse("/archive/alerts?saved=1", status_code=303)
