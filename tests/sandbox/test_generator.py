"""The sandbox generator: determinism, ground truth, money, time, seasonality, identity
variations, chats, streaming, the live ticker and the `haina sandbox seed` command."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from haina.core import clock
from haina.sandbox.cli import sandbox_app
from haina.sandbox.data.names import traditional
from haina.sandbox.generator import DEFAULT_START, KINDS, generate_world, stream_world, write_world
from haina.sandbox.generator.season import local_date
from haina.sandbox.live import LiveTicker
from haina.sandbox.state import SandboxState
from haina.sandbox.world import World

CUSTOMERS = 1500


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(11, CUSTOMERS)


def beijing_hour(moment: datetime) -> int:
    return (moment.hour + 8) % 24


# --- determinism and streaming -------------------------------------------------------------


def test_same_seed_writes_identical_bytes_and_another_seed_differs(tmp_path):
    write_world(5, 400, tmp_path / "first")
    write_world(5, 400, tmp_path / "second")
    write_world(6, 400, tmp_path / "other")
    names = sorted(path.name for path in (tmp_path / "first").iterdir())
    assert names == sorted([f"{kind}.jsonl" for kind in KINDS] + ["merchant.json", "ground_truth.csv"])
    for name in names:
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes(), name
    assert (tmp_path / "first" / "orders.jsonl").read_bytes() != (
        tmp_path / "other" / "orders.jsonl"
    ).read_bytes()
    assert (tmp_path / "first" / "people.jsonl").read_bytes() != (
        tmp_path / "other" / "people.jsonl"
    ).read_bytes()


def test_streaming_writes_the_same_records_as_generate_world(tmp_path):
    world = generate_world(8, 300)
    result = write_world(8, 300, tmp_path)
    for kind in KINDS:
        expected = [orjson.dumps(record) for record in getattr(world, kind)]
        written = (tmp_path / f"{kind}.jsonl").read_bytes().splitlines()
        assert written == expected, kind
        assert result.counts[kind] == len(expected)
    merchant = orjson.loads((tmp_path / "merchant.json").read_bytes())
    assert merchant["corp_id"] == world.corp_id
    assert merchant["callback_aes_key"] == world.callback_aes_key


def test_stream_yields_one_record_at_a_time_in_a_stable_order():
    kinds = [kind for kind, _ in stream_world(3, 50)]
    assert kinds[0] == "merchant"
    # Setup first, then customers: the first person comes after every product and tag group.
    assert kinds.index("people") > max(index for index, kind in enumerate(kinds) if kind == "tag_groups")
    assert kinds.count("people") == 50


def test_start_moves_the_whole_year_and_must_be_timezone_aware():
    start = datetime(2026, 7, 1, tzinfo=UTC)
    world = generate_world(2, 200, start=start)
    assert max(order.modified_at for order in world.orders) <= start
    assert min(order.created_at for order in world.orders) >= start - timedelta(days=366)
    with pytest.raises(ValueError, match="timezone-aware"):
        generate_world(2, 10, start=datetime(2026, 7, 1))


# --- ground truth and references -----------------------------------------------------------


def test_every_identity_record_points_to_a_person(world):
    people = {person.person_id for person in world.people}
    assert len(people) == CUSTOMERS
    assert all(account.person_id in people for account in world.accounts)
    assert all(contact.person_id in people for contact in world.contacts)
    assert all(member.person_id in people for member in world.pos_members)
    accounts = {account.account_id: account for account in world.accounts}
    for member in world.pos_members:
        assert any(
            account.buyer_id == member.member_no and account.person_id == member.person_id
            for account in accounts.values()
            if account.platform == "pos"
        )


def test_ground_truth_csv_matches_the_records(tmp_path):
    world = generate_world(4, 200)
    write_world(4, 200, tmp_path)
    with open(tmp_path / "ground_truth.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    truth = {(row["kind"], row["id"]): row["person_id"] for row in rows}
    assert len(truth) == len(rows) == len(world.accounts) + len(world.contacts) + len(world.pos_members)
    for account in world.accounts:
        assert truth[("account", account.account_id)] == account.person_id
    for contact in world.contacts:
        assert truth[("contact", contact.external_userid)] == contact.person_id
    for member in world.pos_members:
        assert truth[("pos_member", member.member_no)] == member.person_id


def test_orders_reference_existing_accounts_shops_products_and_coupons(world):
    accounts = {account.account_id: account for account in world.accounts}
    shops = {shop.shop_id: shop for shop in world.shops}
    products = {product.sku_id: product for product in world.products}
    coupons = {coupon.coupon_id: coupon for coupon in world.coupons}
    assert len({order.order_id for order in world.orders}) == len(world.orders)
    for order in world.orders:
        account = accounts[order.account_id]
        assert account.shop_id == order.shop_id and account.buyer_id == order.buyer_id
        assert shops[order.shop_id].platform == order.platform
        for line in order.lines:
            assert products[line.sku_id].outer_sku == line.outer_sku
        if order.coupon_id:
            coupon = coupons[order.coupon_id]
            assert coupon.shop_id == order.shop_id
            assert coupon.starts_at <= order.created_at <= coupon.ends_at
            goods = sum(line.price_fen * line.quantity for line in order.lines)
            assert goods >= coupon.threshold_fen
    orders = {order.order_id for order in world.orders}
    assert all(refund.order_id in orders for refund in world.refunds)


# --- money and time ------------------------------------------------------------------------


def check_money_and_time(world: World, start: datetime) -> None:
    refunded: defaultdict[str, int] = defaultdict(int)
    for refund in world.refunds:
        if refund.status != "refused":
            refunded[refund.order_id] += refund.amount_fen
        assert refund.created_at <= refund.modified_at <= start
    orders = {order.order_id: order for order in world.orders}
    for order in world.orders:
        goods = sum(line.price_fen * line.quantity for line in order.lines)
        assert order.total_fen == goods + order.freight_fen
        assert order.paid_fen == order.total_fen - order.discount_fen
        assert 0 <= order.discount_fen < order.total_fen
        times = [
            moment
            for moment in (order.created_at, order.paid_at, order.shipped_at, order.finished_at)
            if moment
        ]
        assert times == sorted(times), order.order_id
        assert order.modified_at == max([*times, order.modified_at]) and order.modified_at <= start
        assert order.version >= 1
        if order.status in ("paid", "shipped", "completed", "refunded", "partially_refunded"):
            assert order.paid_at is not None
        if order.status in ("shipped",):
            assert order.shipped_at is not None and order.finished_at is None
        if order.status in ("completed", "closed", "refunded", "partially_refunded"):
            assert order.finished_at is not None
    for order_id, amount in refunded.items():
        assert amount <= orders[order_id].paid_fen
        assert orders[order_id].paid_at is not None


def test_money_adds_up_and_times_move_forward(world):
    check_money_and_time(world, DEFAULT_START)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10**9), customers=st.integers(min_value=1, max_value=60))
def test_money_and_time_hold_for_any_seed(seed, customers):
    world = generate_world(seed, customers)
    assert len(world.people) == customers
    check_money_and_time(world, DEFAULT_START)


def test_order_states_are_mostly_completed_with_every_other_state_present(world):
    states = Counter(order.status for order in world.orders)
    assert states["completed"] > 0.6 * len(world.orders)
    for status in ("pending_payment", "paid", "shipped", "closed", "refunded", "partially_refunded"):
        assert states[status] > 0, status
    refunds = Counter(refund.status for refund in world.refunds)
    assert refunds["completed"] > refunds["refused"] > 0
    partial = [refund for refund in world.refunds if refund.line_id]
    assert partial and all(
        refund.amount_fen < {o.order_id: o for o in world.orders}[refund.order_id].paid_fen
        for refund in partial
    )


def test_about_three_orders_per_customer(world):
    assert 2.5 <= len(world.orders) / CUSTOMERS <= 3.5


def test_double_eleven_week_has_clearly_more_orders_than_an_average_week(world):
    days = Counter(local_date(int(order.created_at.timestamp())) for order in world.orders)
    double_eleven_week = sum(days[date(2025, 11, day)] for day in range(5, 12))
    average_week = len(world.orders) / 52
    assert double_eleven_week > 1.8 * average_week
    # 618 too, and the Spring Festival holiday itself is quiet (couriers stop).
    assert days[date(2025, 6, 18)] > 3 * len(world.orders) / 365
    holiday = sum(days[date(2025, 1, 29) + timedelta(days=offset)] for offset in range(7))
    assert holiday < average_week


def test_orders_follow_the_day_more_at_evening_than_before_dawn(world):
    hours = Counter(beijing_hour(order.created_at) for order in world.orders)
    assert hours[21] > 4 * hours[4]


def test_coupons_use_threshold_discount_and_cash_kinds(world):
    kinds = {coupon.kind for coupon in world.coupons}
    assert kinds == {"threshold", "discount", "cash"}
    titles = {coupon.title for coupon in world.coupons}
    assert "满199减30" in titles
    threshold = next(coupon for coupon in world.coupons if coupon.title == "满199减30")
    assert (threshold.threshold_fen, threshold.value_fen, threshold.discount_percent) == (19900, 3000, 0)
    assert sum(1 for order in world.orders if order.coupon_id) > 0.2 * len(world.orders)


# --- identity variations --------------------------------------------------------------------


def test_identity_variations_are_present(world):
    people = {person.person_id: person for person in world.people}
    platforms: defaultdict[str, set[str]] = defaultdict(set)
    for account in world.accounts:
        platforms[account.person_id].add(account.platform)
    assert sum(1 for found in platforms.values() if len(found) >= 2) > 0.2 * CUSTOMERS

    taobao = [account for account in world.accounts if account.platform in ("taobao", "tmall")]
    assert taobao and all("****" in account.phone and len(account.phone) == 11 for account in taobao)
    assert all(account.oaid for account in taobao)

    traditional_names = [
        account for account in world.accounts
        if account.name != people[account.person_id].name and account.name == traditional(people[account.person_id].name)
    ]  # fmt: skip
    assert len(traditional_names) > 20

    typos = [
        account for account in world.accounts
        if len(account.name) == len(people[account.person_id].name)
        and account.name != people[account.person_id].name
        and account.name not in traditional_names
        and sum(a != b for a, b in zip(account.name, people[account.person_id].name, strict=True)) == 1
    ]  # fmt: skip
    assert len(typos) > 20

    other_phone = [
        account for account in world.accounts
        if account.phone[-4:] != people[account.person_id].phone[-4:]
    ]  # fmt: skip
    assert len(other_phone) > 20

    rewritten = [
        account
        for account in world.accounts
        if account.address and account.address not in people[account.person_id].street
    ]
    assert len(rewritten) > 0.2 * len(world.accounts)
    assert any(account.province in ("上海", "北京", "浙江", "广东") for account in world.accounts)

    devices: defaultdict[str, set[str]] = defaultdict(set)
    for account in world.accounts:
        if account.device_id:
            devices[account.device_id].add(account.person_id)
    shared = [owners for owners in devices.values() if len(owners) > 1]
    assert len(shared) > 10
    for owners in shared:
        households = {people[person_id].household_device_id for person_id in owners}
        assert len(households) == 1  # only a household shares a device


def test_wecom_and_youzan_share_the_unionid_of_one_wechat_user(world):
    youzan = {
        account.unionid: account.person_id for account in world.accounts if account.platform == "youzan"
    }
    assert all(youzan.values())
    matched = [contact for contact in world.contacts if contact.unionid in youzan]
    assert len(matched) > 30
    assert all(youzan[contact.unionid] == contact.person_id for contact in matched)
    assert all(not account.unionid for account in world.accounts if account.platform != "youzan")


def test_namesakes_in_one_city_are_different_people(world):
    by_name_and_city: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for person in world.people:
        by_name_and_city[(person.name, person.city)].append(person.person_id)
    namesakes = [
        ids
        for (name, _), ids in by_name_and_city.items()
        if len(ids) > 1 and name in ("张伟", "王伟", "王芳", "李娜", "李静", "张敏", "刘伟", "王静", "李伟")
    ]
    assert namesakes
    people = {person.person_id: person for person in world.people}
    for ids in namesakes:
        assert len({people[person_id].phone for person_id in ids}) == len(ids)


# --- WeCom ---------------------------------------------------------------------------------


def test_wecom_corp_contacts_and_tags_have_the_platform_shapes(world):
    assert world.corp_id.startswith("ww") and len(world.corp_id) == 18
    assert len(world.callback_aes_key) == 43 and world.callback_aes_key.isalnum()
    tag_ids = {tag.tag_id for group in world.tag_groups for tag in group.tags}
    staff = {member.userid for member in world.staff}
    assert all(member.position in ("导购", "店长") and len(member.mobile) == 11 for member in world.staff)
    states = Counter()
    for contact in world.contacts:
        assert contact.external_userid.startswith("wm") and len(contact.external_userid) == 32
        assert contact.unionid.startswith("o") and len(contact.unionid) == 28
        assert contact.follow_users and contact.created_at == contact.follow_users[0].createtime
        for follow in contact.follow_users:
            assert follow.userid in staff
            assert set(follow.tag_ids) <= tag_ids
            states[follow.state] += 1
    assert {"pack_card", "live_1111", "live_0618"} <= set(states)
    assert any(state.startswith("store_") for state in states)
    add_ways = {follow.add_way for contact in world.contacts for follow in contact.follow_users}
    assert {1, 2} <= add_ways
    assert any(
        len(follow.remark_mobiles) == 2 for contact in world.contacts for follow in contact.follow_users
    )


def test_groups_hold_staff_and_contacts(world):
    contacts = {contact.external_userid: contact for contact in world.contacts}
    staff = {member.userid for member in world.staff}
    assert world.groups
    for group in world.groups:
        assert group.chat_id.startswith("wr") and group.owner in staff
        members = [member for member in group.members if member.type == 2]
        assert members
        for member in members:
            assert contacts[member.userid].unionid == member.unionid
            assert member.join_time >= group.create_time


def test_chats_mix_message_types_and_carry_complaint_keywords(world):
    assert [message.seq for message in world.messages] == list(range(1, len(world.messages) + 1))
    assert len({message.msgid for message in world.messages}) == len(world.messages)
    types = Counter(message.msgtype for message in world.messages)
    assert types["text"] > 0.8 * len(world.messages)
    for msgtype in (
        "image",
        "voice",
        "file",
        "link",
        "emotion",
        "revoke",
        "location",
        "card",
        "weapp",
        "mixed",
    ):
        assert types[msgtype] > 0, msgtype
    fields = {
        "text": {"content"},
        "image": {"md5sum", "filesize", "sdkfileid"},
        "voice": {"md5sum", "voice_size", "play_length", "sdkfileid"},
        "file": {"md5sum", "filename", "fileext", "filesize", "sdkfileid"},
        "link": {"title", "description", "link_url", "image_url"},
        "emotion": {"type", "width", "height", "imagesize", "md5sum", "sdkfileid"},
        "revoke": {"pre_msgid"},
        "location": {"longitude", "latitude", "address", "title", "zoom"},
        "card": {"corpname", "userid"},
        "weapp": {"title", "description", "username", "displayname"},
        "mixed": {"item"},
        "chatrecord": {"title", "item"},
    }
    msgids = {message.msgid for message in world.messages}
    for message in world.messages:
        assert set(message.content) == fields[message.msgtype], message.msgtype
        assert message.msgtime <= DEFAULT_START
        if message.msgtype == "revoke":
            assert message.action == "recall" and message.content["pre_msgid"] in msgids
        if message.msgtype in ("mixed", "chatrecord"):  # a line and a photo, each item's content JSON
            kinds = [item["type"].removeprefix("ChatRecord").lower() for item in message.content["item"]]
            assert sorted(kinds) == ["image", "text"]
            assert all(isinstance(json.loads(item["content"]), dict) for item in message.content["item"])
    texts = [message.content["content"] for message in world.messages if message.msgtype == "text"]
    for word in ("投诉", "退款", "过敏", "差评"):
        assert any(word in text for text in texts), word
    assert any(message.roomid for message in world.messages)


def test_allergy_questions_peak_in_the_evening(world):
    staff = {member.userid for member in world.staff}
    allergy = [
        message for message in world.messages
        if message.msgtype == "text" and "过敏" in message.content["content"] and message.sender not in staff
    ]  # fmt: skip
    evening = [message for message in allergy if 19 <= beijing_hour(message.msgtime) <= 23]
    assert len(allergy) >= 5 and len(evening) > len(allergy) / 2


def test_mothers_move_up_formula_stages_and_robot_owners_buy_consumables(world):
    codes_by_person: defaultdict[str, list[str]] = defaultdict(list)
    owner = {account.account_id: account.person_id for account in world.accounts}
    for order in sorted(world.orders, key=lambda order: order.created_at):
        for line in order.lines:
            codes_by_person[owner[order.account_id]].append(line.outer_sku)
    robot_then_parts = [
        codes for codes in codes_by_person.values()
        if any(code.startswith("JB-RB") for code in codes)
        and any(code.startswith("JB-RP") for code in codes[codes.index(next(c for c in codes if c.startswith("JB-RB"))):])
    ]  # fmt: skip
    assert len(robot_then_parts) > 5
    stage_moves = [
        codes for codes in codes_by_person.values()
        if "BH-MF1-800" in codes and "BH-MF2-800" in codes and codes.index("BH-MF1-800") < codes.index("BH-MF2-800")
    ]  # fmt: skip
    assert stage_moves


# --- live ticker ---------------------------------------------------------------------------


def run_ticker(ticks: int) -> tuple[list, list[tuple[str, bytes]], World]:
    clock.freeze(datetime(2025, 11, 23, 2, tzinfo=UTC))
    try:
        state = SandboxState(world=generate_world(3, 200))
        notified: list[tuple[str, bytes]] = []
        state.subscribe(lambda kind, record: notified.append((kind, orjson.dumps(record))))
        ticker = LiveTicker(state, 9, orders_per_minute=120, interval_seconds=1)
        changes = []
        for _ in range(ticks):
            clock.advance(timedelta(seconds=1))
            changes.extend(ticker.tick())
        return changes, notified, state.world
    finally:
        clock.freeze(None)


def test_live_ticker_is_deterministic_and_produces_every_kind_of_change():
    first_changes, first_notified, first_world = run_ticker(40)
    second_changes, second_notified, _ = run_ticker(40)
    assert first_changes == second_changes
    assert first_notified == second_notified
    events = Counter(change.event for change in first_changes)
    for event in (
        "order.created",
        "order.shipped",
        "order.completed",
        "refund.requested",
        "contact.added",
        "message.sent",
    ):
        assert events[event] > 0, event
    assert events["order.created"] == 80  # 120 a minute for 40 seconds
    kinds = {kind for kind, _ in first_notified}
    assert {"orders", "refunds", "contacts", "messages", "people", "accounts"} <= kinds
    # New ids never collide with the seeded world's.
    for attribute, key in (
        ("orders", "order_id"),
        ("accounts", "account_id"),
        ("people", "person_id"),
        ("contacts", "external_userid"),
    ):
        ids = [getattr(record, key) for record in getattr(first_world, attribute)]
        assert len(ids) == len(set(ids)), attribute
    seqs = [message.seq for message in first_world.messages]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


def test_live_status_changes_bump_version_and_modified_at():
    changes, _, world = run_ticker(30)
    orders = {order.order_id: order for order in world.orders}
    moved = [
        orders[change.record_id] for change in changes if change.event in ("order.shipped", "order.completed")
    ]
    assert moved
    for order in moved:
        assert order.modified_at > DEFAULT_START
        assert order.version >= 3
        times = [
            moment
            for moment in (order.created_at, order.paid_at, order.shipped_at, order.finished_at)
            if moment
        ]
        assert times == sorted(times)


def test_live_ticker_thread_starts_and_stops():
    state = SandboxState(world=generate_world(1, 30))
    ticker = LiveTicker(state, 1, orders_per_minute=6000, interval_seconds=0.01)  # one a tick
    ticker.start()
    try:
        deadline = time.monotonic() + 10
        while ticker.ticks < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        ticker.stop()
    assert ticker.ticks >= 5
    stopped_at = ticker.ticks
    time.sleep(0.05)
    assert ticker.ticks == stopped_at
    assert len(state.world.orders) > 0 and any(
        order.created_at > DEFAULT_START for order in state.world.orders
    )


# --- command line --------------------------------------------------------------------------


def test_seed_command_writes_files_and_reports_progress(tmp_path):
    result = CliRunner().invoke(
        sandbox_app, ["seed", "--seed", "4", "--customers", "1200", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "orders.jsonl").stat().st_size > 0
    assert (tmp_path / "ground_truth.csv").exists()
    assert "customers/s" in result.output and "ETA" in result.output
    assert "wrote" in result.output
    people = (tmp_path / "people.jsonl").read_bytes().splitlines()
    assert len(people) == 1200


def test_seed_command_rejects_a_bad_start(tmp_path):
    result = CliRunner().invoke(
        sandbox_app, ["seed", "--customers", "5", "--out", str(tmp_path), "--start", "soon"]
    )
    assert result.exit_code != 0
    assert "YYYY-MM-DD" in result.output
