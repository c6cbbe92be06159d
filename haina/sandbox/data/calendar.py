"""The Chinese e-commerce year: how busy each day is (618, 双11, 双12, 年货节, 女神节, weekends)
and each hour, so generated orders cluster where real ones do."""

from __future__ import annotations

from datetime import date, timedelta

# Chinese New Year (春节); 年货节 runs in the weeks before it and couriers stop around it.
NEW_YEAR: dict[int, date] = {
    2018: date(2018, 2, 16), 2019: date(2019, 2, 5), 2020: date(2020, 1, 25), 2021: date(2021, 2, 12),
    2022: date(2022, 2, 1), 2023: date(2023, 1, 22), 2024: date(2024, 2, 10), 2025: date(2025, 1, 29),
    2026: date(2026, 2, 17), 2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3), 2031: date(2031, 1, 23), 2032: date(2032, 2, 11), 2033: date(2033, 1, 31),
    2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
}  # fmt: skip

# Monday … Sunday
WEEKDAY_FACTOR = (0.92, 0.95, 0.97, 0.98, 1.02, 1.10, 1.12)

# Orders per hour of the day, Beijing time: a morning and an evening peak, quiet at night.
ORDER_HOURS = (3, 1.5, 0.8, 0.5, 0.4, 0.5, 1, 2, 3.5, 5, 6, 6, 5.5, 5, 5.5, 6, 5.5, 5, 5, 6, 8, 9, 8.5, 6)

# Tags a day can carry; the generator uses them for coupons and gift boxes.
SEASON_618 = "618"
SEASON_1111 = "1111"
SEASON_NIANHUO = "nianhuo"
SEASON_38 = "38"


def new_year(year: int) -> date:
    # Outside the table the date is a guess; only the shape of the year matters then.
    return NEW_YEAR.get(year, date(year, 2, 1))


def day_profile(day: date) -> tuple[float, str, bool]:
    """(order weight, season tag, whether the day opens with a midnight rush) for one day."""
    weight = WEEKDAY_FACTOR[day.weekday()]
    month, dom = day.month, day.day
    season = ""
    midnight = False
    if (month == 10 and dom >= 20) or (month == 11 and dom <= 13):
        season = SEASON_1111
        if month == 11 and dom == 11:
            weight *= 9.0
            midnight = True
        elif month == 11 and dom == 1:
            weight *= 3.5
            midnight = True
        elif month == 11 and dom <= 10:
            weight *= 1.8
        elif month == 10:
            weight *= 1.5  # presale deposits
        else:
            weight *= 1.2
    elif (month == 5 and dom >= 28) or (month == 6 and dom <= 20):
        season = SEASON_618
        if month == 6 and dom == 18:
            weight *= 7.0
            midnight = True
        elif month == 6 and dom == 1:
            weight *= 3.5
            midnight = True
        elif month == 6 and dom <= 17:
            weight *= 1.6
        else:
            weight *= 1.3
    elif month == 12 and dom == 12:
        weight *= 2.5
        midnight = True
    elif month == 3 and dom <= 8:
        season = SEASON_38
        weight *= 2.2 if dom == 8 else 1.2
    spring = new_year(day.year if month < 6 else day.year + 1)
    offset = (day - spring).days
    if -25 <= offset <= -8:
        season = season or SEASON_NIANHUO
        weight *= 1.8
    elif -7 <= offset <= 6:
        weight *= 0.45  # couriers stop for the holiday
    return weight, season, midnight


def days_back(last_day: date, count: int) -> list[date]:
    """The `count` days ending with `last_day`, oldest first."""
    return [last_day - timedelta(days=count - 1 - index) for index in range(count)]
