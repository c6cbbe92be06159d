"""Which module holds each platform's connector. Connectors are imported on first use, so a
process that only talks to WeCom never imports the Taobao code.

Adding a platform is one line in PLATFORM_MODULES: the module must expose `connector`
(an object implementing haina.platforms.base.Connector).
"""

from __future__ import annotations

import importlib
import threading
from typing import cast

from haina.platforms.base import Connector

PLATFORM_MODULES: dict[str, str] = {
    "wecom": "haina.platforms.wecom",
    "youzan": "haina.platforms.youzan",
    "taobao": "haina.platforms.taobao",
    "tmall": "haina.platforms.taobao",  # Tmall shops speak TOP through the same gateway
    "jd": "haina.platforms.jd",
    "pdd": "haina.platforms.pdd",
    "douyin": "haina.platforms.douyin",
}

_loaded: dict[str, Connector] = {}
_lock = threading.Lock()


class UnknownPlatform(LookupError):
    def __init__(self, platform: str) -> None:
        known = ", ".join(sorted(PLATFORM_MODULES))
        super().__init__(f"no connector for platform {platform!r}; known: {known}")
        self.platform = platform


def get_connector(platform: str) -> Connector:
    """The connector of `platform` ("wecom", "taobao"…), imported on first use."""
    with _lock:
        if platform in _loaded:
            return _loaded[platform]
        module_name = PLATFORM_MODULES.get(platform)
        if module_name is None:
            raise UnknownPlatform(platform)
        module = importlib.import_module(module_name)
        connector = getattr(module, "connector", None)
        if connector is None:
            raise UnknownPlatform(platform)
        _loaded[platform] = cast(Connector, connector)
        return _loaded[platform]


def platforms() -> list[str]:
    return sorted(PLATFORM_MODULES)
