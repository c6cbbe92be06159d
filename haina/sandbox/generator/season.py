"""Drawing order times over the year before the world's start, shaped by the shopping calendar."""

from __future__ import annotations

import calendar as gregorian
import random
from bisect import bisect
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate

from haina.sandbox.data.calendar import ORDER_HOURS, day_profile, days_back

BEIJING = 8 * 3600  # Beijing has no daylight saving: a fixed offset is exact
DAY = 86400
HOUR = 3600


def local_day_start(day: date) -> int:
    """Unix seconds of 00:00 Beijing time on `day`."""
    return gregorian.timegm(day.timetuple()) - BEIJING


def local_date(timestamp: int) -> date:
    return date(1970, 1, 1) + timedelta(days=(timestamp + BEIJING) // DAY)


def to_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class SeasonCalendar:
    """The `days` days before `start`: a weight per day (festivals, weekdays, slow growth) and a
    weight per hour; `sample()` draws an order time from them."""

    def __init__(self, start: datetime, days: int = 365) -> None:
        self.end = int(start.timestamp())
        self.first_day = local_date(self.end - (days - 1) * DAY)
        self.first_day_number = (self.end + BEIJING) // DAY - (days - 1)
        self.day_starts: list[int] = []
        self.seasons: list[str] = []
        self.midnights: list[bool] = []
        weights = []
        for index, day in enumerate(days_back(local_date(self.end), days)):
            weight, season, midnight = day_profile(day)
            weights.append(weight * (0.85 + 0.3 * index / days))  # a growing shop
            self.day_starts.append(local_day_start(day))
            self.seasons.append(season)
            self.midnights.append(midnight)
        self.day_cumulative = list(accumulate(weights))
        self.hour_cumulative = list(accumulate(ORDER_HOURS))

    def sample(self, rng: random.Random) -> int:
        """An order time in unix seconds, before the start."""
        day_total = self.day_cumulative[-1]
        hour_total = self.hour_cumulative[-1]
        while True:
            index = bisect(self.day_cumulative, rng.random() * day_total)
            if self.midnights[index] and rng.random() < 0.25:
                second = int(rng.random() * HOUR)  # the rush when a festival opens at 00:00
            else:
                hour = bisect(self.hour_cumulative, rng.random() * hour_total)
                second = hour * HOUR + int(rng.random() * HOUR)
            timestamp = self.day_starts[index] + second
            if timestamp < self.end:
                return timestamp

    def season(self, timestamp: int) -> str:
        index = (timestamp + BEIJING) // DAY - self.first_day_number
        if 0 <= index < len(self.seasons):
            return self.seasons[index]
        return ""

    def at_hour(self, timestamp: int, hour_cumulative: list[float], rng: random.Random) -> int:
        """A time on the same Beijing day as `timestamp`, at an hour drawn from `hour_cumulative`."""
        day_start = timestamp - (timestamp + BEIJING) % DAY
        hour = bisect(hour_cumulative, rng.random() * hour_cumulative[-1])
        return day_start + hour * HOUR + int(rng.random() * HOUR)
