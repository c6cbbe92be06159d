"""Console and error-message translations: Simplified Chinese by default, English available.

The catalogs live in `haina/core/locales/<language>.json` (flat `key → text` maps, `{name}`
placeholders), plus one file per module area in `haina/core/locales/<language>/*.json` (e.g.
`zh-CN/engage.livecodes.json`), merged in name order, so modules built side by side do not edit
one file. Both languages carry the same keys; a missing key falls back to the default
given by the caller, then to the Chinese text, then to the key itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


def load_catalogs(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    catalogs: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        catalog = json.loads((directory / f"{language}.json").read_text(encoding="utf-8"))
        for part in sorted((directory / language).glob("*.json")):
            catalog.update(json.loads(part.read_text(encoding="utf-8")))
        catalogs[language] = catalog
    return catalogs


MESSAGES: dict[str, dict[str, str]] = load_catalogs()


def normalise_language(value: str | None) -> str:
    if not value:
        return DEFAULT_LANGUAGE
    value = value.strip()
    if value.lower().startswith("en"):
        return "en"
    if value.lower().startswith("zh"):
        return "zh-CN"
    return DEFAULT_LANGUAGE


def gettext(language: str, key: str, default: str | None = None, **params: Any) -> str:
    """The text for `key` in `language`, falling back to `default`, then the key itself."""
    text = MESSAGES.get(language, {}).get(key)
    if text is None:
        text = default if default is not None else MESSAGES[DEFAULT_LANGUAGE].get(key, key)
    return text.format(**params) if params else text
