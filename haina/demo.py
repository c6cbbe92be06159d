"""The demo merchant: a tenant with one login per role, on the embedded database."""

from __future__ import annotations

import logging

from sqlalchemy import select

from haina.core.auth.models import User
from haina.core.auth.permissions import Role
from haina.core.auth.service import NewUser, create_user
from haina.core.database import Database
from haina.core.migrate import upgrade
from haina.core.settings import Settings
from haina.core.tenancy.service import get_or_create_tenant
from haina.sandbox.state import SandboxState

DEMO_TENANT = "demo"
DEMO_PASSWORD = "haina-demo-2026"

DEMO_USERS = (
    ("demo", "店主 王海纳", Role.OWNER, "13800138000"),
    ("ops", "运营 李青", Role.OPERATOR, "13900139001"),
    ("agent", "客服 陈晓", Role.AGENT, "13700137002"),
    ("finance", "财务 周敏", Role.FINANCE, "13600136003"),
    ("tech", "师傅 赵强", Role.TECHNICIAN, "13500135004"),
)


def seed_demo(settings: Settings, *, seed: int = 7) -> list[tuple[str, str]]:
    """Migrate and create the demo tenant and its users (idempotent); returns (username, role)."""
    upgrade(settings.database_url)
    database = Database(settings)
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店")
        existing = set(session.scalars(select(User.username)))
        for username, display_name, role, phone in DEMO_USERS:
            if username not in existing:
                create_user(
                    session,
                    tenant.id,
                    NewUser(username, display_name, role.value, DEMO_PASSWORD, phone),
                    settings,
                )
    database.dispose()
    return [(username, role.value) for username, _, role, _ in DEMO_USERS]


# Platforms the demo tenant is connected to; JD and Pinduoduo need a merchant's consent in a
# browser (OAuth code flow), which the demo does not click through for you.
DEMO_PLATFORMS = ("wecom", "youzan", "taobao", "tmall", "douyin")
PUSHING_PLATFORMS = ("wecom", "youzan", "douyin")


def connect_demo_tenant(database: Database, settings: Settings, state: SandboxState) -> int:
    """Connect the demo tenant to the embedded sandbox's shops and corp (idempotent) and point the
    sandbox's pushes at the connections' webhooks; returns how many connections were created."""
    from haina.connections import service as connections
    from haina.sandbox.emulators.taobao import issue_session

    world = state.world
    base = settings.base_url.rstrip("/")
    created = 0
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店")
        existing = {(c.platform, c.shop_id): c for c in connections.list_connections(session, tenant.id)}
        wanted: list[connections.NewConnection] = [
            connections.NewConnection(
                platform="wecom",
                name=f"企业微信 {world.merchant_name}",
                app_key=world.corp_id,
                app_secret=world.corp_secret,
                shop_id=world.corp_id,
                base_url=f"{base}/sandbox/wecom",
                extra={"callback_token": world.callback_token, "encoding_aes_key": world.callback_aes_key},
            )
        ]
        for shop in world.shops:
            if shop.platform not in DEMO_PLATFORMS:
                continue
            emulator = "taobao" if shop.platform == "tmall" else shop.platform
            token = issue_session(state, shop.shop_id) if emulator == "taobao" else ""
            wanted.append(
                connections.NewConnection(
                    platform=shop.platform,
                    name=shop.name,
                    app_key=shop.app_key,
                    app_secret=shop.app_secret,
                    shop_id=shop.shop_id,
                    base_url=f"{base}/sandbox/{emulator}",
                    access_token=token,
                )
            )
        # The demo agent is a guide of the sandbox corp, so "the customers I follow" has some.
        agent = session.scalar(select(User).where(User.tenant_id == tenant.id, User.username == "agent"))
        if agent is not None and not agent.wecom_userid and world.staff:
            agent.wecom_userid = world.staff[0].userid
        for new in wanted:
            connection = existing.get((new.platform, new.shop_id))
            if connection is None:
                connection = connections.create_connection(session, tenant.id, new, settings)
                existing[(new.platform, new.shop_id)] = connection
                created += 1
            if new.platform in PUSHING_PLATFORMS:
                state.push_targets[new.platform] = f"{base}/webhooks/{new.platform}/{connection.id}"
    return created


def first_sync(database: Database, settings: Settings) -> None:
    """The demo's first backfill of every connection, then one OneID rebuild of the demo tenant.

    The event handlers already resolve identities as the records arrive; the rebuild settles the
    whole tenant in one pass once the history is in (and is a no-op when they agree).
    """
    import logging

    from haina.connections.tasks import run_scheduled
    from haina.customers.identity import service as identity

    run_scheduled(database, settings)
    try:
        with database.unit_of_work() as session:
            tenant = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店")
            identity.rebuild(session, tenant.id, settings=settings)
    except Exception:  # noqa: BLE001 - the demo keeps running; resolution goes on incrementally
        logging.getLogger(__name__).exception("the demo's OneID rebuild failed")
    try:
        seed_demo_tags(database)
    except Exception:  # noqa: BLE001 - the demo runs on without its sample tags
        logging.getLogger(__name__).exception("the demo's tags could not be seeded")
    seed_demo_engage(database)


# Tag groups → tags (name, rule or None for a manual tag); segments (name, definition).
_IN_90_DAYS = {"field": "order_count", "op": ">=", "value": 3, "days": 90}
DEMO_TAGS: tuple[tuple[str, tuple[tuple[str, dict[str, object] | None], ...]], ...] = (
    (
        "消费行为",
        (
            ("复购3次+", {"all": [_IN_90_DAYS]}),
            ("沉睡客户", {"all": [
                {"field": "no_order_in_days", "op": "=", "value": 90},
                {"field": "order_count", "op": ">=", "value": 1},
            ]}),
            ("天猫高客单", {"all": [
                {"field": "order_amount", "op": ">=", "value": 100_000, "platforms": ["tmall"]},
            ]}),
        ),
    ),
    ("聊天洞察", (("提及过敏", {"all": [{"field": "chat_keyword", "op": "contains", "value": "过敏"}]}),)),
    ("客户意向", (("高意向", None), ("待回访", None), ("VIP", None))),
)  # fmt: skip
DEMO_SEGMENTS: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("近 90 天高频复购", "90 天内下单 3 次及以上", {"all": [_IN_90_DAYS]}),
    ("待唤醒老客", "买过 2 次以上、90 天没有再下单", {"all": [
        {"field": "order_count", "op": ">=", "value": 2},
        {"field": "no_order_in_days", "op": "=", "value": 90},
    ]}),
)  # fmt: skip


def seed_demo_tags(database: Database, *, manual_sample: int = 3) -> int:
    """The demo tenant's sample tag groups, manual and rule tags and segments, made through the
    tags service (idempotent: what exists by name is left alone); rule tags are evaluated by the
    event runner. A few customers get the manual tag 高意向. Returns how many tags were created."""
    from haina.core.auth.actor import Actor
    from haina.customers.identity.models import Customer, CustomerStatus
    from haina.tags import service as tags

    created = 0
    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店")
        owner = session.scalar(select(User).where(User.tenant_id == tenant.id, User.role == Role.OWNER.value))
        if owner is None:
            return 0
        actor = Actor(owner.id, tenant.id, owner.username, owner.display_name, owner.role, via="demo")
        groups = {group.name: group for group in tags.list_groups(session, tenant.id)}
        for group_name, wanted in DEMO_TAGS:
            group = groups.get(group_name) or tags.create_group(session, actor, group_name)
            existing = {tag.name for tag in tags.list_tags(session, tenant.id, group_id=group.id)}
            for name, rule in wanted:
                if name not in existing:
                    kind = "rule" if rule else "manual"
                    tags.create_tag(session, actor, tags.TagInput(name, group.id, kind=kind, rule=rule))
                    created += 1
        segments = {segment.name for segment in tags.list_segments(session, tenant.id)}
        for name, description, definition in DEMO_SEGMENTS:
            if name not in segments:
                tags.create_segment(session, actor, name=name, definition=definition, description=description)
        hot = next(
            (tag for tag in tags.list_tags(session, tenant.id, kind="manual") if tag.name == "高意向"), None
        )
        sample = list(
            session.scalars(
                select(Customer.id)
                .where(Customer.tenant_id == tenant.id, Customer.status == CustomerStatus.ACTIVE.value)
                .order_by(Customer.created_at, Customer.id)
                .limit(manual_sample)
            )
        )
        if hot is not None and sample:
            tags.tag_customers(session, actor, sample, [hot.id])
    return created


# The engage operations with sample data, each `haina.engage.<name>.demo.seed(session, tenant_id,
# corp)`: idempotent, made through the module's service against the demo's WeCom corp.
DEMO_ENGAGE = ("livecodes", "welcome", "groupcodes", "broadcasts", "moments", "scripts", "handover", "losses")


def seed_demo_engage(database: Database) -> None:
    """Sample live codes, welcome messages, group codes, mass messages, moments, scripts,
    handovers and loss alerts for the demo tenant; one operation failing leaves the others."""
    import importlib

    from haina.connections import wecom_corps

    log = logging.getLogger(__name__)
    for name in DEMO_ENGAGE:
        try:
            seed = importlib.import_module(f"haina.engage.{name}.demo").seed
            with database.unit_of_work() as session:
                tenant = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店")
                seed(session, tenant.id, wecom_corps.first_corp(session, tenant.id))
        except Exception:  # noqa: BLE001 - the demo runs on without this operation's samples
            log.exception("the demo's %s could not be seeded", name)


DEMO_WATCHED_WORDS = ("投诉", "退款", "差评", "过敏")


def connect_demo_archive(database: Database, settings: Settings, state: SandboxState) -> None:
    """Give the demo tenant a 会话存档 key (once, version 1) and register its public half with the
    sandbox's corp, as an admin does in the WeCom console; the sandbox then archives its chats."""
    from cryptography.hazmat.primitives import serialization

    from haina.archive import service as archive
    from haina.archive.alerts import service as alerts
    from haina.core.auth.actor import Actor
    from haina.engage.losses.demo import DEMO_AGENTID
    from haina.sandbox.emulators.wecom_archive import generate_archive_key_pair, set_archive_public_key

    with database.unit_of_work() as session:
        tenant = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店")
        keys = archive.private_keys(session, tenant.id, settings)
        if 1 not in keys:
            owner = session.scalar(
                select(User).where(User.tenant_id == tenant.id, User.role == Role.OWNER.value)
            )
            if owner is None:
                return
            actor = Actor(owner.id, tenant.id, owner.username, owner.display_name, owner.role, via="demo")
            private_pem, _ = generate_archive_key_pair()
            archive.add_key(session, actor, settings, 1, private_pem)
            keys = {1: private_pem}
            # Watched words and staff phone leaks, told to the member and the store manager.
            for phrase in DEMO_WATCHED_WORDS:
                archive.add_rule(session, actor, "word", phrase)
            archive.add_rule(session, actor, "phone_leak")
            alerts.save_settings(
                session,
                tenant.id,
                is_enabled=True,
                agentid=DEMO_AGENTID,  # the sandbox corp's application, as the loss alerts use
                supervisor_userids=["HuangLi"],
                notify_member=True,
            )
    private_key = serialization.load_pem_private_key(keys[1].encode("ascii"), password=None)
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    set_archive_public_key(state, 1, public_pem)


def pull_demo_archive(
    database: Database, settings: Settings, state: SandboxState, *, wecom_url: str = ""
) -> int:
    """One archive intake of the demo tenant from the embedded sandbox (its WeCom emulator at
    `wecom_url`, by default the server's /sandbox/wecom); returns the messages stored."""
    from haina.archive import tasks as archive_tasks
    from haina.archive.sources import SandboxDecryptor, WeComHttpSource
    from haina.platforms.base import Credentials, Endpoint
    from haina.platforms.wecom.client import WeComClient

    world = state.world
    with database.unit_of_work() as session:
        tenant_id = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店").id
    client = WeComClient(
        Credentials(world.corp_id, world.corp_secret),
        Endpoint(wecom_url or f"{settings.base_url.rstrip('/')}/sandbox/wecom"),
    )
    try:
        result = archive_tasks.run_intake(
            database, tenant_id, world.corp_id, WeComHttpSource(client), SandboxDecryptor()
        )
    finally:
        client.close()
    return result.stored


def start_demo_archive(database: Database, settings: Settings, state: SandboxState) -> None:
    """Give the demo tenant its archive key and pull once now; from then on the scheduled intake
    (haina.archive.schedule, every minute, one run per tenant at a time) keeps it current."""
    from haina.archive import schedule as archive_schedule

    log = logging.getLogger(__name__)
    try:
        connect_demo_archive(database, settings, state)
    except Exception:  # noqa: BLE001 - the demo runs on without its archive
        log.exception("the demo's archive key could not be set up")
        return
    with database.unit_of_work() as session:
        tenant_id = get_or_create_tenant(session, DEMO_TENANT, "海纳演示旗舰店").id
    outcome = archive_schedule.pull_tenant(database, tenant_id, requested_by="demo")
    if outcome.error:
        log.warning("the demo's first archive pull failed: %s", outcome.error)
