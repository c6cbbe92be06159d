"""The merchant before any customer: WeCom corp, staff, shops, products, coupons and tags.

`Setup` also carries the lookups the customer generators need; `Setup.from_world()` rebuilds it
from an existing world so the live ticker can extend a world it did not generate.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import accumulate

from haina.sandbox.data import catalog, names
from haina.sandbox.data.calendar import new_year
from haina.sandbox.generator.ids import BASE62, DIGITS, HEX, LIVE_ORIGIN, URLSAFE, Tokens, pick, random_text
from haina.sandbox.generator.season import DAY, local_date, local_day_start, to_datetime
from haina.sandbox.world import CorpTag, CorpTagGroup, Coupon, Product, Shop, Staff, World


@dataclass(slots=True)
class Merchant:
    seed: int
    merchant_name: str
    corp_id: str
    corp_secret: str
    callback_token: str
    callback_aes_key: str


@dataclass
class Setup:
    merchant: Merchant
    start: datetime
    staff: list[Staff]
    shops: list[Shop]
    products: list[Product]
    coupons: list[Coupon]
    tag_groups: list[CorpTagGroup]
    # derived lookups
    templates: dict[str, catalog.ShopTemplate] = field(default_factory=dict)
    items: dict[str, catalog.CatalogItem] = field(default_factory=dict)  # by sku_id
    by_kind: dict[str, list[Product]] = field(default_factory=dict)
    by_category: dict[str, list[Product]] = field(default_factory=dict)
    coupons_by_shop: dict[str, list[tuple[int, int, Coupon]]] = field(default_factory=dict)
    tag_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    staff_by_department: dict[int, list[Staff]] = field(default_factory=dict)
    staff_by_userid: dict[str, Staff] = field(default_factory=dict)
    shop_cumulative: list[int] = field(default_factory=list)
    corp_part: str = ""  # the 8 characters WeCom puts after "wm"/"wr"/"et" for this corp

    def __post_init__(self) -> None:
        codes = {item.code: item for item in catalog.CATALOG}
        for product in self.products:
            item = codes.get(product.outer_sku) or catalog.CatalogItem(
                product.outer_sku, product.category, "other", product.title, product.price_fen
            )
            self.items[product.sku_id] = item
            self.by_kind.setdefault(item.kind, []).append(product)
            self.by_category.setdefault(product.category, []).append(product)
        known = {template.shop_id: template for template in catalog.SHOPS}
        for shop in self.shops:
            self.templates[shop.shop_id] = known.get(shop.shop_id) or catalog.ShopTemplate(
                shop.shop_id, shop.platform, shop.name, (1, 1, 1, 1), 5
            )
        self.shop_cumulative = list(
            accumulate(self.templates[shop.shop_id].buyer_weight for shop in self.shops)
        )
        for coupon in self.coupons:
            window = (int(coupon.starts_at.timestamp()), int(coupon.ends_at.timestamp()), coupon)
            self.coupons_by_shop.setdefault(coupon.shop_id, []).append(window)
        for group in self.tag_groups:
            for tag in group.tags:
                self.tag_ids[(group.group_name, tag.name)] = tag.tag_id
        for member in self.staff:
            self.staff_by_department.setdefault(member.department, []).append(member)
            self.staff_by_userid[member.userid] = member
        self.corp_part = self.merchant.corp_id[2:10]

    @classmethod
    def from_world(cls, world: World, start: datetime) -> Setup:
        merchant = Merchant(
            world.seed,
            world.merchant_name,
            world.corp_id,
            world.corp_secret,
            world.callback_token,
            world.callback_aes_key,
        )
        return cls(merchant, start, world.staff, world.shops, world.products, world.coupons, world.tag_groups)

    def pick_shop(self, rng: random.Random) -> Shop:
        return self.shops[bisect(self.shop_cumulative, rng.random() * self.shop_cumulative[-1])]

    def tag(self, group: str, name: str) -> str:
        return self.tag_ids.get((group, name), "")


def build_setup(seed: int, customers: int, start: datetime, tokens: Tokens) -> Setup:
    """The merchant of world `seed`; staff grow with the number of customers."""
    rng = random.Random(f"{seed}/setup")
    merchant_name = rng.choice(catalog.MERCHANT_NAMES)
    merchant = Merchant(
        seed=seed,
        merchant_name=merchant_name,
        corp_id="ww" + random_text(rng, 16, HEX),
        corp_secret=random_text(rng, 43, URLSAFE),
        callback_token=random_text(rng, 24, BASE62),
        callback_aes_key=random_text(rng, 43, BASE62),
    )
    staff = _staff(rng, customers, tokens)
    shops = [_shop(rng, template, merchant_name) for template in catalog.SHOPS]
    products = [
        Product(
            sku_id="5" + tokens.number("sku", index, 12),
            title=item.title,
            category=item.category,
            price_fen=item.price_fen,
            outer_sku=item.code,
        )
        for index, item in enumerate(catalog.CATALOG)
    ]
    coupons = _coupons(rng, shops, start, tokens)
    tag_groups = _tag_groups(merchant.corp_id[2:10], start, tokens)
    return Setup(merchant, start, staff, shops, products, coupons, tag_groups)


def _staff(rng: random.Random, customers: int, tokens: Tokens) -> list[Staff]:
    count = max(12, min(200, 8 + customers // 4000))
    stores = list(catalog.STORE_DEPARTMENTS.values())
    # About a quarter of the guides work in the stores (a manager first); the rest serve online buyers.
    per_store = max(2, count // (4 * len(stores)))
    staff = []
    for index in range(count):
        if index < len(names.STAFF):
            name, userid, _gender = names.STAFF[index]
        else:
            # Past the named list, generated names with employee-number userids.
            surname = names.SURNAMES[int(rng.random() * 40)][0]
            name = surname + pick(rng, names.GIVEN_FEMALE) + pick(rng, names.GIVEN_FEMALE)
            userid = f"DG{index + 1:04d}"
        in_store = index < per_store * len(stores)
        department = stores[index // per_store] if in_store else 1
        position = "店长" if in_store and index % per_store == 0 else "导购"
        mobile = tokens.mobile(LIVE_ORIGIN + 30_000_000 + index, rng.random())
        staff.append(Staff(userid=userid, name=name, mobile=mobile, department=department, position=position))
    return staff


def _shop(rng: random.Random, template: catalog.ShopTemplate, merchant_name: str) -> Shop:
    platform = template.platform
    if platform in ("taobao", "tmall"):
        key, secret = random_text(rng, 8, DIGITS), random_text(rng, 32, HEX)
    elif platform == "youzan":
        key, secret = random_text(rng, 18, HEX), random_text(rng, 32, HEX)
    elif platform == "jd":
        key, secret = random_text(rng, 32, HEX).upper(), random_text(rng, 32, HEX)
    elif platform == "pdd":
        key, secret = random_text(rng, 32, HEX), random_text(rng, 40, HEX)
    elif platform == "douyin":
        value = random_text(rng, 32, HEX)
        key = "7" + random_text(rng, 18, DIGITS)
        secret = f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    else:
        key, secret = "pos_" + random_text(rng, 12, HEX), random_text(rng, 32, HEX)
    return Shop(template.shop_id, platform, merchant_name + template.name_suffix, key, secret)


def _window(template: catalog.CouponTemplate, start: datetime) -> tuple[int, int]:
    """The coupon's validity: all year, or the latest festival window that began before start."""
    end = int(start.timestamp())
    today = local_date(end)
    if template.window == "year":
        return end - 365 * DAY, end + 30 * DAY
    for year in (today.year, today.year - 1):
        if template.window == "618":
            first, last = date(year, 5, 25), date(year, 6, 20)
        elif template.window == "1111":
            first, last = date(year, 10, 20), date(year, 11, 12)
        elif template.window == "38":
            first, last = date(year, 3, 1), date(year, 3, 8)
        else:  # 年货节
            spring = new_year(year)
            first, last = date.fromordinal(spring.toordinal() - 25), date.fromordinal(spring.toordinal() - 8)
        if local_day_start(first) < end:
            return local_day_start(first), local_day_start(last) + DAY - 1
    return end - 365 * DAY, end


def _coupons(rng: random.Random, shops: list[Shop], start: datetime, tokens: Tokens) -> list[Coupon]:
    coupons: list[Coupon] = []
    for shop in shops:
        for template in catalog.COUPONS:
            starts, ends = _window(template, start)
            total = rng.choice((2000, 5000, 10000, 50000))
            coupons.append(
                Coupon(
                    coupon_id="C" + tokens.number("coupon", len(coupons), 11),
                    platform=shop.platform,
                    shop_id=shop.shop_id,
                    title=template.title,
                    kind=template.kind,
                    threshold_fen=template.threshold_fen,
                    value_fen=template.value_fen,
                    discount_percent=template.discount_percent,
                    starts_at=to_datetime(starts),
                    ends_at=to_datetime(ends),
                    total=total,
                    issued=int(total * (0.3 + 0.6 * rng.random())),
                )
            )
    return coupons


def _tag_groups(corp_part: str, start: datetime, tokens: Tokens) -> list[CorpTagGroup]:
    created = to_datetime(int(start.timestamp()) - 400 * DAY)
    groups = []
    counter = 0
    for group_order, (group_name, tag_names) in enumerate(catalog.TAG_GROUPS):
        tags = []
        for tag_order, tag_name in enumerate(tag_names):
            counter += 1
            tag_id = "et" + corp_part + tokens.text("tag", counter, 22, URLSAFE)
            tags.append(
                CorpTag(tag_id=tag_id, name=tag_name, order=len(tag_names) - tag_order, create_time=created)
            )
        counter += 1
        group_id = "et" + corp_part + tokens.text("tag", counter, 22, URLSAFE)
        groups.append(
            CorpTagGroup(
                group_id=group_id,
                group_name=group_name,
                order=len(catalog.TAG_GROUPS) - group_order,
                create_time=created,
                tags=tags,
            )
        )
    return groups
