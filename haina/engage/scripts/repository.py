"""The queries of engage.scripts; every one scoped to a tenant here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from haina.core.errors import NotFound
from haina.engage.scripts.models import Script, ScriptScene, ScriptWord


class ScriptRepository:
    def __init__(self, session: Session, tenant_id: str) -> None:
        self.session, self.tenant_id = session, tenant_id

    def scenes(self) -> list[ScriptScene]:
        return list(
            self.session.scalars(
                select(ScriptScene)
                .where(ScriptScene.tenant_id == self.tenant_id)
                .order_by(ScriptScene.order, ScriptScene.created_at, ScriptScene.id)
            )
        )

    def scene(self, scene_id: str) -> ScriptScene:
        found = self.session.scalars(
            select(ScriptScene).where(ScriptScene.tenant_id == self.tenant_id, ScriptScene.id == scene_id)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no scene {scene_id} here", code="scene_not_found")
        return found

    def scene_counts(self) -> dict[str | None, int]:
        rows = self.session.execute(
            select(Script.scene_id, func.count())
            .where(Script.tenant_id == self.tenant_id)
            .group_by(Script.scene_id)
        )
        return {scene_id: int(count) for scene_id, count in rows}

    def script(self, script_id: str) -> Script:
        found = self.session.scalars(
            select(Script).where(Script.tenant_id == self.tenant_id, Script.id == script_id)
        ).one_or_none()
        if found is None:
            raise NotFound(f"no script {script_id} here", code="script_not_found")
        return found

    def scripts(self, scene_id: str | None = None, limit: int = 200) -> list[Script]:
        query = select(Script).where(Script.tenant_id == self.tenant_id)
        if scene_id:
            query = query.where(Script.scene_id == scene_id)
        query = query.order_by(Script.use_count.desc(), Script.updated_at.desc(), Script.id).limit(limit)
        return list(self.session.scalars(query))

    def scripts_by_ids(self, script_ids: Sequence[str]) -> dict[str, Script]:
        if not script_ids:
            return {}
        rows = self.session.scalars(
            select(Script).where(Script.tenant_id == self.tenant_id, Script.id.in_(list(script_ids)))
        )
        return {row.id: row for row in rows}

    def matches(self, words: Sequence[str]) -> dict[str, tuple[int, int]]:
        """script id → (how many of `words` it has, their summed weight)."""
        if not words:
            return {}
        rows = self.session.execute(
            select(ScriptWord.script_id, func.count(), func.sum(ScriptWord.weight))
            .where(ScriptWord.tenant_id == self.tenant_id, ScriptWord.word.in_(list(words)))
            .group_by(ScriptWord.script_id)
        )
        return {script_id: (int(count), int(weight or 0)) for script_id, count, weight in rows}

    def replace_words(self, script_id: str, weights: Iterable[tuple[str, int]]) -> None:
        self.drop_words(script_id)
        rows = [
            {"tenant_id": self.tenant_id, "word": word, "script_id": script_id, "weight": weight}
            for word, weight in weights
        ]
        if rows:
            self.session.execute(insert(ScriptWord), rows)

    def drop_words(self, script_id: str) -> None:
        self.session.execute(
            delete(ScriptWord).where(
                ScriptWord.tenant_id == self.tenant_id, ScriptWord.script_id == script_id
            )
        )
