"""A running shop for the demo: new orders, orders moving on (paid → shipped → completed),
refunds, new WeCom contacts and chat messages, through `state.add()` / `state.notify()` so the
emulators push them to Haina.

Deterministic: the same world, seed and number of ticks give the same changes (times come from
`haina.core.clock`, which tests freeze).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass

from haina.core import clock
from haina.sandbox.data import catalog, chats
from haina.sandbox.emulators.wecom_events import simulate_scan_contact_way
from haina.sandbox.emulators.wecom_groupmsg import groupmsg_state, simulate_confirm_mass_message
from haina.sandbox.emulators.wecom_moments import moments_state, simulate_publish_moment
from haina.sandbox.emulators.wecom_store import scratch
from haina.sandbox.generator.ids import LIVE_ORIGIN, Tokens
from haina.sandbox.generator.maker import WorldMaker
from haina.sandbox.generator.orders import Receiver
from haina.sandbox.generator.people import PERSONAS
from haina.sandbox.generator.setup import Setup
from haina.sandbox.generator.wecom import History
from haina.sandbox.state import SandboxState
from haina.sandbox.world import Account, Order, Refund

logger = logging.getLogger(__name__)

OPEN_STATES = ("pending_payment", "paid", "shipped")
MEMBER_ACTS_PER_TICK = 1 / 30
NEXT_STATE = {"paid": "shipped", "shipped": "completed"}
LIVE_SCRIPTS = (
    chats.PRESALE["beauty"]
    + chats.PRESALE["mother_baby"]
    + chats.LOGISTICS
    + chats.COMPLAINT_ALLERGY
    + chats.PRAISE
)


def pending_mass_messages(state: SandboxState) -> list[tuple[str, str]]:
    """(msgid, member) of single-chat mass messages a member has not confirmed yet."""
    mine = groupmsg_state(state)
    with state.lock:
        messages = list(scratch(state)["mass_messages"].values())
        pending = []
        for message in sorted(messages, key=lambda item: item["msgid"]):
            if message["msgid"] in mine["cancelled"] or message.get("chat_type") != "single":
                continue
            confirmed = mine["confirmed"].get(message["msgid"], {})
            members = sorted({recipient["userid"] for recipient in message["recipients"]})
            pending += [(message["msgid"], userid) for userid in members if userid not in confirmed]
    return pending


def pending_moments(state: SandboxState) -> list[tuple[str, str]]:
    """(moment_id, member) of moments a member has not published yet."""
    with state.lock:
        moments = dict(moments_state(state)["moments"])
        return [
            (moment_id, userid)
            for moment_id, moment in sorted(moments.items())
            if not moment.get("cancelled")
            for userid, published in sorted(moment["senders"].items())
            if not published
        ]


def contact_way_ids(state: SandboxState) -> list[str]:
    """The config ids of the corp's 「联系我」 codes that hand out a QR code, oldest first."""
    with state.lock:
        ways = list(scratch(state)["contact_ways"].values())
    return [way["config_id"] for way in ways if way.get("scene") == 2]


@dataclass(frozen=True, slots=True)
class Change:
    """One thing a tick did: ("order.created", order_id), ("order.shipped", order_id)…"""

    event: str
    record_id: str


class LiveTicker:
    def __init__(
        self,
        state: SandboxState,
        seed: int,
        *,
        orders_per_minute: float = 30.0,
        interval_seconds: float = 1.0,
        new_customer_share: float = 0.3,
        status_changes_per_minute: float | None = None,
        refunds_per_minute: float | None = None,
        contacts_per_minute: float | None = None,
        messages_per_minute: float | None = None,
    ) -> None:
        self.state = state
        self.interval = interval_seconds
        self.new_customer_share = new_customer_share
        ticks_per_minute = 60.0 / interval_seconds
        rates = {
            "orders": orders_per_minute,
            "status": status_changes_per_minute
            if status_changes_per_minute is not None
            else orders_per_minute,
            "refunds": refunds_per_minute if refunds_per_minute is not None else orders_per_minute * 0.05,
            "contacts": contacts_per_minute if contacts_per_minute is not None else orders_per_minute * 0.2,
            "messages": messages_per_minute if messages_per_minute is not None else orders_per_minute * 0.5,
        }
        self._per_tick = {kind: rate / ticks_per_minute for kind, rate in rates.items()}
        self._credit = dict.fromkeys(rates, 0.0)
        world = state.world
        self.rng = random.Random(f"{seed}/live")
        # Counters start past every id already in the world (earlier tickers included).
        origin = LIVE_ORIGIN + sum(
            len(records)
            for records in (world.people, world.accounts, world.orders, world.refunds, world.contacts)
        )
        setup = Setup.from_world(world, clock.now())
        self.maker = WorldMaker(setup, f"live/{seed}", Tokens(world.seed), origin)
        self.maker.wecom.seq = max((message.seq for message in world.messages), default=0)
        self.accounts_by_id = {account.account_id: account for account in world.accounts}
        self.open_orders: list[Order] = [order for order in world.orders if order.status in OPEN_STATES]
        self.refunded = {refund.order_id for refund in world.refunds}  # membership only
        self.open_refunds: list[Refund] = [refund for refund in world.refunds if refund.status == "requested"]
        self.orders_by_id = {order.order_id: order for order in world.orders}
        self.ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sandbox-live-ticker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 2 * self.interval))
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the demo keeps running; the failure is logged
                logger.exception("live ticker failed")

    def tick(self) -> list[Change]:
        """One step: new orders, status changes, refunds, contacts and messages."""
        self.ticks += 1
        now = int(clock.now().timestamp())
        changes: list[Change] = []
        for _ in range(self._due("status")):
            self._advance_order(now, changes)
        for _ in range(self._due("refunds")):
            self._refund(now, changes)
        for _ in range(self._due("orders")):
            self._new_order(now, changes)
        for _ in range(self._due("contacts")):
            self._new_contact(now, changes)
        for _ in range(self._due("messages")):
            self._new_messages(now, changes)
        self._members_act(changes)
        return changes

    def _due(self, kind: str) -> int:
        self._credit[kind] += self._per_tick[kind]
        count = int(self._credit[kind])
        self._credit[kind] -= count
        return count

    # --- events ---------------------------------------------------------------------------

    def _new_order(self, now: int, changes: list[Change]) -> None:
        world = self.state.world
        rng = self.rng
        if not world.accounts or rng.random() < self.new_customer_share:
            account = self._new_customer(now, changes)
        else:
            account = world.accounts[int(rng.random() * len(world.accounts))]
        receiver = Receiver(
            account.name,
            account.phone,
            account.province,
            account.city,
            account.district,
            account.address,
            account.oaid,
        )
        persona = PERSONAS[rng.choice(tuple(PERSONAS))]
        order, _ = self.maker.orders.order(account, receiver, now, persona, set(), None, life_cycle=False)
        if account.platform == "pos":
            order.status = "completed"
            order.paid_at = order.finished_at = order.created_at
            order.version = 2
        elif rng.random() < 0.7:
            order.status = "paid"
            order.paid_at = order.created_at
            order.version = 2
        self.state.add("orders", order)
        self.orders_by_id[order.order_id] = order
        if order.status in OPEN_STATES:
            self.open_orders.append(order)
        changes.append(Change("order.created", order.order_id))

    def _new_customer(self, now: int, changes: list[Change]) -> Account:
        draft = self.maker.people.cluster(1)[0]
        shops = self.maker.people.shops_for(draft) or [self.maker.setup.pick_shop(self.rng)]
        account = self.maker.people.account(draft, shops[0], shared_device=False)
        account.created_at = clock.now()
        self.state.add("people", draft.person)
        self.state.add("accounts", account)
        self.accounts_by_id[account.account_id] = account
        changes.append(Change("account.created", account.account_id))
        return account

    def _advance_order(self, now: int, changes: list[Change]) -> None:
        if not self.open_orders:
            return
        rng = self.rng
        index = int(rng.random() * len(self.open_orders))
        order = self.open_orders[index]
        moment = clock.now()
        with self.state.lock:
            if order.status == "pending_payment":
                if rng.random() < 0.85:
                    order.status, order.paid_at = "paid", moment
                else:
                    order.status, order.finished_at = "closed", moment
            elif order.status in NEXT_STATE:
                order.status = NEXT_STATE[order.status]
                if order.status == "shipped":
                    order.shipped_at = moment
                else:
                    order.finished_at = moment
            order.version += 1
            order.modified_at = moment
            if order.status not in OPEN_STATES:
                # Swap-remove keeps this O(1) and the list order deterministic.
                self.open_orders[index] = self.open_orders[-1]
                self.open_orders.pop()
        self.state.notify("orders", order)
        changes.append(Change(f"order.{order.status}", order.order_id))

    def _refund(self, now: int, changes: list[Change]) -> None:
        rng = self.rng
        moment = clock.now()
        if self.open_refunds and rng.random() < 0.5:
            refund = self.open_refunds.pop(int(rng.random() * len(self.open_refunds)))
            order = self.orders_by_id.get(refund.order_id)
            with self.state.lock:
                refund.status = "completed"
                refund.modified_at = moment
                if order is not None:
                    order.status = "refunded" if refund.amount_fen == order.paid_fen else "partially_refunded"
                    order.version += 1
                    order.modified_at = moment
                    order.finished_at = order.finished_at or moment
            self.state.notify("refunds", refund)
            if order is not None:
                self.state.notify("orders", order)
            changes.append(Change("refund.completed", refund.refund_id))
            return
        orders = self.state.world.orders
        for _ in range(10):
            order = orders[int(rng.random() * len(orders))] if orders else None
            if (
                order is not None
                and order.status in ("paid", "shipped", "completed")
                and order.order_id not in self.refunded
            ):
                break
        else:
            return
        full = rng.random() < 0.6
        amount = order.paid_fen if full else max(1, order.paid_fen // 5)
        self.maker.orders.refund_counter += 1
        refund = Refund(
            refund_id="2" + self.maker.tokens.number("refund", self.maker.orders.refund_counter, 15),
            order_id=order.order_id,
            platform=order.platform,
            shop_id=order.shop_id,
            amount_fen=amount,
            reason=rng.choice(catalog.REFUND_REASONS_FULL if full else catalog.REFUND_REASONS_PARTIAL),
            status="requested",
            created_at=moment,
            modified_at=moment,
            line_id="" if full else order.lines[0].line_id,
        )
        self.refunded.add(order.order_id)
        self.open_refunds.append(refund)
        with self.state.lock:
            order.version += 1
            order.modified_at = moment
        self.state.add("refunds", refund)
        self.state.notify("orders", order)
        changes.append(Change("refund.requested", refund.refund_id))

    def _new_contact(self, now: int, changes: list[Change]) -> None:
        """A new lead adds a guide: by scanning one of the corp's 「联系我」 codes when the merchant
        made some (so channel live codes, their welcome messages and statistics come alive in
        the demo), else directly."""
        maker = self.maker
        if not maker.setup.staff:
            return  # nobody to add
        draft = maker.people.cluster(1)[0]
        self.state.add("people", draft.person)
        contact = maker.wecom.contact(draft, History(), [])
        moment = clock.now()
        contact.created_at = moment
        config_ids = contact_way_ids(self.state)
        if config_ids:
            contact.follow_users = []
            config_id = config_ids[int(self.rng.random() * len(config_ids))]
            simulate_scan_contact_way(self.state, config_id, contact)
            changes.append(Change("contact.added", contact.external_userid))
            return
        contact.follow_users = contact.follow_users[:1]
        contact.follow_users[0].createtime = moment
        self.state.add("contacts", contact)
        changes.append(Change("contact.added", contact.external_userid))

    def _members_act(self, changes: list[Change]) -> None:
        """Members get round to the corp's asks in their WeCom app: each pending mass message is
        confirmed, and each moment published, by a member with a small chance per tick (about
        half a minute on average at one tick a second), so the demo's tracking pages move."""
        for msgid, userid in pending_mass_messages(self.state):
            if self.rng.random() < MEMBER_ACTS_PER_TICK:
                simulate_confirm_mass_message(self.state, msgid, userid)
                changes.append(Change("mass_message.confirmed", f"{msgid}:{userid}"))
        for moment_id, userid in pending_moments(self.state):
            if self.rng.random() < MEMBER_ACTS_PER_TICK:
                simulate_publish_moment(self.state, moment_id, userid)
                changes.append(Change("moment.published", f"{moment_id}:{userid}"))

    def _new_messages(self, now: int, changes: list[Change]) -> None:
        contacts = self.state.world.contacts
        if not contacts:
            return
        rng = self.rng
        contact = contacts[int(rng.random() * len(contacts))]
        staff = (
            self.maker.setup.staff_by_userid.get(contact.follow_users[0].userid)
            if contact.follow_users
            else None
        )
        if staff is None:
            return
        script = LIVE_SCRIPTS[int(rng.random() * len(LIVE_SCRIPTS))]
        for message in self.maker.wecom.live_chat(contact, staff, now, script):
            self.state.add("messages", message)
            changes.append(Change("message.sent", message.msgid))
