"""Deterministic generator of a realistic Chinese merchant for the sandbox.

`stream_world()` yields records one at a time (so a million customers never sit in memory),
`generate_world()` collects them into a `World`, and `write_world()` writes one JSONL file per
kind plus `ground_truth.csv`. The same seed and arguments give the same records, byte for byte:
every draw comes from `random.Random` sub-streams named after the seed, never the global RNG
or the wall clock.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from haina.sandbox.generator.ids import Tokens
from haina.sandbox.generator.maker import Record, WorldMaker
from haina.sandbox.generator.setup import Merchant, Setup, build_setup
from haina.sandbox.world import Account, ExternalContact, PosMember, World

# The default "now" of a seeded world: the year before it contains 年货节, 618 and 双11.
DEFAULT_START = datetime(2025, 11, 23, tzinfo=UTC)

# The kinds a stream yields, each the name of a `World` list (plus the one merchant record).
KINDS = (
    "staff",
    "shops",
    "products",
    "coupons",
    "tag_groups",
    "people",
    "accounts",
    "orders",
    "refunds",
    "contacts",
    "groups",
    "messages",
    "pos_members",
)

__all__ = [
    "DEFAULT_START",
    "KINDS",
    "Merchant",
    "Setup",
    "WorldMaker",
    "WriteProgress",
    "generate_world",
    "stream_world",
    "write_world",
]


def stream_world(seed: int, customers: int, *, start: datetime | None = None) -> Iterator[Record]:
    """Yield `(kind, record)`: first ("merchant", Merchant), then the merchant's setup, then
    customers one household at a time with their accounts, orders, contacts and chats."""
    start = _aware(start or DEFAULT_START)
    tokens = Tokens(seed)
    setup = build_setup(seed, customers, start, tokens)
    yield "merchant", setup.merchant
    for kind in ("staff", "shops", "products", "coupons", "tag_groups"):
        for record in getattr(setup, kind):
            yield kind, record
    yield from WorldMaker(setup, seed, tokens).customers(customers)


def generate_world(seed: int, customers: int, *, start: datetime | None = None) -> World:
    """The whole world in memory, for emulators, tests and the demo (fine up to ~50k customers)."""
    stream = stream_world(seed, customers, start=start)
    _, merchant = next(stream)
    assert isinstance(merchant, Merchant)
    world = World(
        seed=merchant.seed,
        merchant_name=merchant.merchant_name,
        corp_id=merchant.corp_id,
        corp_secret=merchant.corp_secret,
        callback_token=merchant.callback_token,
        callback_aes_key=merchant.callback_aes_key,
    )
    lists = {kind: getattr(world, kind) for kind in KINDS}
    for kind, record in stream:
        lists[kind].append(record)
    return world


@dataclass(slots=True)
class WriteProgress:
    customers_done: int
    customers_total: int
    records: int
    orders: int
    counts: dict[str, int] = field(default_factory=dict)


def write_world(
    seed: int,
    customers: int,
    out_dir: Path | str,
    *,
    start: datetime | None = None,
    progress: Callable[[WriteProgress], None] | None = None,
    progress_every: int = 1000,
) -> WriteProgress:
    """Write `<kind>.jsonl` per kind, `merchant.json` and `ground_truth.csv` into `out_dir`.

    Memory stays flat whatever the size; `progress` is called every `progress_every` customers.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(KINDS, 0)
    state = WriteProgress(0, customers, 0, 0, counts)
    files = {kind: open(out / f"{kind}.jsonl", "wb", buffering=1 << 20) for kind in KINDS}  # noqa: SIM115
    truth_file = open(out / "ground_truth.csv", "w", newline="", encoding="utf-8", buffering=1 << 20)  # noqa: SIM115
    try:
        truth = csv.writer(truth_file, lineterminator="\n")
        # platform_user_id: the buyer id an account shows, a contact's unionid, a member number.
        truth.writerow(("kind", "id", "platform", "shop_id", "platform_user_id", "person_id"))
        dumps = orjson.dumps
        newline = orjson.OPT_APPEND_NEWLINE
        for kind, record in stream_world(seed, customers, start=start):
            if kind == "merchant":
                (out / "merchant.json").write_bytes(dumps(record, option=orjson.OPT_INDENT_2 | newline))
                continue
            files[kind].write(dumps(record, option=newline))
            counts[kind] += 1
            if kind == "people":
                state.customers_done += 1
                done = state.customers_done
                if progress is not None and done % progress_every == 0 and done < customers:
                    _refresh(state)
                    progress(state)
            elif kind in ("accounts", "contacts", "pos_members"):
                truth.writerow(_truth_row(record))
    finally:
        for file in files.values():
            file.close()
        truth_file.close()
    _refresh(state)
    if progress is not None:
        progress(state)
    return state


def _truth_row(record: object) -> tuple[str, ...]:
    """kind, id, platform, shop_id, platform_user_id, person_id of one identity record."""
    if isinstance(record, Account):
        return (
            "account",
            record.account_id,
            record.platform,
            record.shop_id,
            record.buyer_id,
            record.person_id,
        )
    if isinstance(record, ExternalContact):
        return ("contact", record.external_userid, "wecom", "", record.unionid, record.person_id)
    if isinstance(record, PosMember):
        return ("pos_member", record.member_no, "pos", record.store_id, record.member_no, record.person_id)
    raise TypeError(f"not an identity record: {type(record).__name__}")


def _refresh(state: WriteProgress) -> None:
    state.records = sum(state.counts.values())
    state.orders = state.counts["orders"]


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("start must be timezone-aware (e.g. datetime(2025, 11, 23, tzinfo=UTC))")
    return moment.astimezone(UTC)
