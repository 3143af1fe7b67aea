"""The column-wise recipient screening decides exactly as the plain per-recipient rules.

`reference_screen` is the straightforward one-recipient-at-a-time reading of SPEC's rules;
`rules.screen_recipients` must give the same admitted ids, exclusions with reasons and budgets
on any input, through a few states (screened one by one) or through columns (numpy).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from campaigns.fatigue import rules
from campaigns.fatigue.rules import (
    COOLDOWN_REASONS,
    FatiguePolicy,
    RecipientColumns,
    RecipientLimit,
    RecipientState,
    Rule,
    SenderHistory,
    SenderKind,
)

START = datetime(2024, 5, 6, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def reference_screen(policy, now, commercial, sender, recipients):
    """One recipient at a time, rule by rule, in order of severity."""
    kind = sender.kind
    cooldown_on = policy.applies(Rule.COOLDOWN, kind)
    backoff_on = commercial and policy.applies(Rule.BACKOFF, kind)
    daily_on = commercial and policy.applies(Rule.RECIPIENT_DAILY_CAP, kind)
    weekly_on = commercial and policy.applies(Rule.RECIPIENT_WEEKLY_CAP, kind)
    today = rules.day_start(now, policy.zone)
    window_start = now - policy.window
    admitted, exclusions, limits, seen = [], {}, [], set()
    for state in recipients:
        rid = state.recipient_id
        if rid in seen:
            continue
        seen.add(rid)
        reason = None
        if cooldown_on:
            for signal, code in COOLDOWN_REASONS.items():
                if signal not in policy.cooldown_days:
                    continue
                days = policy.cooldown_days[signal]
                when = state.negatives.get(signal)
                if when is not None and (days is None or now < when + timedelta(days=days)):
                    reason = code
                    break
        daily = weekly = None
        if reason is None and commercial:
            if not state.marketing_consent:
                reason = rules.NO_CONSENT
            elif (
                backoff_on
                and state.last_ignored_at is not None
                and state.ignored_in_row >= policy.backoff_after_ignored
                and now
                < state.last_ignored_at
                + timedelta(days=rules.backoff_days(state.ignored_in_row, policy))
            ):
                reason = rules.BACKOFF_REASON
        if reason is None and commercial:
            if daily_on:
                daily = rules.recipient_budget(policy.recipient_daily_cap, state.strength)
            if weekly_on:
                weekly = rules.recipient_budget(policy.recipient_weekly_cap, state.strength)
            if daily is not None and sum(1 for t in state.exposures if t >= today) >= daily:
                reason = "recipient_daily_cap"
            elif (
                weekly is not None and sum(1 for t in state.exposures if t > window_start) >= weekly
            ):
                reason = "recipient_weekly_cap"
        if reason is None:
            admitted.append(rid)
            if commercial:
                limits.append(RecipientLimit(rid, daily, weekly))
        else:
            exclusions[rid] = reason
    return tuple(admitted), exclusions, limits


moments = st.integers(min_value=0, max_value=12 * 24 * 60).map(
    lambda m: START + timedelta(minutes=m)
)


def edges(policy: FatiguePolicy, now: datetime) -> list[datetime]:
    """Times on and 1 µs either side of every edge the screening compares with: the day
    start, the window start, each cool-down end and each back-off end."""
    marks = [rules.day_start(now, policy.zone), now - policy.window, now]
    marks += [now - timedelta(days=d) for d in policy.cooldown_days.values() if d is not None]
    marks += [
        now - timedelta(days=rules.backoff_days(k, policy))
        for k in range(policy.backoff_after_ignored, policy.backoff_after_ignored + 6)
    ]
    return [m + timedelta(microseconds=e) for m in marks for e in (-1, 0, 1)]


def states(times):
    return st.builds(
        RecipientState,
        recipient_id=st.integers(min_value=0, max_value=30),
        strength=st.floats(min_value=0, max_value=1)
        | st.floats(allow_nan=True, allow_infinity=True, width=64),
        exposures=st.lists(times, max_size=8),
        negatives=st.dictionaries(st.sampled_from(sorted(COOLDOWN_REASONS)), times, max_size=3),
        ignored_in_row=st.integers(min_value=0, max_value=70),
        last_ignored_at=st.none() | times,
        marketing_consent=st.booleans(),
    )


policies = st.builds(
    FatiguePolicy,
    time_zone=st.sampled_from(["Asia/Shanghai", "America/New_York", "UTC"]),
    recipient_daily_cap=st.integers(min_value=0, max_value=4),
    recipient_weekly_cap=st.integers(min_value=0, max_value=8),
    window_days=st.integers(min_value=1, max_value=10),
    cooldown_days=st.dictionaries(
        st.sampled_from(sorted(COOLDOWN_REASONS)),
        st.none() | st.integers(min_value=0, max_value=100),
    ),
    backoff_after_ignored=st.integers(min_value=1, max_value=6),
    backoff_base_days=st.floats(min_value=0, max_value=5),
    backoff_max_days=st.floats(min_value=5, max_value=40),
    enabled_rules=st.just(rules.ALL_RULES)
    | st.frozensets(st.sampled_from(sorted(rules.ALL_RULES))),
    brand_account_rules=st.just(rules.ALL_RULES)
    | st.frozensets(st.sampled_from(sorted(rules.ALL_RULES))),
)


@given(
    policies,
    st.sampled_from(list(SenderKind)),
    moments,
    st.booleans(),
    st.data(),
)
@hsettings(max_examples=600, deadline=None)
def test_columns_screen_exactly_as_the_per_recipient_reference(policy, kind, now, commercial, data):
    # mostly edges, some times anywhere in the last 40 days
    anywhere = st.integers(min_value=0, max_value=40 * 24 * 3600 * 10**6).map(
        lambda us: now - timedelta(microseconds=us)
    )
    times = st.one_of(*[st.sampled_from(edges(policy, now))] * 3, anywhere)
    recipients = data.draw(st.lists(states(times), max_size=25))
    sender = SenderHistory("s", kind=kind)
    expected = reference_screen(policy, now, commercial, sender, recipients)
    assert rules.screen_recipients(policy, now, commercial, sender, recipients) == expected
    columns = RecipientColumns.from_states(recipients)
    assert rules.screen_recipients(policy, now, commercial, sender, columns) == expected


def test_columns_built_directly_decide_like_states():
    # given the same three friends as states and as hand-built columns
    now = datetime(2024, 5, 15, 4, 0, tzinfo=UTC)  # noon in Shanghai
    us = rules.to_us
    states = [
        RecipientState(10, strength=1.0, exposures=[now - timedelta(hours=1)]),
        RecipientState(11, strength=0.0, exposures=[now - timedelta(hours=1)]),
        RecipientState(12, negatives={"mute_author": now - timedelta(days=89)}),
    ]
    mute = np.array([rules.NO_TIME, rules.NO_TIME, us(now - timedelta(days=89))])
    columns = RecipientColumns(
        ids=[10, 11, 12],
        strength=np.array([1.0, 0.0, 0.0]),
        marketing_consent=np.array([True, True, True]),
        negatives={"mute_author": mute},
        ignored_in_row=np.zeros(3, dtype=np.int64),
        last_ignored_us=np.full(3, rules.NO_TIME, dtype=np.int64),
        exposure_owner=np.array([0, 1]),
        exposure_us=np.array([us(now - timedelta(hours=1))] * 2),
    )
    sender = SenderHistory("s", posts=[(now - timedelta(hours=2), False)])  # share 1/2
    # then the decisions are equal: the strong tie has a second daily slot, the weak not
    from_states = rules.decide(FatiguePolicy(), now, True, sender, states)
    from_columns = rules.decide(FatiguePolicy(), now, True, sender, columns)
    assert from_states == from_columns
    assert from_columns.admitted == (10,)
    assert from_columns.exclusions == {11: "recipient_daily_cap", 12: "muted"}
    assert from_columns.plan.recipients == (RecipientLimit(10, 2, 6),)
