"""Business calendar arithmetic: working minutes between instants, and deadlines, with pauses excluded.

Pure functions over a `Calendar` value (no database, no clock): the live SLA clocks, the SLA reports and
`POST /api/v1/sla/compute` all call `deadline()` and `elapsed()` here, so they always agree.

Rules:
* Working time is given per weekday in the calendar's timezone, as ``[["09:00", "12:00"], ...]``.
* A date in `holidays` has no working time, whatever its weekday.
* A date in `working_days` (an adjusted working day, usually a weekend) has the hours of an ordinary
  Monday.
* Pauses are ``(from, to)`` instants; time inside a pause never counts. ``to`` may be ``None``: paused
  until further notice (elapsed counts up to the pause start; the deadline is unknown, ``None``).
* Elapsed time is counted in seconds and reported in whole minutes (rounded down); a deadline is the
  first instant at which ``target_minutes`` of working, unpaused time have passed since ``start``.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Look at most this far ahead for a deadline (a calendar without working time has none).
MAX_SEARCH_DAYS = 3 * 366

STANDARD_HOURS: dict[str, list[list[str]]] = {
    day: [["09:00", "12:00"], ["13:30", "17:30"]] for day in WEEKDAYS[:5]
} | {"sat": [], "sun": []}

# Mainland China public holidays and adjusted working days (调休) for 2026.
# THIS LIST MUST BE CHECKED AGAINST THE STATE COUNCIL NOTICE (国务院办公厅关于部分节假日安排的通知) EVERY
# YEAR; each organisation may edit its own calendar (administrators and service-level staff, /sla/calendar).
CN_2026_HOLIDAYS: tuple[str, ...] = (
    "2026-01-01",  # 元旦
    *(f"2026-02-{d:02d}" for d in range(15, 24)),  # 春节 2/15-2/23
    "2026-04-04", "2026-04-05", "2026-04-06",  # 清明节
    *(f"2026-05-{d:02d}" for d in range(1, 6)),  # 劳动节 5/1-5/5
    "2026-06-19", "2026-06-20", "2026-06-21",  # 端午节
    "2026-09-25", "2026-09-26", "2026-09-27",  # 中秋节
    *(f"2026-10-{d:02d}" for d in range(1, 8)),  # 国庆节 10/1-10/7
)
CN_2026_WORKING_DAYS: tuple[str, ...] = (
    "2026-02-14", "2026-02-28",  # 春节调休
    "2026-05-09",  # 劳动节调休
    "2026-09-20", "2026-10-10",  # 国庆节调休
)


class CalendarError(ValueError):
    """A calendar definition or a computation request is invalid."""


Interval = tuple[datetime, datetime | None]


@dataclass(frozen=True)
class Calendar:
    """A business calendar: timezone, working hours per weekday, holidays, adjusted working days."""

    timezone: str = "Asia/Shanghai"
    hours: dict[str, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def day_hours(self, day: date) -> tuple[tuple[time, time], ...]:
        """Working periods of one local date."""
        if day in self.holidays:
            return ()
        if day in self.working_days:
            return self.hours.get("mon", ())
        return self.hours.get(WEEKDAYS[day.weekday()], ())

    def to_dict(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "hours": {d: [[a.strftime("%H:%M"), b.strftime("%H:%M")] for a, b in self.hours.get(d, ())]
                      for d in WEEKDAYS},
            "holidays": sorted(d.isoformat() for d in self.holidays),
            "working_days": sorted(d.isoformat() for d in self.working_days),
        }


def _parse_time(text: Any) -> time:
    if not isinstance(text, str):
        raise CalendarError(f"a time must be a string HH:MM, not {text!r}")
    if text == "24:00":
        return time.max
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise CalendarError(f"invalid time {text!r} (expected HH:MM)") from None


def _parse_date(text: Any) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise CalendarError(f"invalid date {text!r} (expected YYYY-MM-DD)") from None


def make_calendar(spec: dict[str, Any]) -> Calendar:
    """Build a calendar from its JSON form; raises CalendarError naming what is wrong."""
    if not isinstance(spec, dict):
        raise CalendarError("a calendar must be an object")
    tzname = spec.get("timezone") or "Asia/Shanghai"
    try:
        ZoneInfo(str(tzname))
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown timezone {tzname!r}") from None
    raw_hours = spec.get("hours")
    if raw_hours is None:
        raw_hours = STANDARD_HOURS
    if not isinstance(raw_hours, dict):
        raise CalendarError("hours must map weekdays (mon..sun) to lists of [from, to]")
    hours: dict[str, tuple[tuple[time, time], ...]] = {}
    for day, periods in raw_hours.items():
        if day not in WEEKDAYS:
            raise CalendarError(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
        parsed: list[tuple[time, time]] = []
        for period in periods or []:
            if not isinstance(period, list | tuple) or len(period) != 2:
                raise CalendarError(f"{day}: each period is [from, to]")
            a, b = _parse_time(period[0]), _parse_time(period[1])
            if not a < b:
                raise CalendarError(f"{day}: period {period[0]}-{period[1]} ends before it starts")
            if parsed and a < parsed[-1][1]:
                raise CalendarError(f"{day}: periods must be in order and must not overlap")
            parsed.append((a, b))
        hours[day] = tuple(parsed)
    return Calendar(
        timezone=str(tzname),
        hours=hours,
        holidays=frozenset(_parse_date(d) for d in spec.get("holidays") or []),
        working_days=frozenset(_parse_date(d) for d in spec.get("working_days") or []),
    )


def default_calendar_spec() -> dict[str, Any]:
    """The default calendar: Asia/Shanghai, 09:00-12:00 and 13:30-17:30 on weekdays, China 2026 holidays."""
    return {"timezone": "Asia/Shanghai", "hours": {d: [list(p) for p in v] for d, v in STANDARD_HOURS.items()},
            "holidays": list(CN_2026_HOLIDAYS), "working_days": list(CN_2026_WORKING_DAYS)}


def default_calendar() -> Calendar:
    return make_calendar(default_calendar_spec())


# --------------------------------------------------------------------------- arithmetic

def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise CalendarError(f"instant {at.isoformat()} has no timezone offset")
    return at.astimezone(UTC)


def _local_instant(tz: ZoneInfo, day: date, t: time) -> datetime:
    if t == time.max:
        return datetime.combine(day + timedelta(days=1), time.min, tz).astimezone(UTC)
    return datetime.combine(day, t, tz).astimezone(UTC)


def working_periods(cal: Calendar, start: datetime, end: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
    """Working periods (UTC) that overlap [start, end), clipped to it, in order; end=None: no end."""
    tz = cal.tz
    start = _aware(start)
    end = _aware(end) if end is not None else None
    day = start.astimezone(tz).date()
    last = day + timedelta(days=MAX_SEARCH_DAYS)
    while day <= last:
        for a, b in cal.day_hours(day):
            lo, hi = _local_instant(tz, day, a), _local_instant(tz, day, b)
            if end is not None and lo >= end:
                return
            lo, hi = max(lo, start), min(hi, end) if end is not None else hi
            if lo < hi:
                yield lo, hi
        day += timedelta(days=1)
        if end is not None and _local_instant(tz, day, time.min) >= end:
            return


def works_between(cal: Calendar, start: datetime, end: datetime) -> bool:
    """Whether any working time lies in [start, end) (stops at the first working period found)."""
    return next(working_periods(cal, start, end), None) is not None


def normalise_pauses(pauses: Iterable[Sequence[datetime | None]]) -> list[Interval]:
    """Sorted, merged pause intervals; an open pause (to=None) swallows everything after it."""
    items: list[Interval] = []
    for pause in pauses or []:
        if len(pause) != 2 or pause[0] is None:
            raise CalendarError("each pause is [from, to] with a start")
        a = _aware(pause[0])
        b = _aware(pause[1]) if pause[1] is not None else None
        if b is not None and b < a:
            raise CalendarError(f"pause {a.isoformat()} - {b.isoformat()} ends before it starts")
        items.append((a, b))
    items.sort(key=lambda p: p[0])
    merged: list[Interval] = []
    for a, b in items:
        if merged:
            pa, pb = merged[-1]
            if pb is None:
                break
            if a <= pb:
                merged[-1] = (pa, None if b is None else max(pb, b))
                continue
        merged.append((a, b))
    return merged


def _subtract(period: tuple[datetime, datetime], pauses: list[Interval]) -> Iterator[tuple[datetime, datetime]]:
    lo, hi = period
    for a, b in pauses:
        if b is not None and b <= lo:
            continue
        if a >= hi:
            break
        if a > lo:
            yield lo, a
        if b is None:
            return
        lo = max(lo, b)
        if lo >= hi:
            return
    if lo < hi:
        yield lo, hi


def elapsed_seconds(cal: Calendar, start: datetime, at: datetime,
                    pauses: Iterable[Sequence[datetime | None]] = ()) -> int:
    """Working, unpaused seconds between start and at (0 if at is before start)."""
    start, at = _aware(start), _aware(at)
    if at <= start:
        return 0
    merged = normalise_pauses(pauses)
    total = 0
    for period in working_periods(cal, start, at):
        for lo, hi in _subtract(period, merged):
            total += int((hi - lo).total_seconds())
    return total


def elapsed(cal: Calendar, start: datetime, at: datetime, pauses: Iterable[Sequence[datetime | None]] = ()) -> int:
    """Working, unpaused minutes between start and at, rounded down."""
    return elapsed_seconds(cal, start, at, pauses) // 60


def deadline(cal: Calendar, start: datetime, target_minutes: int,
             pauses: Iterable[Sequence[datetime | None]] = ()) -> datetime | None:
    """The instant at which target_minutes of working, unpaused time have passed since start (UTC).

    None when it cannot be known: an open pause intervenes, or the calendar has no working time ahead.
    """
    if target_minutes < 0:
        raise CalendarError("target_minutes must not be negative")
    start = _aware(start)
    remaining = timedelta(minutes=target_minutes)
    if not remaining:
        return start
    merged = normalise_pauses(pauses)
    for period in working_periods(cal, start):
        for lo, hi in _subtract(period, merged):
            if hi - lo >= remaining:
                return lo + remaining
            remaining -= hi - lo
        if merged and merged[-1][1] is None and period[1] > merged[-1][0]:
            return None  # paused until further notice
    return None


def parse_instant(text: Any) -> datetime:
    """An ISO 8601 instant with an offset (a trailing Z is accepted)."""
    if isinstance(text, datetime):
        return _aware(text)
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise CalendarError(f"invalid instant {text!r} (expected ISO 8601 with an offset)") from None
    return _aware(value)
