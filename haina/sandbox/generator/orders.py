"""Orders, their lines, money, life cycle and refunds.

Money rules (all integer fen): total = Σ line price × quantity + freight; paid = total −
discount; a refund never exceeds what was paid. Times only move forward: created ≤ paid ≤
shipped ≤ finished ≤ the world's start.
"""

from __future__ import annotations

import random
import time
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

from haina.sandbox.data import catalog
from haina.sandbox.data.calendar import SEASON_618, SEASON_1111, SEASON_NIANHUO
from haina.sandbox.generator.ids import Tokens, pick
from haina.sandbox.generator.season import BEIJING, DAY, HOUR, SeasonCalendar, to_datetime
from haina.sandbox.generator.setup import Setup
from haina.sandbox.world import Account, Coupon, Order, OrderLine, Product, Refund

MINUTE = 60
CATEGORY_INDEX = {category: index for index, category in enumerate(catalog.CATEGORIES)}


@dataclass(slots=True)
class Receiver:
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str
    oaid: str


class OrderMaker:
    def __init__(
        self, setup: Setup, tokens: Tokens, calendar: SeasonCalendar, seed: int | str, origin: int = 0
    ) -> None:
        self.setup = setup
        self.tokens = tokens
        self.calendar = calendar
        self.rng = random.Random(f"{seed}/orders")
        self.counter = origin
        self.refund_counter = origin
        self.end = calendar.end
        self._weights: dict[tuple[str, tuple[int, ...]], tuple[list[str], list[int]]] = {}
        by_kind = setup.by_kind
        self._main_appliances = (
            by_kind.get("robot", []) + by_kind.get("purifier", []) + by_kind.get("vacuum", [])
        )
        self._by_stage: dict[tuple[str, int], list[Product]] = {}
        for product in by_kind.get("formula", []):
            self._by_stage.setdefault(("formula", setup.items[product.sku_id].stage), []).append(product)

    # --- what goes in the basket ----------------------------------------------------------

    def pick_product(
        self, shop_id: str, persona: tuple[int, ...], created: int, bought: set[str], baby_birth: int | None
    ) -> Product:
        rng = self.rng
        setup = self.setup
        categories, cumulative = self._category_weights(shop_id, persona)
        category = categories[bisect(cumulative, rng.random() * cumulative[-1])]
        if category == "mother_baby" and baby_birth is not None:
            product = self._for_baby(created, baby_birth)
            if product is not None:
                return product
        elif category == "appliance":
            # Owners come back for consumables: the reason the merchant wants their WeCom.
            if "robot" in bought and rng.random() < 0.7 and "robot_part" in setup.by_kind:
                return pick(rng, setup.by_kind["robot_part"])
            if "purifier" in bought and rng.random() < 0.7 and "filter" in setup.by_kind:
                return pick(rng, setup.by_kind["filter"])
            if rng.random() < 0.7 and self._main_appliances:
                return pick(rng, self._main_appliances)
        elif (
            category == "snacks"
            and "giftbox" in setup.by_kind
            and self.calendar.season(created) == SEASON_NIANHUO
            and rng.random() < 0.35
        ):
            return setup.by_kind["giftbox"][0]  # 年货节 gift boxes
        return pick(rng, setup.by_category[category])

    def _category_weights(self, shop_id: str, persona: tuple[int, ...]) -> tuple[list[str], list[int]]:
        """Categories this shop sells and this persona buys, with cumulative weights (cached)."""
        key = (shop_id, persona)
        cached = self._weights.get(key)
        if cached is None:
            shop_weights = self.setup.templates[shop_id].category_weights
            available = [category for category in catalog.CATEGORIES if category in self.setup.by_category]
            available += [
                category for category in self.setup.by_category if category not in catalog.CATEGORIES
            ]
            weights = []
            for category in available:
                index = CATEGORY_INDEX.get(category)
                weights.append(0 if index is None else shop_weights[index] * persona[index])
            if not any(weights):
                weights = [1] * len(available)
            cached = (available, list(accumulate(weights)))
            self._weights[key] = cached
        return cached

    def _for_baby(self, created: int, baby_birth: int) -> Product | None:
        rng = self.rng
        months = max(0, (created - baby_birth) // (30 * DAY))
        if rng.random() < 0.5:
            stage = 1 if months < 6 else 2 if months < 12 else 3
            formulas = self._by_stage.get(("formula", stage))
            return pick(rng, formulas) if formulas else None
        if rng.random() < 0.8:
            # The biggest size the baby has grown into.
            fitting = [
                product
                for product in self.setup.by_kind.get("diaper", ())
                if self.setup.items[product.sku_id].stage <= months
            ]
            return fitting[-1] if fitting else None
        care = self.setup.by_kind.get("baby_care")
        return pick(rng, care) if care else None

    def _quantity(self, kind: str) -> int:
        roll = self.rng.random()
        if kind in ("formula", "diaper", "snack"):
            return 1 if roll < 0.55 else 2 if roll < 0.85 else 3 if roll < 0.95 else 4
        return 1 if roll < 0.92 else 2

    # --- one order ------------------------------------------------------------------------

    def order(
        self,
        account: Account,
        receiver: Receiver,
        created: int,
        persona: tuple[int, ...],
        bought: set[str],
        baby_birth: int | None,
        *,
        life_cycle: bool = True,
    ) -> tuple[Order, Refund | None]:
        """A new order created at `created`; with `life_cycle` it is also paid, shipped,
        finished and maybe refunded as far as the world's start allows."""
        rng = self.rng
        setup = self.setup
        shop_id = account.shop_id
        platform = account.platform
        template = setup.templates[shop_id]
        self.counter += 1
        order_id = self._order_id(platform, shop_id, created)
        roll = rng.random()
        line_count = 1 if roll < 0.65 else 2 if roll < 0.9 else 3
        lines: list[OrderLine] = []
        for _ in range(line_count):
            product = self.pick_product(shop_id, persona, created, bought, baby_birth)
            kind = setup.items[product.sku_id].kind
            bought.add(kind)
            existing = next((line for line in lines if line.sku_id == product.sku_id), None)
            if existing is not None:
                existing.quantity += 1
                continue
            price = product.price_fen
            if template.price_percent != 100:
                price = max(100, price * template.price_percent // 10000 * 100 - 10)  # ¥xx.90 pricing
            lines.append(
                OrderLine(
                    line_id=f"{order_id}{len(lines) + 1:02d}",
                    sku_id=product.sku_id,
                    title=product.title,
                    quantity=self._quantity(kind),
                    price_fen=price,
                    outer_sku=product.outer_sku,
                )
            )
        goods = sum(line.price_fen * line.quantity for line in lines)
        freight = self._freight(platform, goods)
        coupon, discount = self._discount(shop_id, platform, goods, created)
        total = goods + freight
        order = Order(
            order_id=order_id,
            platform=platform,
            shop_id=shop_id,
            account_id=account.account_id,
            buyer_id=account.buyer_id,
            status="pending_payment",
            created_at=to_datetime(created),
            modified_at=to_datetime(created),
            lines=lines,
            total_fen=total,
            discount_fen=discount,
            freight_fen=freight,
            paid_fen=total - discount,
            receiver_name=receiver.name,
            receiver_phone=receiver.phone,
            province=receiver.province,
            city=receiver.city,
            district=receiver.district,
            address=receiver.address,
            coupon_id=coupon.coupon_id if coupon else "",
            buyer_message=pick(rng, catalog.BUYER_MESSAGES) if rng.random() < 0.08 else "",
            oaid=receiver.oaid,
        )
        if not life_cycle:
            return order, None
        refund = self._life_cycle(order, created, allergy_prone="sensitive" in bought)
        return order, refund

    def _order_id(self, platform: str, shop_id: str, created: int) -> str:
        counter = self.counter
        number = self.tokens.number
        if platform in ("taobao", "tmall"):
            return "3" + number("tid", counter, 18)
        if platform == "jd":
            return "3" + number("jd_order", counter, 11)
        if platform == "douyin":
            return "69" + number("dy_order", counter, 17)
        local = time.gmtime(created + BEIJING)
        if platform == "pdd":
            return time.strftime("%y%m%d", local) + "-" + number("pdd_order", counter, 15)
        if platform == "youzan":
            return "E" + time.strftime("%Y%m%d%H%M%S", local) + number("yz_order", counter, 9)
        return "POS" + shop_id[-4:].upper() + time.strftime("%Y%m%d", local) + number("pos_order", counter, 8)

    def _freight(self, platform: str, goods: int) -> int:
        if platform in ("pdd", "douyin", "pos", "tmall") or goods >= 8800:
            return 0  # 包邮
        if platform == "youzan":
            return 1000
        return pick(self.rng, (600, 800, 1000))

    def _discount(self, shop_id: str, platform: str, goods: int, created: int) -> tuple[Coupon | None, int]:
        season = self.calendar.season(created)
        rng = self.rng
        chance = 0.55 if season else 0.3
        best: Coupon | None = None
        best_value = 0
        if rng.random() < chance:
            for starts, ends, coupon in self.setup.coupons_by_shop.get(shop_id, ()):
                if not starts <= created <= ends or goods < coupon.threshold_fen:
                    continue
                if coupon.kind == "discount":
                    # Round half up to the fen, the merchant's stated rule for percentage coupons.
                    value = (goods * (100 - coupon.discount_percent) + 50) // 100
                else:
                    value = coupon.value_fen
                if value > best_value:
                    best, best_value = coupon, value
        # Platform-wide 跨店满减 during 618 and 双11: 50 off every 300.
        promotion = 0
        if season in (SEASON_618, SEASON_1111) and platform in ("taobao", "tmall", "jd"):
            promotion = goods // 30000 * 5000
        discount = min(best_value + promotion, max(0, goods - 100))
        return best, discount

    # --- life cycle -------------------------------------------------------------------------

    def _life_cycle(self, order: Order, created: int, allergy_prone: bool) -> Refund | None:
        rng = self.rng
        end = self.end
        if order.platform == "pos":
            order.status = "completed"
            order.paid_at = order.finished_at = order.created_at
            return None
        roll = rng.random()
        if roll < 0.09:
            # Abandoned checkouts: Taobao/Tmall close them after 72 hours, the others after 24.
            closes = created + (3 * DAY if order.platform in ("taobao", "tmall") else DAY)
            if closes <= end:
                order.status = "closed"
                order.finished_at = order.modified_at = to_datetime(closes)
                order.version = 2
            return None
        delay = (
            rng.uniform(5, 120)
            if roll < 0.7
            else rng.uniform(120, 1800)
            if roll < 0.95
            else rng.uniform(HOUR, 12 * HOUR)
        )
        paid = created + int(delay)
        if paid > end:
            return None
        order.status = "paid"
        order.paid_at = to_datetime(paid)
        order.version = 2
        latest = paid
        peak = self.calendar.season(created) in (SEASON_618, SEASON_1111)
        ship_delay = (
            rng.uniform(2 * HOUR, 24 * HOUR) if rng.random() < 0.6 else rng.uniform(24 * HOUR, 72 * HOUR)
        )
        if peak:
            ship_delay += rng.uniform(24 * HOUR, 72 * HOUR)
        refund_roll = rng.random() * (0.6 if allergy_prone else 1.0)  # sensitive skin returns more
        refund: Refund | None = None
        if refund_roll < 0.03:
            # 仅退款 before shipping: the parcel never leaves when the refund goes through.
            requested = paid + int(rng.uniform(10 * MINUTE, ship_delay))
            if requested <= end:
                refund = self._refund(
                    order, "full", requested, requested + int(rng.uniform(10 * MINUTE, DAY)), allergy_prone
                )
                return self._settle(order, refund, paid)
        shipped = paid + int(ship_delay)
        if shipped > end:
            return self._settle(order, None, latest)
        order.status = "shipped"
        order.shipped_at = to_datetime(shipped)
        order.version += 1
        latest = shipped
        finished = shipped + int(rng.uniform(1.5, 10) * DAY)
        if finished <= end:
            order.status = "completed"
            order.finished_at = to_datetime(finished)
            order.version += 1
            latest = finished
        if 0.03 <= refund_roll < 0.105:
            kind = "full" if refund_roll < 0.065 else "partial" if refund_roll < 0.095 else "refused"
            requested = shipped + int(rng.uniform(DAY, 7 * DAY))
            if requested <= end:
                refund = self._refund(
                    order, kind, requested, requested + int(rng.uniform(HOUR, 4 * DAY)), allergy_prone
                )
        return self._settle(order, refund, latest)

    def _settle(self, order: Order, refund: Refund | None, latest: int) -> Refund | None:
        """Apply a refund's outcome to its order and move modified_at/version with it."""
        if refund is not None:
            order.version += 1
            resolved = int(refund.modified_at.timestamp())
            latest = max(latest, resolved)
            if refund.status == "completed":
                order.version += 1
                order.status = "refunded" if refund.amount_fen == order.paid_fen else "partially_refunded"
                if order.finished_at is None or int(order.finished_at.timestamp()) < resolved:
                    order.finished_at = refund.modified_at
            elif refund.status == "refused":
                order.version += 1
        order.modified_at = to_datetime(latest)
        return refund

    def _refund(self, order: Order, kind: str, requested: int, resolved: int, allergy_prone: bool) -> Refund:
        rng = self.rng
        line = ""
        if kind == "partial":
            amount, line, reason = self._partial(order, rng)
        else:
            amount = order.paid_fen
            if allergy_prone and rng.random() < 0.5:
                reason = catalog.REFUND_REASON_ALLERGY
            else:
                reason = pick(rng, catalog.REFUND_REASONS_FULL)
        if resolved > self.end:
            status, modified = "requested", requested
        else:
            status, modified = ("refused" if kind == "refused" else "completed"), resolved
        self.refund_counter += 1
        return Refund(
            refund_id="2" + self.tokens.number("refund", self.refund_counter, 15),
            order_id=order.order_id,
            platform=order.platform,
            shop_id=order.shop_id,
            amount_fen=amount,
            reason=reason,
            status=status,
            created_at=to_datetime(requested),
            modified_at=to_datetime(modified),
            line_id=line,
        )

    def _partial(self, order: Order, rng: random.Random) -> tuple[int, str, str]:
        """One line's share of what was paid, or a price-protection part of a single line."""
        goods = sum(line.price_fen * line.quantity for line in order.lines)
        line = pick(rng, order.lines)
        if len(order.lines) > 1 or line.quantity > 1:
            unit_share = line.price_fen * order.paid_fen // max(goods, 1)
            amount = min(unit_share, order.paid_fen - 1)
            return max(1, amount), line.line_id, pick(rng, catalog.REFUND_REASONS_PARTIAL)
        amount = max(1, order.paid_fen * pick(rng, (5, 10, 20)) // 100)
        return amount, line.line_id, pick(rng, ("价格保护退差价", "赠品未发", "商品瑕疵补偿"))
