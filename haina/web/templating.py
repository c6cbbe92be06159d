"""Jinja2 for the console: `t()` bound to the request's language, the CSRF token, the actor, and
the left navigation filtered by the actor's permissions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates

from haina import __version__
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.auth.permissions import Permission
from haina.core.i18n import DEFAULT_LANGUAGE, LANGUAGES, gettext

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class NavItem:
    key: str  # also the translation key `nav.<key>`
    path: str
    permission: Permission
    icon: str
    is_built: bool = False  # False: the page shows the "coming soon" state


@dataclass(frozen=True)
class NavGroup:
    key: str  # translation key `nav.group.<key>`
    items: tuple[NavItem, ...]


# Modules of the architecture that have no console pages yet; each gets a "coming soon" page.
MODULES: tuple[NavItem, ...] = (
    NavItem("customers", "/customers", Permission.CUSTOMERS_READ, "customers", is_built=True),
    NavItem("tags", "/tags", Permission.CUSTOMERS_READ, "tags", is_built=True),
    NavItem("engage", "/engage", Permission.MARKETING_MANAGE, "engage", is_built=True),
    NavItem("archive", "/archive", Permission.CHATS_READ, "archive", is_built=True),
    NavItem("campaigns", "/campaigns", Permission.MARKETING_MANAGE, "campaigns"),
    NavItem("tickets", "/tickets", Permission.TICKETS_READ, "tickets"),
    NavItem("settlement", "/settlement", Permission.MONEY_READ, "settlement"),
    NavItem("analytics", "/analytics", Permission.ANALYTICS_READ, "analytics"),
    NavItem("platforms", "/platforms", Permission.PLATFORMS_MANAGE, "platforms", is_built=True),
)
MODULE_BY_KEY = {item.key: item for item in MODULES}

OVERVIEW = NavItem("overview", "/", Permission.SIGNED_IN, "overview", is_built=True)
USERS = NavItem("users", "/settings/users", Permission.USERS_READ, "users", is_built=True)
AUDIT = NavItem("audit", "/settings/audit", Permission.AUDIT_READ, "audit", is_built=True)
DEAD_LETTERS = NavItem(
    "dead_letters", "/settings/dead-letters", Permission.EVENTS_READ, "dead_letters", is_built=True
)

NAVIGATION: tuple[NavGroup, ...] = (
    NavGroup("home", (OVERVIEW,)),
    NavGroup("customers", (MODULE_BY_KEY["customers"], MODULE_BY_KEY["tags"])),
    NavGroup("engagement", (MODULE_BY_KEY["engage"], MODULE_BY_KEY["archive"], MODULE_BY_KEY["campaigns"])),
    NavGroup("service", (MODULE_BY_KEY["tickets"],)),
    NavGroup("finance", (MODULE_BY_KEY["settlement"],)),
    NavGroup("insights", (MODULE_BY_KEY["analytics"],)),
    NavGroup("system", (MODULE_BY_KEY["platforms"], USERS, AUDIT, DEAD_LETTERS)),
)


def navigation_for(actor: Actor | None) -> list[NavGroup]:
    """The navigation groups and items this actor may open; empty groups are left out."""
    if actor is None:
        return []
    groups = []
    for group in NAVIGATION:
        items = tuple(item for item in group.items if actor.can(item.permission))
        if items:
            groups.append(NavGroup(group.key, items))
    return groups


def active_item(path: str) -> str | None:
    """The key of the navigation item a path belongs to (the longest matching prefix)."""
    best: NavItem | None = None
    for group in NAVIGATION:
        for item in group.items:
            matches = path == item.path or (item.path != "/" and path.startswith(item.path + "/"))
            if matches and (best is None or len(item.path) > len(best.path)):
                best = item
    return best.key if best else None


# Line icons (24×24, stroked), drawn for this console.
ICONS = {
    "overview": '<path d="M3 11.5 12 4l9 7.5"/><path d="M5.5 10v10h13V10"/><path d="M10 20v-5h4v5"/>',
    "customers": '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20c.6-3.6 3.2-5.5 6.5-5.5s5.9 1.9 6.5 5.5"/><path d="M16 4.8a3.3 3.3 0 0 1 0 6.4M18 14.8c2 .7 3.2 2.4 3.5 5.2"/>',
    "tags": '<path d="M3 12.2V4h8.2L21 13.8 13.8 21z"/><circle cx="7.5" cy="8.5" r="1.5"/>',
    "engage": '<path d="M4 5h16v10H9l-5 4z"/><path d="M8 9.5h8M8 12h5"/>',
    "archive": '<rect x="3" y="4" width="18" height="4" rx="1"/><path d="M5 8v12h14V8"/><path d="M10 12h4"/>',
    "campaigns": '<path d="M4 10v4h3l7 4V6L7 10z"/><path d="M17.5 9a4 4 0 0 1 0 6"/>',
    "tickets": '<rect x="5" y="3.5" width="14" height="17" rx="1.5"/><path d="M9 3.5v2h6v-2M8.5 10h7M8.5 13.5h7M8.5 17h4"/>',
    "settlement": '<rect x="3" y="6" width="18" height="13" rx="1.5"/><path d="M3 10h18"/><path d="M7 15h4"/>',
    "analytics": '<path d="M4 20V4"/><path d="M4 20h16"/><path d="M8 16v-4M12 16V8M16 16v-6"/>',
    "platforms": '<path d="M9.5 14.5 14.5 9.5"/><path d="M11 6.5l1.8-1.8a4 4 0 0 1 5.6 5.6L16.5 12M13 17.5l-1.8 1.8a4 4 0 0 1-5.6-5.6L7.5 12"/>',
    "users": '<circle cx="12" cy="8" r="3.5"/><path d="M5 20c.7-3.6 3.4-5.5 7-5.5s6.3 1.9 7 5.5"/>',
    "audit": '<path d="M12 3 4.5 6v5.5c0 4.4 3.2 8 7.5 9.5 4.3-1.5 7.5-5.1 7.5-9.5V6z"/><path d="m9 12 2 2 4-4"/>',
    "dead_letters": '<rect x="3" y="5" width="18" height="14" rx="1.5"/><path d="m3.5 6 8.5 7 8.5-7"/><path d="M15 15l4 4M19 15l-4 4"/>',
    "menu": '<path d="M4 7h16M4 12h16M4 17h16"/>',
    "logout": '<path d="M15 4h4v16h-4"/><path d="M10 8l-4 4 4 4M6 12h10"/>',
    "download": '<path d="M12 4v11M7.5 10.5 12 15l4.5-4.5"/><path d="M5 19h14"/>',
    "globe": '<circle cx="12" cy="12" r="8.5"/><path d="M3.5 12h17M12 3.5c2.4 2.4 3.5 5.2 3.5 8.5s-1.1 6.1-3.5 8.5c-2.4-2.4-3.5-5.2-3.5-8.5s1.1-6.1 3.5-8.5z"/>',
}


def language_of(request: Request) -> str:
    return getattr(request.state, "language", DEFAULT_LANGUAGE)


def local_time(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC timestamp as Beijing time, the time zone of the merchants Haina serves."""
    if value is None:
        return "—"
    return value.astimezone(clock.SHANGHAI).strftime(pattern)


def compact_json(value: Any, limit: int = 160) -> str:
    if not value:
        return ""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _console_context(request: Request) -> dict[str, Any]:
    language = language_of(request)
    actor: Actor | None = getattr(request.state, "actor", None)
    return {
        "t": partial(gettext, language),
        "language": language,
        "languages": LANGUAGES,
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "actor": actor,
        "navigation": navigation_for(actor),
        "active_nav": active_item(request.url.path),
        "icons": ICONS,
        "asset_version": __version__,
        "Permission": Permission,
    }


templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[_console_context])
templates.env.filters["local_time"] = local_time
templates.env.filters["compact_json"] = compact_json
