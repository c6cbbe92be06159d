"""Everything one customer brings into the world, in the order the stream emits it."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

from haina.sandbox.generator.ids import BASE62, Tokens, mask_mobile
from haina.sandbox.generator.orders import OrderMaker, Receiver
from haina.sandbox.generator.people import PERSONAS, Draft, PeopleMaker
from haina.sandbox.generator.season import SeasonCalendar
from haina.sandbox.generator.setup import Setup
from haina.sandbox.generator.wecom import History, WeComMaker
from haina.sandbox.world import Account, PosMember

Record = tuple[str, object]

# Mean orders beyond the first, by persona: formula and diapers bring parents back monthly.
EXTRA_ORDERS = {"mother": 3.6, "beauty": 2.0, "home": 1.6, "snacker": 2.2, "mixed": 2.0}
MAX_ORDERS = 80


class WorldMaker:
    """The makers of one world, sharing its ids, calendar and counters.

    `origin` offsets every counter, so a live ticker extending a seeded world never reuses an id.
    """

    def __init__(self, setup: Setup, seed: int | str, tokens: Tokens, origin: int = 0) -> None:
        self.setup = setup
        self.tokens = tokens
        self.calendar = SeasonCalendar(setup.start)
        self.people = PeopleMaker(setup, tokens, seed, origin)
        self.orders = OrderMaker(setup, tokens, self.calendar, seed, origin)
        self.wecom = WeComMaker(setup, tokens, self.calendar, seed, origin)
        self.rng = random.Random(f"{seed}/volume")
        self.receiver_counter = origin

    def customers(self, count: int) -> Iterator[Record]:
        """`count` people and all their records; groups are emitted as they fill up."""
        made = 0
        while made < count:
            cluster = self.people.cluster(count - made)
            made += len(cluster)
            for draft in cluster:
                yield "people", draft.person
            for draft in cluster:
                yield from self.customer(draft)
        yield from self.wecom.close_all()

    def customer(self, draft: Draft) -> Iterator[Record]:
        rng = self.rng
        shops = self.people.shops_for(draft)
        shares_home = len(draft.household) > 0
        accounts: list[Account] = []
        for shop in shops:
            # Household members often shop from the family tablet: one device, two people.
            share_chance = (0.7 if not accounts else 0.4) if shares_home else 0.2
            accounts.append(self.people.account(draft, shop, rng.random() < share_chance))
        count = 0
        if accounts:
            probability = 1 / (1 + EXTRA_ORDERS[draft.persona])
            count = min(MAX_ORDERS, 1 + int(math.log(1 - rng.random()) / math.log(1 - probability)))
        times = sorted(self.calendar.sample(rng) for _ in range(count))
        weights = [3] + [1] * (len(accounts) - 1)
        placed = [accounts[self._weighted(weights)] for _ in times]
        firsts: dict[str, int] = {}
        for moment, account in zip(times, placed, strict=True):
            firsts.setdefault(account.account_id, moment)
        for account in accounts:
            self.people.set_created(account, firsts.get(account.account_id))
            yield "accounts", account
        history = History()
        persona = PERSONAS[draft.persona]
        for moment, account in zip(times, placed, strict=True):
            receiver = self._receiver(draft, account)
            order, refund = self.orders.order(
                account, receiver, moment, persona, draft.bought_kinds, draft.baby_birth
            )
            history.orders.append(order)
            yield "orders", order
            if refund is not None:
                history.refunds.append(refund)
                yield "refunds", refund
        platforms = [account.platform for account in accounts]
        if self.wecom.wants_contact(draft, platforms, len(times)):
            contact = self.wecom.contact(draft, history, [account.shop_id for account in accounts])
            yield "contacts", contact
            for message in self.wecom.conversations(draft, contact, history):
                yield "messages", message
            yield from self.wecom.join_group(draft, contact)
        for account in accounts:
            if account.platform == "pos":
                points = sum(
                    order.paid_fen // 100
                    for order in history.orders
                    if order.account_id == account.account_id and order.status == "completed"
                )
                yield (
                    "pos_members",
                    PosMember(
                        member_no=account.buyer_id,
                        person_id=account.person_id,
                        store_id=account.shop_id,
                        name=account.name,
                        phone=account.phone,
                        created_at=account.created_at or self.setup.start,
                        points=points,
                    ),
                )

    def _weighted(self, weights: list[int]) -> int:
        target = self.rng.random() * sum(weights)
        for index, weight in enumerate(weights):
            target -= weight
            if target < 0:
                return index
        return len(weights) - 1

    def _receiver(self, draft: Draft, account: Account) -> Receiver:
        """Usually the account's own details; sometimes the spouse receives, or the office."""
        rng = self.rng
        receiver = Receiver(
            account.name,
            account.phone,
            account.province,
            account.city,
            account.district,
            account.address,
            account.oaid,
        )
        if account.platform == "pos":
            return receiver
        roll = rng.random()
        masked = account.platform in ("taobao", "tmall")
        if roll < 0.04 and draft.household:
            other = draft.household[0].person
            receiver.name = other.name
            receiver.phone = mask_mobile(other.phone) if masked else other.phone
        elif roll < 0.14 and draft.office:
            receiver.address = draft.office
        else:
            return receiver
        if masked:
            # OAID follows the receiver details, so a different receiver gets a different one.
            self.receiver_counter += 1
            receiver.oaid = "1" + self.tokens.text("oaid-receiver", self.receiver_counter, 39, BASE62)
        return receiver
