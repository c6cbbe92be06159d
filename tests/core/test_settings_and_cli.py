"""Settings (generated keys for the embedded default, refusal in production) and the CLI."""

from __future__ import annotations

import json
import stat

import pytest
from typer.testing import CliRunner

from haina.cli import app as cli
from haina.core.settings import Settings, SettingsError, reset_settings


def test_embedded_default_generates_keys_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = Settings(var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    second = Settings(var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert first.secret_key == second.secret_key and first.encryption_keys == second.encryption_keys
    keys_file = tmp_path / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert set(json.loads(keys_file.read_text())) == {"secret_key", "encryption_keys", "hash_key"}
    assert first.database_url == f"sqlite:///{tmp_path.as_posix()}/haina.db"


def test_production_refuses_placeholder_keys(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError, match="HAINA_SECRET_KEY"):
        Settings(
            env="production",
            var_dir=tmp_path,
            secret_key="change-me",
            encryption_keys="1:x",
            hash_key="h",
            _env_file=None,
        )  # type: ignore[call-arg]
    with pytest.raises(SettingsError, match="HAINA_ENCRYPTION_KEYS"):
        Settings(env="production", var_dir=tmp_path, secret_key="s" * 40, hash_key="h" * 20, _env_file=None)  # type: ignore[call-arg]
    assert not (tmp_path / "keys.json").exists()


def test_celery_mode_needs_a_broker(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SettingsError, match="BROKER"):
        Settings(task_mode="celery", var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def cli_env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HAINA_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("HAINA_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    reset_settings()
    yield tmp_path
    reset_settings()


def test_cli_upgrade_and_create_user(cli_env) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    created = runner.invoke(
        cli,
        [
            "user",
            "create",
            "boss",
            "--tenant",
            "shop-1",
            "--password",
            "long-password-1",
            "--phone",
            "13812345678",
        ],
    )
    assert created.exit_code == 0, created.output
    assert "created owner 'boss'" in created.output
    again = runner.invoke(
        cli, ["user", "create", "boss", "--tenant", "shop-1", "--password", "long-password-1"]
    )
    assert again.exit_code == 1 and "taken" in again.output
    weak = runner.invoke(cli, ["user", "create", "other", "--password", "short"])
    assert weak.exit_code == 1 and "at least" in weak.output


def test_cli_key_rotation_reencrypts(cli_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert (
        runner.invoke(
            cli, ["user", "create", "boss", "--password", "long-password-1", "--phone", "13812345678"]
        ).exit_code
        == 0
    )
    new_key = runner.invoke(cli, ["keys", "generate", "--version", "2"]).output.strip()
    assert new_key.startswith("2:")
    old_keys = json.loads((cli_env / "keys.json").read_text())["encryption_keys"]
    monkeypatch.setenv("HAINA_ENCRYPTION_KEYS", f"{new_key},{old_keys}")
    reset_settings()
    result = runner.invoke(cli, ["keys", "reencrypt"])
    assert result.exit_code == 0 and "re-encrypted 1" in result.output
    engine = create_engine(f"sqlite:///{cli_env / 'cli.db'}")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT phone_encrypted FROM users")).scalar_one()
    engine.dispose()
    assert stored.startswith("v2.")


def test_worker_pool_is_prefork_or_solo(cli_env) -> None:  # type: ignore[no-untyped-def]
    refused = CliRunner().invoke(cli, ["worker", "--pool", "threads"])
    assert refused.exit_code == 2
    assert "prefork or solo" in refused.output
