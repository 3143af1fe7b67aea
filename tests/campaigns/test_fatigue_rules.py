"""Fatigue rules: every rule at its edges, policy validation, and properties (SPEC "Fatigue")."""

from __future__ import annotations

import copy
import heapq
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from campaigns.fatigue import rules
from campaigns.fatigue.rules import (
    FatiguePolicy,
    Outcome,
    PolicyError,
    RecipientState,
    Rule,
    SenderHistory,
    SenderKind,
    decide,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
H = timedelta(hours=1)
DAY = timedelta(days=1)
POLICY = FatiguePolicy()  # SPEC defaults, brand zone Asia/Shanghai


def local(y, m, d, hh=12, mm=0, ss=0, zone=SHANGHAI) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=zone)


NOON = local(2024, 5, 15, 12)  # a Wednesday, outside quiet hours


def sender(*posts, kind=SenderKind.ADVOCATE, reached=0, negatives=0) -> SenderHistory:
    return SenderHistory(
        sender_id="s1",
        kind=kind,
        posts=list(posts),
        recipients_reached=reached,
        negative_actions=negatives,
    )


def balanced(*commercial_times):
    """Commercial posts, each with a non-commercial one a minute before (share stays 50%)."""
    out = []
    for at in commercial_times:
        out += [(at - timedelta(minutes=1), False), (at, True)]
    return out


def codes(decision) -> list[str]:
    return [str(reason.code) for reason in decision.reasons]


# --- policy ----------------------------------------------------------------------------


def test_defaults_come_from_settings_and_match_the_spec():
    policy = FatiguePolicy.from_settings()
    assert policy == POLICY
    assert (policy.sender_daily_cap, policy.sender_weekly_cap) == (2, 8)
    assert policy.sender_min_gap_hours == 3 and policy.sender_commercial_share_max == 0.5
    assert (policy.quiet_hours_start, policy.quiet_hours_end) == (time(22), time(8))
    assert (policy.recipient_daily_cap, policy.recipient_weekly_cap) == (1, 4)
    assert policy.cooldown_days == {
        "block": None,
        "report": None,
        "mute_author": 90,
        "unfriend": 90,
        "hide_post": 30,
    }
    assert (policy.health_halve_rate, policy.health_pause_rate) == (0.001, 0.003)
    assert policy.validate() == {}


def test_settings_override_the_defaults(settings):
    settings.SCRM_FATIGUE = {**settings.SCRM_FATIGUE, "SENDER_DAILY_CAP": 3}
    assert FatiguePolicy.from_settings().sender_daily_cap == 3
    assert FatiguePolicy.from_settings(time_zone="Europe/Paris").time_zone == "Europe/Paris"


def test_validation_names_every_bad_field():
    bad = replace(
        POLICY,
        time_zone="Mars/Olympus",
        sender_daily_cap=-1,
        recipient_weekly_cap=-3,
        window_days=0,
        sender_min_gap_hours=100,
        sender_commercial_share_max=0,
        quiet_hours_end=time(22),
        cooldown_days={"mute_author": -5, "poke": 3},
        backoff_max_days=1,
        health_pause_rate=0.0001,
        enabled_rules=frozenset({"sender_daily_cap", "teleport"}),
    )
    errors = bad.validate()
    assert set(errors) == {
        "time_zone",
        "sender_daily_cap",
        "recipient_weekly_cap",
        "window_days",
        "sender_min_gap_hours",
        "sender_commercial_share_max",
        "quiet_hours_end",
        "cooldown_days.mute_author",
        "cooldown_days.poke",
        "backoff_max_days",
        "health_pause_rate",
        "enabled_rules",
    }
    assert "teleport" in errors["enabled_rules"]


def test_weekly_caps_must_not_be_below_daily_caps():
    errors = replace(POLICY, sender_daily_cap=5, sender_weekly_cap=4).validate()
    assert errors == {"sender_weekly_cap": "must be ≥ sender_daily_cap"}


def test_policy_round_trips_through_a_dict_and_rejects_bad_input():
    # given a stored policy
    data = replace(POLICY, quiet_hours_start=time(23, 30), sender_daily_cap=1).as_dict()
    assert data["quiet_hours_start"] == "23:30"
    # then it parses back to the same policy
    assert FatiguePolicy.from_dict(data) == replace(
        POLICY, quiet_hours_start=time(23, 30), sender_daily_cap=1
    )
    # and bad input names each field (types, unknown fields, ranges)
    with pytest.raises(PolicyError) as caught:
        FatiguePolicy.from_dict({"window_days": "week", "colour": "red", "quiet_hours_end": "25"})
    assert set(caught.value.errors) == {"window_days", "colour", "quiet_hours_end"}
    with pytest.raises(PolicyError) as caught:
        FatiguePolicy.from_dict({"recipient_daily_cap": -1})
    assert set(caught.value.errors) == {"recipient_daily_cap"}
    with pytest.raises(PolicyError):
        FatiguePolicy.from_dict({"sender_daily_cap": 1.5})


# --- sender caps -----------------------------------------------------------------------


def test_sender_daily_cap_allows_the_cap_th_post_and_not_the_next():
    # given one commercial post this morning (and a non-commercial one beside each)
    history = sender(*balanced(local(2024, 5, 15, 8, 30)), (NOON - 2 * H, False))
    # then the second commercial post today is published
    second = decide(POLICY, NOON, True, history, [])
    assert second.decision == Outcome.PUBLISHED
    # given it was published, the third (4 hours later) is rejected with the numbers
    history = sender(*history.posts, (NOON, True), (NOON + H, False), (NOON + 2 * H, False))
    third = decide(POLICY, NOON + 4 * H, True, history, [])
    assert third.decision == Outcome.REJECTED
    assert codes(third) == ["sender_daily_cap"]
    assert third.reasons[0].message == (
        "sender cap 2/day reached: 2 commercial posts since 2024-05-15 00:00 Asia/Shanghai"
    )
    assert third.plan is None and third.admitted == ()


def test_the_day_is_the_calendar_day_in_the_brand_zone():
    # quiet hours off so the midnight edge can be tested
    policy = replace(POLICY, enabled_rules=rules.ALL_RULES - {Rule.QUIET_HOURS})
    last_second = local(2024, 5, 14, 23, 59, 59)
    history = sender(
        *balanced(local(2024, 5, 14, 17, 0), last_second - timedelta(hours=3)),
        (last_second - H, False),
        (last_second - 30 * timedelta(minutes=1), False),
    )
    # two commercial posts yesterday: at 23:59:59 local the cap is reached ...
    blocked = decide(policy, last_second + 3 * H - 3 * H, True, history, [])
    assert codes(blocked) == ["sender_daily_cap"]
    # ... at 00:00:00 local (16:00 UTC) a new day starts, whatever UTC's date
    midnight = local(2024, 5, 15, 0, 0)
    assert midnight.astimezone(UTC).hour == 16
    assert decide(policy, midnight, True, history, []).decision == Outcome.PUBLISHED
    # and a post at exactly 00:00 counts for the new day
    history2 = sender(*history.posts, (midnight, True), (midnight + H, False))
    policy_gap0 = replace(policy, sender_min_gap_hours=0, sender_daily_cap=1)
    later = decide(policy_gap0, midnight + 2 * H, True, history2, [])
    assert codes(later) == ["sender_daily_cap"]


def test_weekly_cap_rolls_and_a_post_exactly_7_days_old_is_out():
    policy = replace(POLICY, sender_daily_cap=8)
    first = NOON - 7 * DAY
    times = [first + i * 4 * H for i in range(8)]  # 8 commercial posts, 4 h apart
    history = sender(*balanced(*times), (NOON - 2 * H, False), (NOON - H, False))
    now = first + 7 * DAY  # the first is exactly 7 days old: out of the window
    assert decide(policy, now, True, history, []).decision == Outcome.PUBLISHED
    just_before = now - timedelta(microseconds=1)
    result = decide(policy, just_before, True, history, [])
    assert codes(result) == ["sender_weekly_cap"]
    assert "8 commercial posts" in result.reasons[0].message


def test_minimum_gap_defers_to_when_the_gap_is_satisfied():
    last = NOON - 2 * H - 59 * timedelta(minutes=1)
    history = sender(*balanced(last), (NOON - H, False))
    # 2 h 59 min after the last commercial post: deferred to exactly 3 h after it
    deferred = decide(POLICY, NOON, True, history, [])
    assert deferred.decision == Outcome.DEFERRED
    assert deferred.deferred_until == (last + 3 * H).astimezone(UTC)
    assert deferred.deferred_until.tzinfo == UTC
    assert codes(deferred) == ["sender_min_gap"]
    # exactly 3 h after: published
    assert decide(POLICY, last + 3 * H, True, history, []).decision == Outcome.PUBLISHED


def test_commercial_share_counts_the_new_post():
    one_each = sender((NOON - 5 * H, False), (NOON - 4 * H, True))
    result = decide(POLICY, NOON, True, one_each, [])
    assert codes(result) == ["sender_commercial_share"]
    assert "2/3 posts" in result.reasons[0].message
    two_plain = sender((NOON - 6 * H, False), (NOON - 5 * H, False), (NOON - 4 * H, True))
    assert decide(POLICY, NOON, True, two_plain, []).decision == Outcome.PUBLISHED
    # a first post ever cannot be commercial at 50 %
    assert codes(decide(POLICY, NOON, True, sender(), [])) == ["sender_commercial_share"]


# --- quiet hours -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (local(2024, 5, 15, 21, 59, 59), None),
        (local(2024, 5, 15, 22, 0), local(2024, 5, 16, 8, 0)),
        (local(2024, 5, 15, 23, 30), local(2024, 5, 16, 8, 0)),
        (local(2024, 5, 16, 0, 0), local(2024, 5, 16, 8, 0)),
        (local(2024, 5, 16, 7, 59, 59), local(2024, 5, 16, 8, 0)),
        (local(2024, 5, 16, 8, 0), None),
    ],
)
def test_quiet_hours_across_midnight(now, until):
    history = sender((now - 30 * H, False), (now - 29 * H, False))
    result = decide(POLICY, now, True, history, [])
    if until is None:
        assert result.decision == Outcome.PUBLISHED
    else:
        assert result.decision == Outcome.DEFERRED
        assert result.deferred_until == until.astimezone(UTC)
        assert codes(result) == ["quiet_hours"]
        assert result.reasons[0].message == "quiet hours 22:00–08:00 Asia/Shanghai"


def test_quiet_hours_follow_the_brand_zone_and_its_daylight_saving():
    instant = datetime(2024, 3, 10, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai, 22:00 in New York
    history = sender((instant - 30 * H, False), (instant - 29 * H, False))
    assert decide(POLICY, instant, True, history, []).decision == Outcome.PUBLISHED
    new_york = replace(POLICY, time_zone="America/New_York")
    result = decide(new_york, instant, True, history, [])
    # 22:00 EST on 9 March; clocks go forward that night, so 08:00 EDT is 12:00 UTC
    assert result.decision == Outcome.DEFERRED
    assert result.deferred_until == datetime(2024, 3, 10, 12, 0, tzinfo=UTC)


def test_quiet_hours_within_one_day():
    policy = replace(POLICY, quiet_hours_start=time(12, 0), quiet_hours_end=time(14, 0))
    history = sender((NOON - 30 * H, False), (NOON - 29 * H, False))
    result = decide(policy, NOON + H, True, history, [])
    assert result.deferred_until == (NOON + 2 * H).astimezone(UTC)
    assert decide(policy, NOON + 2 * H, True, history, []).decision == Outcome.PUBLISHED


def test_gap_and_quiet_hours_combine_and_caps_are_checked_at_the_deferred_time():
    # given two commercial posts today, the last at 20:30
    history = sender(
        *balanced(local(2024, 5, 15, 9, 0), local(2024, 5, 15, 20, 30)),
        (local(2024, 5, 15, 20, 40), False),
    )
    # at 21:00 the gap moves the post to 23:30, quiet hours to 08:00 the next day, when the
    # daily cap has reset: deferred, not rejected
    result = decide(POLICY, local(2024, 5, 15, 21, 0), True, history, [])
    assert result.decision == Outcome.DEFERRED
    assert result.deferred_until == local(2024, 5, 16, 8, 0).astimezone(UTC)
    assert set(codes(result)) == {"sender_min_gap", "quiet_hours"}


def test_non_commercial_posts_skip_commercial_rules():
    # given a sender over every cap, in quiet hours, in bad health
    times = [NOON - i * 3 * H for i in range(1, 9)]
    history = sender(*[(t, True) for t in times], reached=100, negatives=50)
    late = local(2024, 5, 15, 23, 0)
    # when a non-commercial post is published
    result = decide(POLICY, late, False, history, [RecipientState(1, marketing_consent=False)])
    # then nothing stops it, nobody without marketing consent is dropped
    assert result.decision == Outcome.PUBLISHED
    assert result.admitted == (1,)
    assert result.plan.commercial is False and result.plan.recipients == ()


# --- sender health ---------------------------------------------------------------------


def test_sender_health_halves_caps_above_the_first_rate():
    history = sender(*balanced(NOON - 4 * H), (NOON - 2 * H, False))
    # exactly 0.1 %: not above, caps intact
    assert (
        decide(
            POLICY, NOON, True, replace(history, recipients_reached=1000, negative_actions=1), []
        ).decision
        == Outcome.PUBLISHED
    )
    # 0.2 %: daily cap 2 → 1, already used today
    sick = replace(history, recipients_reached=1000, negative_actions=2)
    result = decide(POLICY, NOON, True, sick, [])
    assert result.decision == Outcome.REJECTED
    assert codes(result) == ["sender_health", "sender_daily_cap"]
    assert result.caps_halved
    assert "caps halved to 1/day, 4/7 days" in result.reasons[0].message
    assert "2 negative actions for 1000 recipients reached over 7 days (0.20%" in (
        result.reasons[0].message
    )


def test_sender_health_pauses_an_advocate_above_the_second_rate():
    history = sender(*balanced(NOON - 26 * H), reached=1000, negatives=4)
    result = decide(POLICY, NOON, True, history, [RecipientState(1)])
    assert result.decision == Outcome.REJECTED
    assert result.pause_advocate
    assert codes(result) == ["sender_health"]
    assert "advocate paused" in result.reasons[0].message
    # a brand account is not an advocate: its commercial posts are held, nothing paused
    account = replace(history, kind=SenderKind.BRAND_ACCOUNT)
    held = decide(POLICY, NOON, True, account, [])
    assert held.decision == Outcome.REJECTED and not held.pause_advocate
    # exactly 0.3 % is not above the pause rate
    edge = replace(history, negative_actions=3)
    assert not decide(POLICY, NOON, True, edge, []).pause_advocate


# --- rule switches ---------------------------------------------------------------------


def test_rules_can_be_switched_off_and_exempt_brand_accounts():
    history = sender(
        *balanced(NOON - 8 * H, NOON - 4 * H), (NOON - H, False), (NOON - H / 2, False)
    )
    assert codes(decide(POLICY, NOON, True, history, [])) == ["sender_daily_cap"]
    off = replace(POLICY, enabled_rules=rules.ALL_RULES - {Rule.SENDER_DAILY_CAP})
    assert decide(off, NOON, True, history, []).decision == Outcome.PUBLISHED
    # brand accounts: exempt from the daily cap only when staff say so
    account = replace(history, kind=SenderKind.BRAND_ACCOUNT)
    assert codes(decide(POLICY, NOON, True, account, [])) == ["sender_daily_cap"]
    exempt = replace(POLICY, brand_account_rules=rules.ALL_RULES - {Rule.SENDER_DAILY_CAP})
    assert decide(exempt, NOON, True, account, []).decision == Outcome.PUBLISHED
    assert codes(decide(exempt, NOON, True, history, [])) == ["sender_daily_cap"]


# --- recipients ------------------------------------------------------------------------

OK_SENDER = sender((NOON - 30 * H, False), (NOON - 29 * H, False))


def published(recipients, *, now=NOON, commercial=True, policy=POLICY):
    history = sender((now - 30 * H, False), (now - 29 * H, False))
    result = decide(policy, now, commercial, history, recipients)
    assert result.decision == Outcome.PUBLISHED, result.reasons
    return result


@pytest.mark.parametrize(
    ("strength", "daily", "weekly"),
    [
        (0.0, 1, 2),
        (0.1249, 1, 2),
        (0.125, 1, 3),
        (0.375, 1, 4),
        (0.5, 1, 4),
        (0.625, 1, 5),
        (0.875, 1, 6),
        (1.0, 2, 6),
        (7.0, 2, 6),  # clamped
        (-1.0, 1, 2),
    ],
)
def test_recipient_budgets_scale_with_tie_strength(strength, daily, weekly):
    assert rules.recipient_budget(1, strength) == daily
    assert rules.recipient_budget(4, strength) == weekly
    plan = published([RecipientState(7, strength=strength)]).plan
    assert plan.recipients == (rules.RecipientLimit(7, daily, weekly),)


def test_recipient_daily_budget_counts_every_sender_of_the_brand():
    # given an exposure this morning (from any sender of the brand) and one yesterday evening
    this_morning = local(2024, 5, 15, 9, 0)
    yesterday = local(2024, 5, 14, 21, 0)
    result = published(
        [
            RecipientState("weak", strength=0.2, exposures=[this_morning]),
            RecipientState("strong", strength=1.0, exposures=[this_morning]),
            RecipientState("rested", strength=0.0, exposures=[yesterday]),
        ]
    )
    # then the weak tie is over its 1/day budget, the perfect tie (budget 2) and the one
    # exposed yesterday are not
    assert result.exclusions == {"weak": "recipient_daily_cap"}
    assert result.admitted == ("strong", "rested")
    assert result.suppressed == {"recipient_daily_cap": 1}


def test_recipient_weekly_budget_at_the_exact_edge():
    # given 2 exposures for a weak tie (weekly budget 2), the oldest exactly 7 days ago
    oldest = NOON - 7 * DAY
    exposures = [oldest, NOON - 3 * DAY]
    assert published([RecipientState(1, exposures=exposures)]).admitted == (1,)
    # one microsecond younger and it still counts
    younger = [oldest + timedelta(microseconds=1), NOON - 3 * DAY]
    result = published([RecipientState(1, exposures=younger)])
    assert result.exclusions == {1: "recipient_weekly_cap"}


def test_recipient_without_marketing_consent_gets_no_commercial_post():
    result = published([RecipientState(1, marketing_consent=False), RecipientState(2)])
    assert result.exclusions == {1: "consent"}
    assert result.admitted == (2,)


@pytest.mark.parametrize(
    ("signal", "days", "code"),
    [
        ("mute_author", 90, "muted"),
        ("unfriend", 90, "unfriended"),
        ("hide_post", 30, "hidden_post"),
    ],
)
@pytest.mark.parametrize("commercial", [True, False])
def test_cooldowns_expire_exactly(signal, days, code, commercial):
    at = NOON - days * DAY
    state = RecipientState(1, negatives={signal: at})
    # at exactly N days the cool-down is over
    assert published([state], commercial=commercial).admitted == (1,)
    # one second earlier it is not
    earlier = published([state], now=NOON - timedelta(seconds=1), commercial=commercial)
    assert earlier.exclusions == {1: code}


@pytest.mark.parametrize(("signal", "code"), [("block", "blocked"), ("report", "reported")])
@pytest.mark.parametrize("commercial", [True, False])
def test_block_and_report_suppress_for_good(signal, code, commercial):
    state = RecipientState(1, negatives={signal: NOON - 3650 * DAY})
    assert published([state], commercial=commercial).exclusions == {1: code}


def test_the_strongest_cooldown_is_the_reason_shown():
    state = RecipientState(1, negatives={"hide_post": NOON - DAY, "block": NOON - 2 * DAY})
    assert published([state]).exclusions == {1: "blocked"}


@pytest.mark.parametrize(
    ("ignored", "days"),
    [(2, 0), (3, 2), (4, 4), (5, 8), (6, 16), (7, 30), (50, 30), (10**6, 30)],
)
def test_backoff_doubles_after_ignored_exposures(ignored, days):
    assert rules.backoff_days(ignored, POLICY) == days
    last = NOON - 3 * DAY
    state = RecipientState(1, ignored_in_row=ignored, last_ignored_at=last)
    if days == 0:
        assert published([state]).admitted == (1,)
        return
    # excluded until the back-off ends, admitted from that very moment
    end = last + days * DAY
    assert published([state], now=min(end, NOON + 40 * DAY) - timedelta(seconds=1)).exclusions
    assert published([state], now=end).admitted == (1,)
    # the back-off does not hold back non-commercial posts
    assert published([state], now=end - H, commercial=False).admitted == (1,)


def test_duplicate_recipients_are_counted_once():
    result = published([RecipientState(1), RecipientState(1), RecipientState(2)])
    assert result.admitted == (1, 2)


def test_decision_answer_has_the_spec_shape():
    result = published(
        [RecipientState(1), RecipientState(2, marketing_consent=False), RecipientState(3)]
    )
    assert result.as_dict() == {
        "decision": "published",
        "reasons": [],
        "delivered": 2,
        "suppressed": {"consent": 1},
        "deferred_until": None,
    }
    late = decide(POLICY, local(2024, 5, 15, 23, 0), True, OK_SENDER, [])
    answer = late.as_dict()
    assert answer["decision"] == "deferred"
    assert answer["deferred_until"] == "2024-05-16T00:00:00+00:00"
    assert answer["reasons"][0]["code"] == "quiet_hours"


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(POLICY, datetime(2024, 5, 15, 12), True, OK_SENDER, [])


# --- properties ------------------------------------------------------------------------

START = local(2024, 5, 6, 0, 0)  # Monday


@st.composite
def schedules(draw):
    """Post attempts by 3 senders over 3 weeks, 6 shared recipients with random strengths."""
    attempts = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=21 * 24 * 60),  # minute of the schedule
                st.integers(min_value=0, max_value=2),  # sender
                st.booleans(),  # commercial
            ),
            min_size=1,
            max_size=120,
        )
    )
    strengths = draw(st.lists(st.floats(min_value=0, max_value=1), min_size=6, max_size=6))
    policy = draw(
        st.sampled_from(
            [
                POLICY,
                replace(POLICY, enabled_rules=rules.ALL_RULES - {Rule.QUIET_HOURS}),
                replace(POLICY, sender_daily_cap=3, sender_min_gap_hours=0.5, window_days=3),
            ]
        )
    )
    return attempts, strengths, policy


@given(schedules())
@hsettings(max_examples=150, deadline=None)
def test_sequential_decisions_never_exceed_a_cap(schedule):
    attempts, strengths, policy = schedule
    zone = policy.zone
    posts: dict[int, list] = defaultdict(list)
    exposures: dict[int, list] = defaultdict(list)
    queue = [(START + timedelta(minutes=m), s, c, 0) for m, s, c in attempts]
    heapq.heapify(queue)
    while queue:
        now, s, commercial, retries = heapq.heappop(queue)
        history = SenderHistory(sender_id=s, posts=list(posts[s]))
        recipients = [
            RecipientState(r, strength=strengths[r], exposures=list(exposures[r])) for r in range(6)
        ]
        decision = decide(policy, now, commercial, history, recipients)
        if decision.decision == Outcome.DEFERRED:
            assert decision.deferred_until > now
            if retries < 2:
                heapq.heappush(queue, (decision.deferred_until, s, commercial, retries + 1))
            continue
        if decision.decision == Outcome.PUBLISHED:
            posts[s].append((now, commercial))
            if commercial:
                for r in decision.admitted:
                    exposures[r].append(now)

    window = policy.window
    for sent in posts.values():
        commercial_times = sorted(t for t, c in sent if c)
        per_day = defaultdict(int)
        for t in commercial_times:
            per_day[t.astimezone(zone).date()] += 1
            assert not rules.in_quiet_hours(t, policy) or Rule.QUIET_HOURS not in (
                policy.enabled_rules
            )
            in_window = [(u, c) for u, c in sent if t - window < u <= t]
            assert sum(1 for _, c in in_window if c) <= policy.sender_weekly_cap
            share = sum(1 for _, c in in_window if c) / len(in_window)
            assert share <= policy.sender_commercial_share_max
        assert max(per_day.values(), default=0) <= policy.sender_daily_cap
        gaps = [b - a for a, b in zip(commercial_times, commercial_times[1:], strict=False)]
        assert all(g >= timedelta(hours=policy.sender_min_gap_hours) for g in gaps)
    for r, seen in exposures.items():
        daily = rules.recipient_budget(policy.recipient_daily_cap, strengths[r])
        weekly = rules.recipient_budget(policy.recipient_weekly_cap, strengths[r])
        per_day = defaultdict(int)
        for t in seen:
            per_day[t.astimezone(zone).date()] += 1
            assert sum(1 for u in seen if t - window < u <= t) <= weekly
        assert max(per_day.values(), default=0) <= daily


moments = st.integers(min_value=0, max_value=14 * 24 * 60).map(
    lambda m: START + timedelta(minutes=m)
)
recipient_states = st.builds(
    RecipientState,
    recipient_id=st.integers(min_value=0, max_value=20),
    strength=st.floats(min_value=0, max_value=1),
    exposures=st.lists(moments, max_size=5),
    negatives=st.dictionaries(st.sampled_from(sorted(rules.COOLDOWN_REASONS)), moments),
    ignored_in_row=st.integers(min_value=0, max_value=8),
    last_ignored_at=st.none() | moments,
    marketing_consent=st.booleans(),
)


@given(
    moments,
    st.booleans(),
    st.lists(st.tuples(moments, st.booleans()), max_size=12),
    st.integers(min_value=0, max_value=2000),
    st.integers(min_value=0, max_value=10),
    st.lists(recipient_states, max_size=12),
)
@hsettings(max_examples=150, deadline=None)
def test_preview_is_pure(now, commercial, posts, reached, negatives, recipients):
    history = SenderHistory(
        "s", posts=posts, recipients_reached=reached, negative_actions=negatives
    )
    before = copy.deepcopy((history, recipients))
    first = decide(POLICY, now, commercial, history, recipients)
    second = decide(POLICY, now, commercial, history, recipients)
    # the same answer twice, inputs untouched, every recipient accounted for once
    assert first == second
    assert (history, recipients) == before
    if first.decision == Outcome.PUBLISHED:
        ids = {r.recipient_id for r in recipients}
        assert set(first.admitted) | set(first.exclusions) == ids
        assert not set(first.admitted) & set(first.exclusions)
