"""Business calendar arithmetic: working hours, holidays, adjusted working days, pauses."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.services.calendar import (
    CN_2026_HOLIDAYS,
    CN_2026_WORKING_DAYS,
    CalendarError,
    deadline,
    default_calendar,
    elapsed,
    make_calendar,
    normalise_pauses,
    parse_instant,
)

SH = ZoneInfo("Asia/Shanghai")
CAL = default_calendar()


def at(text: str) -> datetime:
    """A Shanghai local time, e.g. '2026-11-25 09:00'."""
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_default_data_is_the_2026_notice():
    holidays = {date.fromisoformat(d) for d in CN_2026_HOLIDAYS}
    assert len(holidays) == 1 + 9 + 3 + 5 + 3 + 3 + 7
    assert {date.fromisoformat(d).weekday() for d in CN_2026_WORKING_DAYS} <= {5, 6}  # all weekends
    assert date(2026, 2, 15) in CAL.holidays and date(2026, 2, 23) in CAL.holidays
    assert date(2026, 10, 10) in CAL.working_days


def test_within_one_morning():
    assert elapsed(CAL, at("2026-11-25 09:00"), at("2026-11-25 10:30")) == 90
    assert deadline(CAL, at("2026-11-25 09:00"), 90) == at("2026-11-25 10:30")


def test_lunch_break_is_skipped():
    assert deadline(CAL, at("2026-11-25 11:00"), 120) == at("2026-11-25 14:30")
    assert elapsed(CAL, at("2026-11-25 11:00"), at("2026-11-25 14:30")) == 120
    assert elapsed(CAL, at("2026-11-25 12:10"), at("2026-11-25 13:20")) == 0


def test_start_outside_hours_starts_at_next_period():
    assert deadline(CAL, at("2026-11-25 07:00"), 30) == at("2026-11-25 09:30")
    assert deadline(CAL, at("2026-11-25 18:00"), 30) == at("2026-11-26 09:30")
    assert deadline(CAL, at("2026-11-25 12:30"), 30) == at("2026-11-25 14:00")


def test_exact_end_of_day_and_full_day():
    # A working day has 7 hours = 420 minutes.
    assert elapsed(CAL, at("2026-11-25 00:00"), at("2026-11-26 00:00")) == 420
    assert deadline(CAL, at("2026-11-25 09:00"), 420) == at("2026-11-25 17:30")
    assert deadline(CAL, at("2026-11-25 09:00"), 421) == at("2026-11-26 09:01")


def test_weekend_is_skipped():
    # 2026-11-27 is a Friday.
    assert deadline(CAL, at("2026-11-27 17:00"), 60) == at("2026-11-30 09:30")
    assert elapsed(CAL, at("2026-11-27 17:00"), at("2026-11-30 09:30")) == 60


def test_national_day_week_and_adjusted_working_days():
    # Friday 2026-09-18 16:30 + 2 working hours: the next working day is Sunday 9/20 (调休).
    assert deadline(CAL, at("2026-09-18 16:30"), 120) == at("2026-09-20 10:00")
    # Wednesday 9/30 17:00 + 60 minutes: 10/1-10/7 are holidays, Thursday 10/8 is the next working day.
    assert deadline(CAL, at("2026-09-30 17:00"), 60) == at("2026-10-08 09:30")
    # Saturday 10/10 works with Monday's hours.
    assert elapsed(CAL, at("2026-10-10 00:00"), at("2026-10-11 00:00")) == 420
    assert elapsed(CAL, at("2026-10-01 00:00"), at("2026-10-08 00:00")) == 0


def test_spring_festival():
    # Saturday 2/14 works; 2/15-2/23 are holidays; 2/24 (Tuesday) works again.
    assert deadline(CAL, at("2026-02-13 17:00"), 60) == at("2026-02-14 09:30")
    assert deadline(CAL, at("2026-02-14 17:00"), 60) == at("2026-02-24 09:30")
    assert deadline(CAL, at("2026-02-27 17:00"), 60) == at("2026-02-28 09:30")  # Saturday 2/28 works


def test_spring_festival_counts_exactly():
    days = [date(2026, 2, d) for d in range(13, 29)]
    working = [d for d in days if CAL.day_hours(d)]
    assert working == [date(2026, 2, 13), date(2026, 2, 14), date(2026, 2, 24), date(2026, 2, 25),
                       date(2026, 2, 26), date(2026, 2, 27), date(2026, 2, 28)]
    assert elapsed(CAL, at("2026-02-13 00:00"), at("2026-03-01 00:00")) == 420 * 7


def test_new_year_holiday_only_the_first():
    assert elapsed(CAL, at("2026-01-01 00:00"), at("2026-01-02 00:00")) == 0
    assert elapsed(CAL, at("2026-01-02 00:00"), at("2026-01-03 00:00")) == 420


def test_pauses_are_excluded():
    pauses = [(at("2026-11-25 10:00"), at("2026-11-25 11:00"))]
    assert elapsed(CAL, at("2026-11-25 09:00"), at("2026-11-25 12:00"), pauses) == 120
    assert deadline(CAL, at("2026-11-25 09:00"), 120, pauses) == at("2026-11-25 12:00")
    # A pause partly outside working hours only removes its working part.
    pauses = [(at("2026-11-25 11:30"), at("2026-11-25 14:00"))]
    assert elapsed(CAL, at("2026-11-25 09:00"), at("2026-11-25 15:00"), pauses) == 150 + 60
    assert deadline(CAL, at("2026-11-25 09:00"), 180, pauses) == at("2026-11-25 14:30")


def test_overlapping_pauses_count_once():
    pauses = [(at("2026-11-25 10:00"), at("2026-11-25 11:00")), (at("2026-11-25 10:30"), at("2026-11-25 11:30"))]
    assert elapsed(CAL, at("2026-11-25 09:00"), at("2026-11-25 12:00"), pauses) == 90
    merged = [(at("2026-11-25 10:00").astimezone(UTC), at("2026-11-25 11:30").astimezone(UTC))]
    assert normalise_pauses(pauses) == merged


def test_open_pause():
    pauses = [(at("2026-11-25 10:00"), None)]
    assert elapsed(CAL, at("2026-11-25 09:00"), at("2026-11-26 12:00"), pauses) == 60
    assert deadline(CAL, at("2026-11-25 09:00"), 30, pauses) == at("2026-11-25 09:30")
    assert deadline(CAL, at("2026-11-25 09:00"), 90, pauses) is None


def test_deadline_and_elapsed_agree():
    start = at("2026-09-29 15:47")
    pauses = [(at("2026-09-30 09:15"), at("2026-10-09 10:00"))]
    for minutes in (0, 1, 59, 60, 133, 420, 421, 1000, 5000):
        due = deadline(CAL, start, minutes, pauses)
        assert elapsed(CAL, start, due, pauses) == minutes
        assert elapsed(CAL, start, due - timedelta(seconds=1), pauses) == max(minutes - 1, 0)


def test_custom_calendar_and_timezone():
    cal = make_calendar({"timezone": "UTC", "hours": {"sat": [["10:00", "11:00"]]}, "holidays": [],
                         "working_days": []})
    # 2026-11-28 is a Saturday.
    start = datetime(2026, 11, 25, tzinfo=UTC)
    assert deadline(cal, start, 30) == datetime(2026, 11, 28, 10, 30, tzinfo=UTC)
    assert elapsed(cal, start, datetime(2026, 12, 31, tzinfo=UTC)) == 5 * 60
    round_the_clock = make_calendar({"timezone": "UTC", "hours": {d: [["00:00", "24:00"]] for d in
                                                                  ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})
    assert deadline(round_the_clock, start, 60 * 24 * 3) == start + timedelta(days=3)
    assert round_the_clock.holidays == frozenset()


def test_declared_working_day_has_monday_hours():
    cal = make_calendar({"timezone": "Asia/Shanghai", "hours": {"mon": [["08:00", "09:00"]],
                                                               "tue": [["10:00", "18:00"]]},
                         "working_days": ["2026-11-29"]})  # a Sunday
    assert elapsed(cal, at("2026-11-29 00:00"), at("2026-11-30 00:00")) == 60


def test_no_working_time_means_no_deadline():
    cal = make_calendar({"timezone": "UTC", "hours": {}})
    assert deadline(cal, datetime(2026, 1, 1, tzinfo=UTC), 1) is None


@pytest.mark.parametrize("spec", [
    {"timezone": "Mars/Olympus"},
    {"hours": {"funday": []}},
    {"hours": {"mon": [["12:00", "09:00"]]}},
    {"hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}},
    {"hours": {"mon": [["9h", "12:00"]]}},
    {"holidays": ["2026-13-01"]},
    "not a dict",
])
def test_invalid_calendars_are_refused(spec):
    with pytest.raises(CalendarError):
        make_calendar(spec)


def test_naive_instants_and_bad_pauses_are_refused():
    with pytest.raises(CalendarError):
        elapsed(CAL, datetime(2026, 1, 5, 9), datetime(2026, 1, 5, 10, tzinfo=UTC))
    with pytest.raises(CalendarError):
        elapsed(CAL, at("2026-11-25 09:00"), at("2026-11-25 12:00"),
                [(at("2026-11-25 11:00"), at("2026-11-25 10:00"))])
    with pytest.raises(CalendarError):
        deadline(CAL, at("2026-11-25 09:00"), -1)
    assert parse_instant("2026-11-25T01:00:00Z") == at("2026-11-25 09:00")
    with pytest.raises(CalendarError):
        parse_instant("yesterday")
    assert elapsed(CAL, at("2026-11-25 12:00"), at("2026-11-25 09:00")) == 0
