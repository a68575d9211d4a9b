"""Posting windows: when a batch of videos goes out, spread over the hours a profile allows.

Each day's open time (its windows, in the profile's IANA zone) gets an even grid of slots:
`daily_limit` of them, or as many as `per_hour` allows. New slots take the free grid points
from `now` on; `taken` slots (already scheduled or published on this channel) count against
both limits and are never doubled up. Times are laid out in real (UTC) time, so a day with
a DST change gets its true length and a wall-clock hour that happens twice is not skipped.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOUR = timedelta(hours=1)
MAX_DAYS = 3660  # ten years: past that the windows and limits cannot hold the batch
_TIME = re.compile(r"(\d{2}):(\d{2})")


@dataclass(frozen=True)
class Window:
    """Days of the week (0 = Monday) and the local times [start, end) of each, in minutes
    since midnight; `end` may be 1440 ("24:00")."""

    days: frozenset[int]
    start_minute: int
    end_minute: int


def parse_windows(raw: Sequence[Mapping[str, str]]) -> list[Window]:
    """Read windows such as {"days": "mon-fri", "from": "09:00", "to": "21:00"}.

    Days are names (mon ... sun), ranges (mon-fri, fri-mon wraps) and lists (sat,sun).
    Raises ValueError naming the bad window and part.
    """
    if isinstance(raw, Mapping | str) or not raw:
        raise ValueError("windows: give a list of at least one window")
    windows = []
    for index, item in enumerate(raw):
        where = f"windows[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: must be an object with days, from and to")
        unknown = sorted(set(item) - {"days", "from", "to"})
        if unknown:
            raise ValueError(f"{where}.{unknown[0]}: unknown key (use days, from, to)")
        for key in ("days", "from", "to"):
            if not isinstance(item.get(key), str):
                raise ValueError(f"{where}.{key}: missing (a string)")
        start = _minute(item["from"], f"{where}.from", allow_end_of_day=False)
        end = _minute(item["to"], f"{where}.to", allow_end_of_day=True)
        if end <= start:
            raise ValueError(f"{where}.to: {item['to']} is not after from {item['from']} "
                             f"(split a window across midnight in two)")
        windows.append(Window(_days(item["days"], f"{where}.days"), start, end))
    return windows


def next_slots(now: datetime, count: int, windows: Sequence[Window], timezone: str,
               daily_limit: int | None = None, per_hour: int | None = None,
               taken: Sequence[datetime] = ()) -> list[datetime]:
    """The next `count` posting times from `now` on, in `timezone`, as aware datetimes.

    At most `daily_limit` a local day and `per_hour` in any 60 minutes, `taken` included.
    Raises ValueError for bad arguments, or when ten years cannot hold the batch.
    """
    zone = _zone(timezone)
    _check_arguments(now, count, windows, daily_limit, per_hour, taken)
    booked = sorted(moment.astimezone(UTC) for moment in taken)
    booked_per_day = Counter(moment.astimezone(zone).date() for moment in booked)
    chosen: list[datetime] = []
    day = now.astimezone(zone).date()
    for _ in range(MAX_DAYS):
        if len(chosen) == count:
            break
        room = (daily_limit - booked_per_day[day]) if daily_limit else count
        for moment in _day_grid(day, windows, zone, daily_limit, per_hour):
            if room <= 0 or len(chosen) == count:
                break
            if moment.grid_time < now or _too_close(moment.grid_time, booked, moment.gap):
                continue
            if per_hour and not _hour_allows(moment.grid_time, booked, per_hour):
                continue
            bisect.insort(booked, moment.grid_time)
            chosen.append(moment.grid_time)
            room -= 1
        day += timedelta(days=1)
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} of {count} slots fit in {MAX_DAYS} days; "
                         f"widen the windows or raise the limits")
    return [moment.astimezone(zone) for moment in chosen]


@dataclass(frozen=True)
class _GridPoint:
    grid_time: datetime  # UTC
    gap: timedelta       # the grid step: a booked slot closer than half of it takes this point


def _day_grid(day: date, windows: Sequence[Window], zone: ZoneInfo, daily_limit: int | None,
              per_hour: int | None) -> list[_GridPoint]:
    """The day's slots, evenly spread over its open minutes (real minutes, DST counted)."""
    intervals = _open_intervals(day, windows, zone)
    total = sum(int((end - start).total_seconds()) // 60 for start, end in intervals)
    if total <= 0:
        return []
    capacity = max(1, total * per_hour // 60) if per_hour else None
    slots = min(value for value in (daily_limit, capacity) if value is not None)
    gap = timedelta(minutes=total / slots)
    # Whole minutes: i * total // slots is exact integer arithmetic, so no slot drifts.
    return [_GridPoint(_at_offset(intervals, index * total // slots), gap)
            for index in range(slots)]


def _open_intervals(day: date, windows: Sequence[Window],
                    zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The day's windows as merged UTC intervals."""
    spans = sorted((_instant(day, window.start_minute, zone, fold=0),
                    _instant(day, window.end_minute, zone, fold=1))
                   for window in windows if day.weekday() in window.days)
    merged: list[tuple[datetime, datetime]] = []
    for start, end in spans:
        if end <= start:
            continue  # the whole window lies in a DST gap
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _instant(day: date, minute: int, zone: ZoneInfo, *, fold: int) -> datetime:
    """The UTC instant of a local wall time. A time inside a DST gap (it never happens)
    becomes the moment the clock jumps; in a repeated hour, `fold` picks the occurrence
    (0 for a window's start, 1 for its end, so the window spans both)."""
    local = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
    for _ in range(24 * 60):
        aware = local.replace(tzinfo=zone, fold=fold)
        if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local:
            return aware.astimezone(UTC)
        local += timedelta(minutes=1)
    raise ValueError(f"{zone.key}: no existing local time near {day} {minute // 60:02d}:00")


def _at_offset(intervals: Sequence[tuple[datetime, datetime]], minutes: int) -> datetime:
    """The instant `minutes` of open time after the day's first window opens."""
    for start, end in intervals:
        length = int((end - start).total_seconds()) // 60
        if minutes < length:
            return start + timedelta(minutes=minutes)
        minutes -= length
    raise AssertionError("offset beyond the day's open time")


def _too_close(moment: datetime, booked: Sequence[datetime], gap: timedelta) -> bool:
    """Whether a booked slot sits within half a grid step: that point is already used."""
    index = bisect.bisect_left(booked, moment)
    neighbours = booked[max(0, index - 1):index + 1]
    return any(abs(other - moment) < gap / 2 for other in neighbours)


def _hour_allows(moment: datetime, booked: Sequence[datetime], per_hour: int) -> bool:
    """Whether adding `moment` keeps every 60-minute span at `per_hour` slots or fewer."""
    near = booked[bisect.bisect_right(booked, moment - HOUR):
                  bisect.bisect_left(booked, moment + HOUR)]
    near = sorted([*near, moment])
    for first in (other for other in near if other <= moment):
        if sum(1 for other in near if first <= other < first + HOUR) > per_hour:
            return False
    return True


def _check_arguments(now: datetime, count: int, windows: Sequence[Window],
                     daily_limit: int | None, per_hour: int | None,
                     taken: Sequence[datetime]) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: a time zone is required (naive datetime)")
    if any(moment.tzinfo is None or moment.utcoffset() is None for moment in taken):
        raise ValueError("taken: every slot needs a time zone (naive datetime found)")
    if count < 0:
        raise ValueError(f"count: {count} is negative")
    if not windows:
        raise ValueError("windows: at least one window is required")
    for name, value in (("daily_limit", daily_limit), ("per_hour", per_hour)):
        if value is not None and value < 1:
            raise ValueError(f"{name}: {value}; use a positive number or leave it unset")
    if daily_limit is None and per_hour is None:
        raise ValueError("daily_limit, per_hour: set at least one, or every slot would be "
                         "the same moment")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"timezone: {name!r} is not an IANA time zone (e.g. Europe/Berlin)"
                         ) from None


def _minute(text: str, where: str, *, allow_end_of_day: bool) -> int:
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{where}: {text!r} is not HH:MM (24-hour, e.g. 09:00)")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if allow_end_of_day and (hours, minutes) == (24, 0):
        return 24 * 60
    if hours > 23 or minutes > 59:
        raise ValueError(f"{where}: {text!r} is not a time of day (00:00-23:59"
                         f"{', or 24:00' if allow_end_of_day else ''})")
    return hours * 60 + minutes


def _days(text: str, where: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        names = part.split("-")
        if len(names) > 2 or not all(names):
            raise ValueError(f"{where}: {part!r} in {text!r} is not a day or a range like "
                             f"mon-fri")
        for name in names:
            if name not in DAY_NAMES:
                raise ValueError(f"{where}: unknown day {name!r} in {text!r} (use "
                                 f"{', '.join(DAY_NAMES)})")
        first = DAY_NAMES.index(names[0])
        last = DAY_NAMES.index(names[-1])
        days.update((first + step) % 7 for step in range((last - first) % 7 + 1))
    return frozenset(days)
