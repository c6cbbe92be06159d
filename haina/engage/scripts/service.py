"""The materials and scripts library (话术库): scenes, scripts, Chinese search, use counts.

Search: every script's title, keywords and body are cut into words by the archive's Chinese
tokeniser (jieba search mode over the normalised text: full-width → half-width, traditional →
simplified), stored in ScriptWord with a weight (title and keywords 3, body 1). A query is cut
the same way; scripts are ranked by how many query words they have, then by use count, then by
the words' weight. "退款" finds 退款流程说明, "过敏" finds a text about 过敏反应.

`{客户昵称}` in a script's text is filled with the customer's name when it is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlalchemy.orm import Session

from haina.archive import text as chinese
from haina.core import clock
from haina.core.auth.actor import Actor
from haina.core.errors import InvalidInput
from haina.engage.scripts.models import Script, ScriptKind, ScriptScene
from haina.engage.scripts.repository import ScriptRepository

NAME_VARIABLE = "{客户昵称}"
DEFAULT_NAME = "亲"
DEFAULT_SCENES = ("售前咨询", "售后安抚", "催付", "复购提醒")
TITLE_WEIGHT = 3
BODY_WEIGHT = 1
WORD_MAX = 64
SEARCH_LIMIT = 50

__all__ = ["Script", "ScriptKind", "ScriptScene"]


@dataclass
class ScriptInput:
    title: str
    kind: str = ScriptKind.TEXT
    scene_id: str | None = None
    content: str = ""
    link_url: str = ""
    link_description: str = ""
    image_url: str = ""
    miniprogram_appid: str = ""
    miniprogram_page: str = ""
    keywords: list[str] = field(default_factory=list)


# ── Scenes ──────────────────────────────────────────────────────────────────────────────────


def list_scenes(session: Session, tenant_id: str) -> list[ScriptScene]:
    return ScriptRepository(session, tenant_id).scenes()


def scene_counts(session: Session, tenant_id: str) -> dict[str | None, int]:
    """scene id (None: unfiled) → number of scripts."""
    return ScriptRepository(session, tenant_id).scene_counts()


def _scene_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 30:
        raise InvalidInput("a scene name has 1 to 30 characters", code="invalid_scene_name", path="name")
    return name


def create_scene(session: Session, actor: Actor, name: str, order: int | None = None) -> ScriptScene:
    """A new scene, last unless `order` says otherwise."""
    scenes = list_scenes(session, actor.tenant_id)
    name = _scene_name(name)
    if any(scene.name == name for scene in scenes):
        raise InvalidInput(f"the scene {name} exists already", code="scene_exists", path="name")
    now = clock.now()
    scene = ScriptScene(
        tenant_id=actor.tenant_id,
        name=name,
        order=order if order is not None else (max((s.order for s in scenes), default=0) + 10),
        created_at=now,
        updated_at=now,
    )
    session.add(scene)
    session.flush()
    return scene


def ensure_default_scenes(session: Session, actor: Actor) -> list[ScriptScene]:
    """The usual e-commerce scenes, for a library that has none yet."""
    if not list_scenes(session, actor.tenant_id):
        for number, name in enumerate(DEFAULT_SCENES):
            create_scene(session, actor, name, order=(number + 1) * 10)
    return list_scenes(session, actor.tenant_id)


def update_scene(
    session: Session, actor: Actor, scene_id: str, *, name: str | None = None, order: int | None = None
) -> ScriptScene:
    scene = ScriptRepository(session, actor.tenant_id).scene(scene_id)
    if name is not None:
        scene.name = _scene_name(name)
    if order is not None:
        scene.order = order
    scene.updated_at = clock.now()
    session.flush()
    return scene


def delete_scene(session: Session, actor: Actor, scene_id: str) -> None:
    """Delete a scene; its scripts stay, unfiled."""
    scene = ScriptRepository(session, actor.tenant_id).scene(scene_id)
    session.execute(
        update(Script)
        .where(Script.tenant_id == actor.tenant_id, Script.scene_id == scene_id)
        .values(scene_id=None)
    )
    session.delete(scene)
    session.flush()


# ── Scripts ─────────────────────────────────────────────────────────────────────────────────


def _url(value: str, path: str, *, required: bool) -> str:
    value = value.strip()
    if not value and not required:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("a link must start with http:// or https://", code="invalid_url", path=path)
    return value


def _clean(session: Session, tenant_id: str, data: ScriptInput) -> ScriptInput:
    title = data.title.strip()
    if not title or len(title) > 100:
        raise InvalidInput("a title has 1 to 100 characters", code="invalid_title", path="title")
    if data.kind not in ScriptKind.ALL:
        raise InvalidInput("kind is text, image, link or miniprogram", code="invalid_kind", path="kind")
    if data.scene_id:
        ScriptRepository(session, tenant_id).scene(data.scene_id)
    content = data.content.strip()
    if data.kind == ScriptKind.TEXT and not content:
        raise InvalidInput("a text script needs its text", code="content_missing", path="content")
    if data.kind == ScriptKind.MINIPROGRAM and not (
        data.miniprogram_appid.strip() and data.miniprogram_page.strip()
    ):
        raise InvalidInput(
            "a mini-program card needs its appid and page",
            code="miniprogram_missing",
            path="miniprogram_appid",
        )
    keywords = list(dict.fromkeys(k.strip() for k in data.keywords if k.strip()))[:20]
    return ScriptInput(
        title=title,
        kind=data.kind,
        scene_id=data.scene_id or None,
        content=content,
        link_url=_url(data.link_url, "link_url", required=data.kind == ScriptKind.LINK),
        link_description=data.link_description.strip()[:200],
        image_url=_url(data.image_url, "image_url", required=data.kind == ScriptKind.IMAGE),
        miniprogram_appid=data.miniprogram_appid.strip()[:64],
        miniprogram_page=data.miniprogram_page.strip()[:500],
        keywords=[k[:30] for k in keywords],
    )


def _index(session: Session, script: Script) -> None:
    weights: dict[str, int] = {}
    for text, weight in (
        (script.title, TITLE_WEIGHT),
        (" ".join(script.keywords), TITLE_WEIGHT),
        (script.content, BODY_WEIGHT),
        (script.link_description, BODY_WEIGHT),
    ):
        for word in chinese.index_words(text):
            if len(word) <= WORD_MAX:
                weights[word] = weights.get(word, 0) + weight
    for keyword in script.keywords:
        # A keyword is found whole too, even where jieba would cut it.
        normal = chinese.normalise(keyword).strip()
        if normal and len(normal) <= WORD_MAX:
            weights[normal] = max(weights.get(normal, 0), TITLE_WEIGHT)
    ScriptRepository(session, script.tenant_id).replace_words(script.id, sorted(weights.items()))


def get_script(session: Session, tenant_id: str, script_id: str) -> Script:
    return ScriptRepository(session, tenant_id).script(script_id)


def create_script(session: Session, actor: Actor, data: ScriptInput) -> Script:
    """A new script, indexed for search."""
    clean = _clean(session, actor.tenant_id, data)
    now = clock.now()
    script = Script(
        tenant_id=actor.tenant_id,
        created_by=actor.display_name or actor.username,
        created_at=now,
        updated_at=now,
        use_count=0,
        **vars(clean),
    )
    session.add(script)
    session.flush()
    _index(session, script)
    session.flush()
    return script


def update_script(session: Session, actor: Actor, script_id: str, data: ScriptInput) -> Script:
    script = get_script(session, actor.tenant_id, script_id)
    for name, value in vars(_clean(session, actor.tenant_id, data)).items():
        setattr(script, name, value)
    script.updated_at = clock.now()
    session.flush()
    _index(session, script)
    session.flush()
    return script


def delete_script(session: Session, actor: Actor, script_id: str) -> None:
    script = get_script(session, actor.tenant_id, script_id)
    ScriptRepository(session, actor.tenant_id).drop_words(script.id)
    session.delete(script)
    session.flush()


def search(
    session: Session,
    tenant_id: str,
    query: str = "",
    *,
    scene_id: str | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[Script]:
    """Scripts matching `query` (any of its words), best first: most query words matched, then
    most used; without a query, the scene's (or every) script by use."""
    repository = ScriptRepository(session, tenant_id)
    if not query.strip():
        return repository.scripts(scene_id, limit)
    words = chinese.query_words(query.strip())
    whole = "".join(chinese.normalise(query).split())
    if len(words) > 1 and whole:
        words.append(whole)  # a keyword typed whole that jieba cuts (催付 → 催 / 付)
    words = [w for w in dict.fromkeys(words) if len(w) <= WORD_MAX]
    if not words:
        return []
    matches = repository.matches(words)
    found = [
        script
        for script in repository.scripts_by_ids(sorted(matches)).values()
        if not scene_id or script.scene_id == scene_id
    ]
    found.sort(key=lambda s: (-matches[s.id][0], -s.use_count, -matches[s.id][1], s.title, s.id))
    return found[:limit]


def record_use(session: Session, tenant_id: str, script_id: str) -> Script:
    """One use of a script (sent from the sidebar or copied): its count and time."""
    get_script(session, tenant_id, script_id)
    session.execute(
        update(Script)
        .where(Script.tenant_id == tenant_id, Script.id == script_id)
        .values(use_count=Script.use_count + 1, last_used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    script = get_script(session, tenant_id, script_id)
    session.refresh(script)
    return script


def fill(text: str, customer_name: str = "") -> str:
    """`text` with {客户昵称} replaced by the customer's name (or a friendly 亲)."""
    return text.replace(NAME_VARIABLE, customer_name.strip() or DEFAULT_NAME)


def chat_message(script: Script, customer_name: str = "") -> dict[str, Any]:
    """What the sidebar hands to the JS-SDK's sendChatMessage for this script.

    An image needs a mediaid from media/upload, which is not built: it goes as a news card that
    opens the image instead."""
    text = fill(script.content, customer_name)
    if script.kind == ScriptKind.TEXT:
        return {"msgtype": "text", "text": {"content": text}}
    if script.kind == ScriptKind.MINIPROGRAM:
        return {
            "msgtype": "miniprogram",
            "miniprogram": {
                "appid": script.miniprogram_appid,
                "title": script.title,
                "imgUrl": script.image_url,
                "page": script.miniprogram_page,
            },
        }
    url = script.link_url if script.kind == ScriptKind.LINK else script.image_url
    return {
        "msgtype": "news",
        "news": {
            "link": url,
            "title": script.title,
            "desc": fill(script.link_description, customer_name) or text,
            "imgUrl": script.image_url,
        },
    }


def copy_text(script: Script, customer_name: str = "") -> str:
    """What the sidebar copies to the clipboard outside WeCom."""
    text = fill(script.content, customer_name)
    url = script.link_url if script.kind == ScriptKind.LINK else script.image_url
    if script.kind == ScriptKind.MINIPROGRAM:
        url = ""
    return "\n".join(part for part in (text, url) if part) or script.title
