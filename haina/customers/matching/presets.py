"""Ready-made settings: Haina's customer records, and Latin-alphabet person records."""

from __future__ import annotations

from haina.customers.matching import normalize as nz
from haina.customers.matching.comparisons import (
    ChineseAddressComparison,
    DateComparison,
    EmailComparison,
    ExactComparison,
    IdentifierComparison,
    NameComparison,
    PlatformIdComparison,
    SwapPair,
    TextComparison,
    device_comparison,
)
from haina.customers.matching.settings import BlockingRule, LinkType, MatchSettings

#: The fields of a customer record, as the identity graph and `link_csv` hand them over.
RECORD_FIELDS = (
    "record_id",
    "source",
    "name",
    "phone",
    "email",
    "province",
    "city",
    "address",
    "birth_date",
    "device_id",
    "platform_uid",
)


def chinese_customer_settings(*, record_local: bool = False, **changes: object) -> MatchSettings:
    """Comparisons and blocking for Haina's customer records (fields in RECORD_FIELDS, and
    optionally phone_hash / email_hash: keyed hashes compared for equality only).

    Phones may be masked (138****5678); names compared by characters and by pinyin; addresses
    folded to province / city / district / street; a device or an address shared by a household
    is capped and never merges two records alone.

    `record_local`: every feature of a record (so its blocking keys, and its level against any
    other record) depends on that record alone: full phones are cut 3 + 4 for the masked-phone
    key, and no city is guessed from the cities other records spell out. Incremental matching
    needs that, or a record would block and compare differently in a batch than in a rebuild."""
    settings = MatchSettings(
        comparisons=(
            NameComparison(name="name", term_frequency=True),
            IdentifierComparison(name="phone", kind="phone", pattern_shape=(3, 4) if record_local else None),
            # Optional: the keyed hash of a full phone / email, where the graph keeps no plain value.
            IdentifierComparison(name="phone_hash", typo_level=False),
            IdentifierComparison(name="email_hash", typo_level=False, conflicts=False),
            EmailComparison(name="email"),
            PlatformIdComparison(name="platform_uid"),
            # Two birth years (beyond a typo) are two people; clustering respects that.
            DateComparison(name="birth_date", conflicts=True),
            ChineseAddressComparison(name="address", infer_cities=not record_local),
            device_comparison(),
        ),
        blocking_rules=(
            BlockingRule.on("phone"),
            BlockingRule.on("phone.pattern_code"),
            BlockingRule.on("phone_hash"),
            BlockingRule.on("email_hash"),
            BlockingRule.on("email"),
            BlockingRule.on("email.local_code"),
            BlockingRule.on("platform_uid"),
            BlockingRule.on("device_id"),
            BlockingRule.on("name"),
            BlockingRule.on("name.pronunciation_code"),
            BlockingRule.on("birth_date", "name.value[:1]"),
            BlockingRule.on("address"),
            BlockingRule.on("address.district_code", "name.value[:1]"),
        ),
        max_block_size=500,
    )
    return settings.with_changes(**changes) if changes else settings


def latin_person_settings(
    *,
    given_name: str = "given_name",
    surname: str = "surname",
    birth_date: str = "date_of_birth",
    identifier: str | None = "soc_sec_id",
    street_number: str = "street_number",
    address_1: str = "address_1",
    address_2: str = "address_2",
    suburb: str = "suburb",
    postcode: str = "postcode",
    state: str = "state",
    link_type: LinkType = "dedupe",
    record_id_field: str = "record_id",
    source_field: str = "source",
) -> MatchSettings:
    """Comparisons and blocking for Latin-alphabet person records with a split name and address
    (e.g. FEBRL: given_name, surname, street_number, address_1, address_2, suburb, postcode, state,
    date_of_birth, soc_sec_id). Given name and surname may be swapped, and so may address lines.

    `identifier=None` leaves the personal id number out. With link_type="link_only" the two
    sources are taken to be free of duplicates each (a cluster holds one record per source)."""
    comparisons = [
        NameComparison(name="given_name", fields=(given_name,), term_frequency=True),
        NameComparison(name="surname", fields=(surname,), term_frequency=True),
        DateComparison(name="birth_date", fields=(birth_date,)),
        TextComparison(name="street_number", fields=(street_number,), thresholds=(), term_frequency=True),
        TextComparison(name="address_1", fields=(address_1,), ignore_spaces=True, thresholds=(0.92, 0.8)),
        TextComparison(name="address_2", fields=(address_2,), ignore_spaces=True, thresholds=(0.92, 0.8)),
        TextComparison(name="suburb", fields=(suburb,), term_frequency=True, thresholds=(0.92, 0.8)),
        TextComparison(
            name="postcode", fields=(postcode,), normaliser=nz.digits_only, thresholds=(), term_frequency=True
        ),
        ExactComparison(name="state", fields=(state,), term_frequency=True),
    ]
    rules = [
        BlockingRule.on("given_name"),
        BlockingRule.on("surname"),
        BlockingRule.on("birth_date"),
        BlockingRule.on("postcode"),
        BlockingRule.on("address_1"),
        BlockingRule.on("address_2"),
        BlockingRule.on("suburb"),
    ]
    if identifier:
        comparisons.insert(3, IdentifierComparison(name="identifier", fields=(identifier,)))
        rules.insert(0, BlockingRule.on("identifier.pattern_code"))
        rules.insert(0, BlockingRule.on("identifier"))
    return MatchSettings(
        comparisons=tuple(comparisons),
        blocking_rules=tuple(rules),
        swaps=(SwapPair("given_name", "surname"), SwapPair("address_1", "address_2")),
        link_type=link_type,
        unique_per_source=link_type == "link_only",
        record_id_field=record_id_field,
        source_field=source_field,
    )
