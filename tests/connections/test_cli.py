"""`haina platform sign` and `haina platform wecom-decrypt` against the published vectors
(REFERENCE §1.5.1, §3.2, §4.1), and `haina connect` + `haina sync` against a real database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from haina.cli import app as cli
from haina.connections import service
from haina.core.database import Database
from haina.core.settings import Settings, reset_settings
from tests.connections.fakes import PLATFORM, FakeConnector, StoredRecords
from tests.factories import TenantFixture

runner = CliRunner()

TOKEN = "123456"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
RECEIVE_ID = "wx49f0ab532d5d035a"
C2_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
    "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hI"
    "iOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYE"
    "vccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
C2_PLAINTEXT = (
    "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
    "<FromUserName><![CDATA[messense]]></FromUserName>\n"
    "<CreateTime>1411525903</CreateTime>\n"
    "<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[test]]></Content>\n"
    "<MsgId>4363689963896700987</MsgId>\n"
    "<AgentID>1</AgentID>\n"
    "</xml>"
)


def decrypt_args(**values: str) -> list[str]:
    args = {
        "token": TOKEN,
        "aes-key": AES_KEY,
        "receive-id": RECEIVE_ID,
        "msg-signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
        "timestamp": "1411443780",
        "nonce": "437374425",
        "encrypt": "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
    }
    args.update(values)
    return ["platform", "wecom-decrypt"] + [
        part for key, value in args.items() for part in (f"--{key}", value)
    ]


def test_sign_taobao_vector() -> None:
    params = {
        "method": "taobao.user.seller.get",
        "timestamp": "2013-05-06 13:52:03",
        "format": "xml",
        "app_key": "test",
        "v": "2.0",
        "fields": "nick",
        "sign_method": "md5",
        "session": "test",
    }
    args = ["platform", "sign", "taobao", "--secret", "test", "--params-json", json.dumps(params)]
    result = runner.invoke(cli, [*args, "--method", "md5"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "72CB4D809B375A54502C09360D879C64"
    assert (
        runner.invoke(cli, args).output.strip() == "72CB4D809B375A54502C09360D879C64"
    )  # its own sign_method
    hmac_result = runner.invoke(cli, [*args, "--method", "hmac-sha256"])
    assert hmac_result.exit_code == 0 and len(hmac_result.output.strip()) == 64
    assert hmac_result.output.strip() == hmac_result.output.strip().upper()


def test_sign_pinduoduo_vector() -> None:
    params = {
        "access_token": "asd78172s8ds9a921j9qqwda12312w1w21211",
        "client_id": "1",
        "data_type": "XML",
        "type": "pdd.order.number.list.get",
        "timestamp": "1480411125",
        "order_status": "1",
        "page": "1",
        "page_size": "10",
    }
    result = runner.invoke(
        cli, ["platform", "sign", "pdd", "--secret", "testSecret", "--params-json", json.dumps(params)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "E4DE3ED21002510DED352819E7AE6775"


def test_sign_refuses_what_it_cannot_do() -> None:
    bad_json = runner.invoke(cli, ["platform", "sign", "taobao", "--secret", "s", "--params-json", "{nope"])
    assert bad_json.exit_code == 2 and "not JSON" in bad_json.output
    bad_method = runner.invoke(
        cli, ["platform", "sign", "jd", "--secret", "s", "--params-json", "{}", "--method", "hmac"]
    )
    assert bad_method.exit_code == 2 and "md5 only" in bad_method.output
    unknown = runner.invoke(cli, ["platform", "sign", "wecom", "--secret", "s", "--params-json", "{}"])
    assert unknown.exit_code == 2


def test_wecom_decrypt_vectors() -> None:
    echo = runner.invoke(cli, decrypt_args())
    assert echo.exit_code == 0, echo.output
    assert echo.output == "5927782489442352469\n"
    message = runner.invoke(
        cli,
        decrypt_args(
            **{
                "msg-signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
                "timestamp": "1411525903",
                "nonce": "461056294",
                "encrypt": C2_ENCRYPT,
            }
        ),
    )
    assert message.exit_code == 0, message.output
    assert message.output == C2_PLAINTEXT + "\n"
    forged = runner.invoke(cli, decrypt_args(**{"msg-signature": "0" * 40}))
    assert forged.exit_code == 1 and "msg_signature does not match" in forged.output
    wrong_corp = runner.invoke(cli, decrypt_args(**{"receive-id": "wx-someone-else"}))
    assert wrong_corp.exit_code == 1 and "receiveid" in wrong_corp.output


@pytest.fixture
def cli_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The CLI reads its settings from the environment: point it at the test database."""
    monkeypatch.setenv("HAINA_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("HAINA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HAINA_ENCRYPTION_KEYS", settings.encryption_keys)
    monkeypatch.setenv("HAINA_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("HAINA_HASH_KEY", settings.hash_key)
    reset_settings()
    yield settings
    reset_settings()


def test_connect_and_sync(
    cli_settings: Settings,
    database: Database,
    tenant: TenantFixture,
    fake: FakeConnector,
    stored: StoredRecords,
) -> None:
    connected = runner.invoke(
        cli,
        [
            "connect",
            PLATFORM,
            "--tenant",
            tenant.slug,
            "--name",
            "命令行店",
            "--app-key",
            "cli-key",
            "--app-secret",
            "cli-secret-0123456789abcdef",
            "--shop-id",
            "shop-7",
            "--base-url",
            "http://127.0.0.1:9",
            "--extra",
            "callback_token=cli-callback",
            "--extra",
            "grant_id=g-7",
        ],
    )
    assert connected.exit_code == 0, connected.output
    assert "cli-secret-0123456789abcdef" not in connected.output and "••••cdef" in connected.output
    connection_id = connected.output.split("id:", 1)[1].split()[0]
    assert f"/webhooks/{PLATFORM}/{connection_id}" in connected.output
    with database.unit_of_work() as session:
        connection = service.get_connection(session, tenant.id, connection_id)
        credentials = service.credentials_of(connection, cli_settings)
    assert dict(credentials.extra) == {"callback_token": "cli-callback", "grant_id": "g-7"}
    assert credentials.shop_id == "shop-7"

    fake.stream.pages_script = [["o-1", "o-2"], ["o-3"]]
    synced = runner.invoke(cli, ["sync", connection_id, "--stream", "orders"])
    assert synced.exit_code == 0, synced.output
    last = synced.output.strip().splitlines()[-1]
    assert last.startswith("orders") and "3 records" in last and "idle" in last
    assert stored.external_ids() == ["o-1", "o-2", "o-3"]

    unknown_tenant = runner.invoke(
        cli,
        [
            "connect",
            PLATFORM,
            "--tenant",
            "no-such-tenant",
            "--name",
            "x",
            "--app-key",
            "k",
            "--app-secret",
            "s",
        ],
    )
    assert unknown_tenant.exit_code == 1 and "unknown tenant" in unknown_tenant.output
    failing = runner.invoke(cli, ["sync", connection_id, "--stream", "nothing"])
    assert failing.exit_code == 1 and "no stream" in failing.output
