"""Settings from `HAINA_*` environment variables (and `.env`), one object for the whole process.

The embedded default needs no configuration: SQLite under `var/`, worker threads in the server
process, keys generated into `var/keys.json` on first run. In production (`HAINA_ENV=production`)
placeholder or missing keys are refused.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER = "change-me"


class SettingsError(RuntimeError):
    """Raised when the configuration cannot be used; the message says what to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HAINA_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    var_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    # Requests per second per connection, by platform, over the defaults of
    # haina.connections.limits (JSON in the environment: '{"youzan": 5}').
    platform_rate_limits: dict[str, float] = Field(default_factory=dict)
    task_mode: Literal["inline-threads", "celery"] = "inline-threads"
    celery_broker_url: str | None = None
    worker_threads: int = 4
    secret_key: str = ""
    # Field-encryption keys: "version:base64key" items separated by commas; the first encrypts.
    encryption_keys: str = ""
    # Keyed hash (HMAC-SHA256) key for exact matching of encrypted values.
    hash_key: str = ""
    access_token_minutes: int = 60 * 12
    session_hours: int = 12
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    max_body_bytes: int = 2 * 1024 * 1024
    # Paths that take files (the engage image library: WeCom takes pictures up to 10 MB).
    max_upload_bytes: int = 11 * 1024 * 1024
    # Archived chat media larger than this are not fetched (the fetch fails with the reason).
    archive_media_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Archived chat media in an S3-compatible bucket instead of var/media (empty endpoint = disk),
    # e.g. https://s3.cn-north-1.amazonaws.com.cn or http://127.0.0.1:9000 (MinIO); path-style URLs.
    archive_media_s3_endpoint: str = ""
    archive_media_s3_bucket: str = ""
    archive_media_s3_prefix: str = "haina-media/"
    archive_media_s3_region: str = "us-east-1"
    archive_media_s3_access_key: str = ""
    archive_media_s3_secret_key: SecretStr = SecretStr("")
    default_language: Literal["zh-CN", "en"] = "zh-CN"
    demo_mode: bool = False
    # The platform sandbox served by this process under /sandbox (the demo turns it on).
    sandbox_enabled: bool = False
    sandbox_seed: int = 7
    sandbox_customers: int = 2000
    sandbox_orders_per_minute: float = 20.0
    base_url: str = "http://127.0.0.1:8000"
    event_max_attempts: int = 5
    event_retry_base_seconds: float = 2.0
    dispatcher_poll_seconds: float = 0.2
    # Deliveries a worker thread (or Celery task) takes at once; a handler with a batch form
    # processes them together (e.g. 200 pushes → one set-based store).
    event_batch_size: int = Field(default=200, ge=1, le=5000)
    # Celery tasks the server keeps published and unfinished (about the workers' processes: 2
    # per `haina worker`, x2 so none waits for the next poll). Work beyond that waits in the
    # database and is taken in bigger batches when a task finishes.
    event_tasks_in_flight: int = Field(default=4, ge=1, le=256)
    # OneID: let the probabilistic matcher propose links beyond the deterministic rules. Its
    # candidates come from an index of blocking keys and its weights are fixed, so incremental
    # resolution and `haina oneid rebuild` propose the same links; after turning it on for a
    # tenant with history, run `haina oneid rebuild` once to fill that index.
    oneid_matcher: bool = True
    # Tags: minutes between recomputations of each tenant's RFM scores and lifecycle stages.
    lifecycle_refresh_minutes: float = Field(default=10.0, gt=0)

    cookie_secure: bool = Field(default=False)

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.var_dir / 'haina.db').as_posix()}"
        if self.task_mode == "celery" and not (self.celery_broker_url or self.redis_url):
            raise SettingsError("HAINA_TASK_MODE=celery needs HAINA_CELERY_BROKER_URL or HAINA_REDIS_URL")
        keys_needed = {
            "secret_key": self.secret_key,
            "encryption_keys": self.encryption_keys,
            "hash_key": self.hash_key,
        }
        missing = [name for name, value in keys_needed.items() if not value or PLACEHOLDER in value]
        if missing:
            if self.env == "production":
                names = ", ".join("HAINA_" + name.upper() for name in missing)
                raise SettingsError(f"{names} must be set to real secrets when HAINA_ENV=production")
            generated = _load_or_create_keys(self.var_dir)
            for name in missing:
                setattr(self, name, generated[name])
        return self

    @model_validator(mode="after")
    def _check_media_store(self) -> Settings:
        endpoint = self.archive_media_s3_endpoint
        if not endpoint:
            return self
        if not endpoint.startswith(("http://", "https://")):
            raise SettingsError(f"HAINA_ARCHIVE_MEDIA_S3_ENDPOINT must be an http(s) URL, not {endpoint!r}")
        needed = {
            "bucket": self.archive_media_s3_bucket,
            "access_key": self.archive_media_s3_access_key,
            "secret_key": self.archive_media_s3_secret_key.get_secret_value(),
        }
        missing = ["HAINA_ARCHIVE_MEDIA_S3_" + name.upper() for name, value in needed.items() if not value]
        if missing:
            raise SettingsError(
                f"HAINA_ARCHIVE_MEDIA_S3_ENDPOINT is set: {', '.join(missing)} must be set too "
                "(or leave the endpoint empty to keep media on disk)"
            )
        return self

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.redis_url or "memory://"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _load_or_create_keys(var_dir: Path) -> dict[str, str]:
    """Keys for the embedded default, generated once into var/keys.json (mode 0600)."""
    path = var_dir / "keys.json"
    if path.exists():
        return json.loads(path.read_text())
    var_dir.mkdir(parents=True, exist_ok=True)
    keys = {
        "secret_key": secrets.token_urlsafe(48),
        "encryption_keys": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "hash_key": secrets.token_urlsafe(32),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(keys, handle)
    return keys


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
