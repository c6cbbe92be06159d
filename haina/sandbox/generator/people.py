"""People (the ground truth) and their accounts as each platform sees them.

Identity variation lives here: second phone numbers, masked phones, nicknames, traditional
characters, near-homophone typos, addresses written differently, household devices shared by
two people, one WeChat unionid behind a WeCom contact and a Youzan buyer, and namesakes.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate

from haina.sandbox.data import names, places
from haina.sandbox.data.catalog import EMAIL_DOMAINS
from haina.sandbox.generator.ids import BASE36, BASE62, URLSAFE, Tokens, device_id, mask_mobile, pick
from haina.sandbox.generator.season import DAY, to_datetime
from haina.sandbox.generator.setup import Setup
from haina.sandbox.world import Account, Person, Shop

# Category weights (beauty, mother_baby, appliance, snacks) by what a person mostly buys.
PERSONAS: dict[str, tuple[int, int, int, int]] = {
    "beauty": (8, 1, 1, 2),
    "mother": (2, 9, 1, 2),
    "home": (1, 1, 8, 2),
    "snacker": (2, 1, 1, 8),
    "mixed": (3, 3, 3, 3),
}
SKIN_TYPES = ("干性", "油性", "混合性", "敏感肌")

_SURNAME_CUMULATIVE = list(accumulate(weight for _, weight in names.SURNAMES))
_CITY_CUMULATIVE = list(accumulate(city.weight for city in places.CITIES))
_STORE_CITIES = {"上海市", "杭州市"}


@dataclass(slots=True)
class Draft:
    """A person plus what only the generator knows about them."""

    person: Person
    surname: str
    title: str  # 陈女士 / 陈先生, how a guide or clerk writes them
    phone2: str
    unionid: str
    handle: str  # the nickname this person reuses on several platforms
    english: str
    devices: list[str]
    city: places.City
    parts: places.StreetParts
    office: str
    persona: str
    skin: str
    baby_birth: int | None  # unix seconds; None when no baby in the picture
    household: list[Draft] = field(default_factory=list)
    bought_kinds: set[str] = field(default_factory=set)  # membership only, never iterated
    flags: dict[str, int] = field(default_factory=dict)  # refunds, allergy, orders… for chats and tags


class PeopleMaker:
    def __init__(self, setup: Setup, tokens: Tokens, seed: int | str, origin: int = 0) -> None:
        self.setup = setup
        self.tokens = tokens
        self.rng = random.Random(f"{seed}/people")
        self.account_rng = random.Random(f"{seed}/accounts")
        self.end = int(setup.start.timestamp())
        self.person_counter = origin
        self.account_counter = origin
        self.phone_counter = origin
        # One WeChat open platform account per merchant: every unionid shares its prefix.
        self.unionid_prefix = "o" + tokens.text("unionid-app", 0, 3, URLSAFE)

    # --- people -------------------------------------------------------------------------

    def cluster(self, limit: int) -> list[Draft]:
        """One household, or two namesake households; at most `limit` people."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.025 and limit >= 2:
            # Two unrelated people with the same common name in the same city.
            common, gender = pick(rng, names.COMMON_NAMES)
            city = self._city()
            return [self._person(city, gender, name=common), self._person(city, gender, name=common)]
        if roll < 0.20 and limit >= 2:
            city = self._city()
            first = self._person(city, 2)
            second = self._person(city, 1, home_of=first)
            members = [first, second]
            if roll < 0.04 and limit >= 3:
                # An adult child living with the parents, sharing the father's surname.
                members.append(self._person(city, pick(rng, (1, 2)), home_of=first, surname=second.surname))
            for member in members:
                member.household = [other for other in members if other is not member]
            return members
        return [self._person(self._city(), 2 if rng.random() < 0.68 else 1)]

    def _city(self) -> places.City:
        return places.CITIES[bisect(_CITY_CUMULATIVE, self.rng.random() * _CITY_CUMULATIVE[-1])]

    def _phone(self) -> str:
        self.phone_counter += 1
        return self.tokens.mobile(self.phone_counter, self.rng.random())

    def _person(
        self,
        city: places.City,
        gender: int,
        *,
        name: str = "",
        home_of: Draft | None = None,
        surname: str = "",
    ) -> Draft:
        rng = self.rng
        self.person_counter += 1
        if name:
            surname = name[0]
            given = name[1:]
        else:
            surname = (
                surname
                or names.SURNAMES[bisect(_SURNAME_CUMULATIVE, rng.random() * _SURNAME_CUMULATIVE[-1])][0]
            )
            given = self._given(gender)
        year = int(rng.triangular(1962, 2005, 1991))
        birth_date = f"{year:04d}-{1 + int(rng.random() * 12):02d}-{1 + int(rng.random() * 28):02d}"
        age = self.setup.start.year - year
        persona = self._persona(gender, age)
        if home_of is not None:
            parts, district, household_device = (
                home_of.parts,
                home_of.person.district,
                home_of.person.household_device_id,
            )
        else:
            parts = places.StreetParts(
                road=pick(rng, city.roads or places.GENERIC_ROADS),
                number=1 + int(rng.random() * 1200),
                estate=pick(rng, places.ESTATES),
                building=1 + int(rng.random() * 30),
                unit=1 + int(rng.random() * 6),
                room=(1 + int(rng.random() * 32)) * 100 + 1 + int(rng.random() * 4),
                uses_lanes=city.uses_lanes,
            )
            district = pick(rng, city.districts)
            household_device = device_id(rng)
        person = Person(
            person_id=f"P{self.person_counter:08d}",
            name=surname + given,
            phone=self._phone(),
            gender=gender,
            province=city.province,
            city=city.city,
            district=district,
            street=parts.canonical(),
            birth_date=birth_date,
            household_device_id=household_device,
        )
        baby_birth = None
        if persona == "mother":
            # From about two months before the start (expecting) to three years old.
            baby_birth = self.end - int(rng.uniform(-60, 1000) * DAY)
        english = pick(rng, names.ENGLISH_FEMALE if gender == 2 else names.ENGLISH_MALE)
        office = ""
        if rng.random() < 0.22:
            office = f"{pick(rng, city.roads or places.GENERIC_ROADS)}{1 + int(rng.random() * 800)}号{pick(rng, places.OFFICES)}{2 + int(rng.random() * 30)}楼"
        return Draft(
            person=person,
            surname=surname,
            title=surname + ("女士" if gender == 2 else "先生"),
            phone2=self._phone() if rng.random() < 0.25 else "",
            unionid=self.unionid_prefix + self.tokens.text("unionid", self.person_counter, 24, URLSAFE),
            handle=self._handle(surname, given, year, persona, english),
            english=english,
            devices=[device_id(rng) for _ in range(1 if rng.random() < 0.8 else 2)],
            city=city,
            parts=parts,
            office=office,
            persona=persona,
            skin=pick(rng, SKIN_TYPES) if persona in ("beauty", "mixed") or gender == 2 else "",
            baby_birth=baby_birth,
        )

    def _given(self, gender: int) -> str:
        rng = self.rng
        chars = names.GIVEN_FEMALE if gender == 2 else names.GIVEN_MALE
        first = pick(rng, chars)
        if rng.random() < 0.3:
            return first
        if rng.random() < 0.05:
            return first + first  # 婷婷
        second = pick(rng, chars)
        return first + (second if second != first else pick(rng, chars))

    def _persona(self, gender: int, age: int) -> str:
        roll = self.rng.random()
        if gender == 2:
            mother = 0.30 if 23 <= age <= 40 else 0.04
            if roll < mother:
                return "mother"
            roll = (roll - mother) / (1 - mother)
            return "beauty" if roll < 0.5 else "snacker" if roll < 0.7 else "home" if roll < 0.82 else "mixed"
        father = 0.15 if 25 <= age <= 42 else 0.02
        if roll < father:
            return "mother"
        roll = (roll - father) / (1 - father)
        return "home" if roll < 0.45 else "snacker" if roll < 0.75 else "beauty" if roll < 0.82 else "mixed"

    def _handle(self, surname: str, given: str, year: int, persona: str, english: str) -> str:
        rng = self.rng
        roll = rng.random()
        decoration = pick(rng, names.NICKNAME_DECORATIONS)
        if persona == "mother" and roll < 0.5:
            return pick(rng, names.BABY_NICKNAMES) + pick(rng, ("妈", "妈妈", "妈咪", "爸爸")) + decoration
        if roll < 0.35:
            return pick(rng, names.NICKNAME_PREFIXES) + pick(rng, names.NICKNAME_NOUNS) + decoration
        if roll < 0.55:
            return f"{english}_{year % 100:02d}"
        if roll < 0.75:
            return given[-1] * 2 + pick(rng, ("", "酱", "呀", "~")) + decoration
        if roll < 0.85:
            return surname + "小" + given[-1]
        return pick(rng, names.NICKNAME_NOUNS) + str(year)

    # --- accounts -----------------------------------------------------------------------

    def shops_for(self, draft: Draft) -> list[Shop]:
        """Which of the merchant's shops this person buys in (none for WeCom-only leads)."""
        rng = self.account_rng
        roll = rng.random()
        count = 0 if roll < 0.08 else 1 if roll < 0.58 else 2 if roll < 0.84 else 3 if roll < 0.95 else 4
        chosen: list[Shop] = []
        lives_near_store = draft.person.city in _STORE_CITIES
        for _ in range(count * 4):
            if len(chosen) == count:
                break
            shop = self.setup.pick_shop(rng)
            template = self.setup.templates[shop.shop_id]
            if template.city and (template.city != draft.person.city or rng.random() < 0.3):
                continue
            if shop not in chosen:
                chosen.append(shop)
        if lives_near_store and rng.random() < 0.15:
            for shop in self.setup.shops:
                if self.setup.templates[shop.shop_id].city == draft.person.city and shop not in chosen:
                    chosen.append(shop)
                    break
        return chosen

    def account(self, draft: Draft, shop: Shop, shared_device: bool) -> Account:
        rng = self.account_rng
        tokens = self.tokens
        self.account_counter += 1
        counter = self.account_counter
        platform = shop.platform
        person = draft.person
        name = self._written_name(draft)
        phone = draft.phone2 if draft.phone2 and rng.random() < 0.3 else person.phone
        province, city, district, address = self._written_address(draft, platform)
        if (
            name != person.name
            and names.has_traditional_form(person.name)
            and name == names.traditional(person.name)
        ):
            address = names.traditional(address) if rng.random() < 0.5 else address
        device = ""
        if platform != "pos":
            device = person.household_device_id if shared_device else pick(rng, draft.devices)
        oaid = unionid = email = ""
        if platform in ("taobao", "tmall"):
            buyer_id = "AAH" + tokens.text("open_uid", counter, 21, URLSAFE)
            nickname = draft.handle if rng.random() < 0.4 else "tb" + tokens.number("tb_nick", counter, 10)
            phone = mask_mobile(phone)
            oaid = "1" + tokens.text("oaid", counter, 39, BASE62)
        elif platform == "jd":
            buyer_id = "jd_" + tokens.text("jd_pin", counter, 12, BASE36)
            nickname = draft.handle if rng.random() < 0.3 else buyer_id
            phone = mask_mobile(phone) if rng.random() < 0.3 else phone
            if rng.random() < 0.25:
                email = f"{draft.english.lower()}{person.birth_date[:4]}@{pick(rng, EMAIL_DOMAINS)}"
        elif platform == "pdd":
            buyer_id = tokens.number("pdd_uid", counter, 11)
            nickname = draft.handle if rng.random() < 0.6 else "pdd_" + tokens.number("pdd_nick", counter, 8)
            phone = mask_mobile(phone) if rng.random() < 0.3 else phone
        elif platform == "douyin":
            buyer_id = "1" + tokens.text("doudian_open_id", counter, 31, BASE62)
            nickname = draft.handle if rng.random() < 0.5 else "用户" + tokens.number("dy_nick", counter, 10)
            phone = mask_mobile(phone) if rng.random() < 0.3 else phone
        elif platform == "youzan":
            buyer_id = tokens.text("yz_open_id", counter, 32, BASE62)
            nickname = draft.handle if rng.random() < 0.85 else name
            unionid = draft.unionid  # Youzan is a WeChat mall: the same unionid WeCom sees
        else:  # pos: the clerk types what the customer says at the till
            buyer_id = "M" + shop.shop_id[-4:].upper() + tokens.number("pos_member", counter, 8)
            nickname = ""
            name = person.name if rng.random() < 0.7 else draft.title
            store = self.setup.templates[shop.shop_id]
            province, city, district, address = person.province, store.city or person.city, store.district, ""
        return Account(
            account_id=f"A{counter:08d}",
            person_id=person.person_id,
            platform=platform,
            shop_id=shop.shop_id,
            buyer_id=buyer_id,
            nickname=nickname,
            name=name,
            phone=phone,
            province=province,
            city=city,
            district=district,
            address=address,
            device_id=device,
            unionid=unionid,
            oaid=oaid,
            email=email,
        )

    def _written_name(self, draft: Draft) -> str:
        rng = self.account_rng
        full = draft.person.name
        roll = rng.random()
        if roll < 0.72:
            return full
        if roll < 0.81 and names.has_traditional_form(full):
            return names.traditional(full)
        if roll < 0.88:
            return names.homophone_typo(full, rng.random())
        if roll < 0.93:
            return draft.title
        if roll < 0.97:
            return draft.english + draft.surname
        return draft.surname + " " + full[len(draft.surname) :]

    def _written_address(self, draft: Draft, platform: str) -> tuple[str, str, str, str]:
        rng = self.account_rng
        person = draft.person
        style = 0 if rng.random() < 0.55 else 1 + int(rng.random() * (places.STREET_STYLES - 1))
        street = draft.parts.variant(style)
        roll = rng.random()
        if roll < 0.7:
            return person.province, person.city, person.district, street
        if roll < 0.9:
            return (
                places.short_province(person.province),
                places.short_city(person.city),
                person.district,
                street,
            )
        # District left empty and typed into the street line instead.
        return person.province, person.city, "", person.district + street

    def set_created(self, account: Account, first_order: int | None) -> None:
        rng = self.account_rng
        if first_order is None:
            created = self.end - int(rng.random() * 365 * DAY)
        else:
            created = first_order - int(rng.random() * pick(rng, (2, 30, 400)) * DAY)
        account.created_at = to_datetime(created)
