"""How long a WeCom callback waits for its answer: verify msg_signature, decrypt, write the event
to the inbox and commit, then answer "success" (WeCom wants it well under 1 s, and retries after 5).

    python bench/ingest_webhook.py                 # 2,000 callbacks on SQLite (the embedded default)
    python bench/ingest_webhook.py --quick         # 200 callbacks
    python bench/ingest_webhook.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/haina_bench

Every callback is a distinct change_external_contact event sealed with WXBizMsgCrypt, POSTed to
/webhooks/wecom/<connection id> through the ASGI app in process (no network), so the figure is
the server's own time. Baseline, measured in the same run through the same client: GET /healthz
(routing, middleware and one session, no work). A PostgreSQL URL must name an existing, empty
database; it is migrated first.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from haina.connections import service
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant
from haina.platforms.wecom.crypto import WXBizMsgCrypt
from haina.web.app import create_app

CORP_ID = "ww0123456789abcdef"
TOKEN = "bench-token"
AES_KEY = base64.b64encode(b"b" * 32).decode()[:43]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def event(index: int) -> str:
    return (
        "<xml><ToUserName><![CDATA[" + CORP_ID + "]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{1_700_000_000 + index}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[staff{index % 50}]]></UserID>"
        f"<ExternalUserID><![CDATA[wm{index:012d}]]></ExternalUserID>"
        "<WelcomeCode><![CDATA[code]]></WelcomeCode></xml>"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--callbacks", type=int, default=None)
    parser.add_argument("--database-url", default="")
    arguments = parser.parse_args()
    count = arguments.callbacks or (200 if arguments.quick else 2_000)

    with tempfile.TemporaryDirectory() as scratch:
        url = arguments.database_url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        settings = Settings(
            var_dir=Path(scratch),
            database_url=url,
            secret_key="bench-secret-key-0123456789abcdef",
            encryption_keys="1:" + base64.b64encode(b"k" * 32).decode(),
            hash_key="bench-hash-key",
            _env_file=None,  # type: ignore[call-arg]
        )
        upgrade(url)
        database = Database(settings)
        with database.unit_of_work() as session:
            tenant = get_or_create_tenant(session, "bench", "压测商户")
            connection = service.create_connection(
                session,
                tenant.id,
                service.NewConnection(
                    platform="wecom",
                    name="压测企业",
                    app_key=CORP_ID,
                    app_secret="bench-contact-secret",
                    shop_id=CORP_ID,
                    extra={"callback_token": TOKEN, "encoding_aes_key": AES_KEY},
                ),
                settings,
            )
        crypt = WXBizMsgCrypt(TOKEN, AES_KEY, CORP_ID)
        sealed = [
            crypt.seal_event(event(index), nonce=index, timestamp=1_700_000_000 + index, to_user_name=CORP_ID)
            for index in range(count)
        ]
        app = create_app(settings, database, start_workers=False)
        path = f"/webhooks/wecom/{connection.id}"
        callbacks: list[float] = []
        baseline: list[float] = []
        with TestClient(app) as client:
            for _ in range(20):
                client.get("/healthz")
            for item in sealed:
                started = time.perf_counter()
                answer = client.post(path, params=item.query, content=item.body.encode())
                callbacks.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200 or answer.content != b"success":
                    sys.exit(f"callback answered {answer.status_code}: {answer.text[:200]}")
                started = time.perf_counter()
                client.get("/healthz")
                baseline.append((time.perf_counter() - started) * 1000)
        database.dispose()

    p50, p99 = percentile(callbacks, 0.50), percentile(callbacks, 0.99)
    base50 = statistics.median(baseline)
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"{count} WeCom callbacks on {backend}: verify + decrypt + inbox write + commit, then answer")
    print(f"  {'':<14}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}")
    for label, values in (("callback", callbacks), ("GET /healthz", baseline)):
        print(
            f"  {label:<14}{percentile(values, 0.5):>8.2f}ms{percentile(values, 0.95):>7.2f}ms"
            f"{percentile(values, 0.99):>7.2f}ms{max(values):>7.2f}ms"
        )
    print(f"figure: ingest.wecom_callback_p50_ms {p50:.2f} ms")
    print(f"figure: ingest.wecom_callback_p99_ms {p99:.2f} ms")
    print(f"figure: ingest.wecom_callback_vs_healthz {p50 / base50:.1f} x")


if __name__ == "__main__":
    main()
