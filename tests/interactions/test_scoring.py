"""Tie-strength math: hand-computed examples and properties (SPEC "Tie strength")."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from interactions import scoring
from interactions.scoring import Event, PairState, TieParams

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
POSITIVE_TYPES = sorted(scoring.DEFAULT_WEIGHTS)


def state_of(*events: Event) -> PairState:
    state = PairState()
    for event in events:
        state = scoring.apply(state, event.type, event.at, cancels_at=event.cancels_at)
    return state


def assert_close(a: float, b: float, scale: float = 1.0) -> None:
    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(scale, 1.0)), (a, b)


# --- hand-computed examples -------------------------------------------------------------


def test_weights_follow_the_spec():
    # given the default parameters
    params = TieParams()
    # then each type weighs as SPEC says, unlike takes back a like, negatives weigh nothing
    assert {t: params.weight(t) for t in POSITIVE_TYPES} == {
        "view": 0.0,
        "click": 0.2,
        "like": 1.0,
        "forward": 2.0,
        "comment": 3.0,
        "message": 3.0,
        "reply": 6.0,
        "purchase": 5.0,
    }
    assert params.weight("unlike") == -1.0
    assert all(params.weight(t) == 0 for t in scoring.NEGATIVE_SIGNALS)
    with pytest.raises(ValueError, match="unknown interaction type"):
        params.weight("poke")


def test_a_like_fourteen_days_ago_is_worth_half():
    # given a like at T0
    state = state_of(Event("like", T0))
    # then 14 days later it is worth 0.5, 28 days later 0.25, one day later 2^(-1/14)
    assert scoring.value_at(state, T0 + 14 * DAY) == pytest.approx(0.5)
    assert scoring.value_at(state, T0 + 28 * DAY) == pytest.approx(0.25)
    assert scoring.value_at(state, T0 + DAY) == pytest.approx(0.951695, abs=1e-6)


def test_incremental_rule_by_hand():
    # given a comment 14 days before a reply, and a like (late) dated 7 days before the reply
    state = state_of(
        Event("comment", T0),
        Event("reply", T0 + 14 * DAY),
        Event("like", T0 + 7 * DAY),  # arrives out of order
    )
    # then S = 3·0.5 + 6 + 1·2^(-0.5) as of the reply, split by type
    expected = 1.5 + 6 + 2**-0.5
    assert state.last_at == T0 + 14 * DAY
    assert state.score == pytest.approx(expected)
    assert state.components == pytest.approx({"comment": 1.5, "reply": 6.0, "like": 2**-0.5})
    # and the closed form agrees
    closed = scoring.from_events(
        [Event("comment", T0), Event("like", T0 + 7 * DAY), Event("reply", T0 + 14 * DAY)]
    )
    assert closed.score == pytest.approx(expected)
    assert closed.last_at == state.last_at


def test_unlike_takes_back_its_like_exactly():
    # given a comment, then a like 3 days later and its unlike 10 days after the like
    like_at = T0 + 3 * DAY
    state = state_of(
        Event("comment", T0),
        Event("like", like_at),
        Event("unlike", like_at + 10 * DAY, cancels_at=like_at),
    )
    # then only the comment remains, at any later time, and the like component is zero
    later = T0 + 40 * DAY
    assert scoring.value_at(state, later) == pytest.approx(3 * 2 ** (-40 / 14))
    assert scoring.components_at(state, later)["like"] == pytest.approx(0.0, abs=1e-12)


def test_unlike_without_the_like_time_is_refused():
    with pytest.raises(ValueError, match="cancels_at"):
        scoring.apply(PairState(), "unlike", T0)


def test_negative_signals_do_not_change_affinity():
    # given a like then a block, mute, report, hide and unfriend
    state = state_of(Event("like", T0))
    after = state
    for signal in sorted(scoring.NEGATIVE_SIGNALS):
        after = scoring.apply(after, signal, T0 + DAY)
    # then the state is unchanged (they are flags, handled by fatigue)
    assert after == state


def test_reciprocity_and_intensity_by_hand():
    # one-sided tie: factor 0.8; balanced: 1.0; 1 vs 3: 0.8 + 0.2/3
    assert scoring.reciprocity(4.0, 0.0) == pytest.approx(0.8)
    assert scoring.reciprocity(2.0, 2.0) == pytest.approx(1.0)
    assert scoring.intensity(1.0, 3.0) == pytest.approx(4 * (0.8 + 0.2 / 3))
    assert scoring.intensity(0.0, 0.0) == 0.0


def strength(i: float, days: float = 0.0, jac: float = 0.0, kappa: float = 2.0, **kw) -> float:
    params = TieParams(**kw) if kw else scoring.DEFAULT_PARAMS
    return scoring.strength(
        intensity_value=i, friend_days=days, jaccard_value=jac, kappa=kappa, params=params
    )


def test_strength_by_hand():
    # given no friendship and no mutual friends, strength = 1 − 1/√(1 + 3·I/κ)
    # then a tie with I = κ is worth ½, I = 5κ ¾, I = 0 nothing
    assert strength(2.0) == pytest.approx(0.5)
    assert strength(10.0) == pytest.approx(0.75)
    assert strength(0.0) == 0.0
    # given I = κ, 180 days of friendship, half of their friends in common:
    # E = I·(1 + 0.25·(1 − 1/e))·(1 + 4·0.5) = 2·1.15803·3, strength = 1 − 1/√(1 + 3·E/2)
    duration = 1 + 0.25 * (1 - math.exp(-1))
    assert duration == pytest.approx(1.158030, abs=1e-6)
    assert strength(2.0, 180, 0.5) == pytest.approx(1 - 1 / math.sqrt(1 + 9 * duration))
    assert strength(2.0, 180, 0.5) == pytest.approx(0.704114, abs=1e-6)
    # and without interactions neither duration nor mutual friends make a tie
    assert strength(0.0, 3650, 1.0) == 0.0


def test_strength_with_other_parameters_by_hand():
    # given p = 1 (c = 1): strength = E/(κ + E); no term weights: E = I
    assert strength(6.0, 400, 0.9, saturation_power=1.0, duration_weight=0, mutual_weight=0) == (
        pytest.approx(0.75)
    )
    # and mutual friends as evidence: Jaccard ⅓ with weight 3 doubles E
    assert strength(1.0, jac=1 / 3, saturation_power=1.0, mutual_weight=3.0) == (
        pytest.approx(2 / 4)
    )


def test_terms_attribute_the_strength_in_order():
    # given I = κ, 180 days, Jaccard ½ (the example above)
    i_term, d_term, m_term, total = scoring._terms(2.0, 180, 0.5, 2.0, scoring.DEFAULT_PARAMS)
    # then interactions alone give ½, the duration and mutual friends add what they add
    assert i_term == pytest.approx(0.5)
    duration = 1 + 0.25 * (1 - math.exp(-1))
    assert d_term == pytest.approx(1 - 1 / math.sqrt(1 + 3 * duration) - 0.5)
    assert i_term + d_term + m_term == pytest.approx(total)
    assert min(i_term, d_term, m_term) >= 0


def test_jaccard_excludes_the_pair_itself():
    # u's friends: v, a, b; v's friends: u, b, c  -> mutual {b} of {a, b, c}
    assert scoring.jaccard({"v", "a", "b"}, {"u", "b", "c"}, pair={"u", "v"}) == pytest.approx(
        1 / 3
    )
    assert scoring.jaccard_from_counts(mutual=1, degree_u=2, degree_v=2) == pytest.approx(1 / 3)
    assert scoring.jaccard([], []) == 0.0


def test_kappa_is_the_75th_percentile_like_postgres():
    # given intensities 1..5 (percentile_cont(0.75) = 4) and zeros that are not active ties
    assert scoring.kappa_from([5, 0, 3, 1, 4, 2, 0]) == pytest.approx(4.0)
    assert scoring.kappa_from([1.0, 2.0]) == pytest.approx(1.75)
    # with no active ties, the default; never below the floor
    assert scoring.kappa_from([]) == TieParams().kappa_default
    assert scoring.kappa_from([0.0, 0.0]) == TieParams().kappa_default
    assert scoring.kappa_from([1e-6]) == TieParams().kappa_min
    # rounding residues of likes taken back are no active ties, whatever their sign
    assert scoring.kappa_from([1.1e-16, 1.0, 2.0, -2.2e-16]) == pytest.approx(1.75)
    assert scoring.kappa_from([3.3e-16]) == TieParams().kappa_default


def test_prune_rule_at_its_edges():
    # given a like on T0: after 60 days it is worth 2^(-60/14) ≈ 0.051 < 0.06
    state = state_of(Event("like", T0))
    assert not scoring.should_prune(state, T0 + 60 * DAY - timedelta(seconds=1))
    assert scoring.should_prune(state, T0 + 60 * DAY)
    # a comment is still worth 3·0.051 = 0.15 at 60 days: kept until it falls below 0.06
    comment = state_of(Event("comment", T0))
    assert not scoring.should_prune(comment, T0 + 60 * DAY)
    assert scoring.should_prune(comment, T0 + 82 * DAY)  # 3·2^(-82/14) ≈ 0.052
    assert scoring.should_prune(PairState(), T0)


def test_explain_lists_every_term():
    # given a tie with both sides active
    explanation = scoring.explain(
        affinity_out=3.0,
        affinity_in=1.0,
        friend_days=90,
        jaccard_value=0.2,
        kappa=4.0,
        by_type={"comment": 3.0, "like": 1.0},
    )
    data = explanation.as_dict()
    # then the terms add up to the strength and each number is shown
    assert data["intensity_term"] + data["duration_term"] + data["mutual_term"] == pytest.approx(
        data["strength"], abs=1e-3
    )
    assert data["reciprocity"] == pytest.approx(0.8 + 0.2 / 3, abs=1e-4)
    assert data["by_type"] == {"comment": 3.0, "like": 1.0}
    assert explanation.strength == pytest.approx(
        scoring.strength(
            intensity_value=explanation.intensity, friend_days=90, jaccard_value=0.2, kappa=4.0
        )
    )


def test_parameters_come_from_settings_and_are_validated(settings):
    # given a shorter half-life in settings
    settings.SCRM_TIES = {**settings.SCRM_TIES, "HALF_LIFE_DAYS": 7.0}
    params = TieParams.from_settings()
    # then the decay follows it
    state = scoring.apply(PairState(), "like", T0, params=params)
    assert scoring.value_at(state, T0 + 7 * DAY, params) == pytest.approx(0.5)
    # and nonsense is refused with the field named
    with pytest.raises(ValueError, match="half_life_days"):
        TieParams(half_life_days=0)
    with pytest.raises(ValueError, match="mutual_weight"):
        TieParams(mutual_weight=-1.0)
    with pytest.raises(ValueError, match="saturation_power"):
        TieParams(saturation_power=1.5)
    with pytest.raises(ValueError, match="reciprocity_floor"):
        TieParams(reciprocity_floor=0.4)
    with pytest.raises(ValueError, match=r"weights\.like"):
        TieParams(weights={"like": -1.0})


def test_years_of_history_do_not_overflow():
    # given daily likes for 20 years
    events = [Event("like", T0 + i * DAY) for i in range(365 * 20)]
    state = state_of(*events)
    closed = scoring.from_events(events)
    # then both are finite and equal: the geometric sum 1/(1 - 2^(-1/14))
    limit = 1 / (1 - 2 ** (-1 / 14))
    assert state.score == pytest.approx(limit, rel=1e-9)
    assert closed.score == pytest.approx(limit, rel=1e-9)


# --- properties -------------------------------------------------------------------------

minutes = st.integers(min_value=0, max_value=60 * 24 * 400)
positive_event = st.builds(
    lambda kind, minute: Event(kind, T0 + timedelta(minutes=minute)),
    st.sampled_from([*POSITIVE_TYPES, *sorted(scoring.NEGATIVE_SIGNALS)]),
    minutes,
)


@st.composite
def event_streams(draw):
    """Events with likes, some taken back by an unlike (dated after the like), shuffled."""
    events = draw(st.lists(positive_event, min_size=1, max_size=40))
    likes = [e for e in events if e.type == "like"]
    for like in likes:
        if draw(st.booleans()):
            delay = draw(st.integers(min_value=0, max_value=60 * 24 * 30))
            events.append(Event("unlike", like.at + timedelta(minutes=delay), cancels_at=like.at))
    order = draw(st.permutations(range(len(events))))
    return [events[i] for i in order]


def magnitude(events: list[Event]) -> float:
    return sum(abs(TieParams().weight(e.type)) for e in events)


@given(event_streams())
@hsettings(max_examples=300, deadline=None)
def test_incremental_in_any_order_equals_the_closed_form(events):
    # when the events are applied one by one in the given (shuffled) order
    incremental = state_of(*events)
    closed = scoring.from_events(events)
    # then the state equals the recompute, component by component
    assert incremental.last_at == closed.last_at
    scale = magnitude(events)
    assert_close(incremental.score, closed.score, scale)
    for name in set(incremental.components) | set(closed.components):
        assert_close(incremental.components.get(name, 0.0), closed.components.get(name, 0.0), scale)
    # and the score is the sum of its components
    assert_close(incremental.score, math.fsum(incremental.components.values()), scale)


@given(event_streams(), st.randoms(use_true_random=False))
@hsettings(max_examples=100, deadline=None)
def test_incremental_is_order_independent(events, rnd: random.Random):
    other = list(events)
    rnd.shuffle(other)
    a, b = state_of(*events), state_of(*other)
    assert a.last_at == b.last_at
    assert_close(a.score, b.score, magnitude(events))


@given(
    st.lists(st.tuples(st.sampled_from(POSITIVE_TYPES), minutes), min_size=1, max_size=20),
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=1, max_value=10**7),
)
def test_decay_is_monotone(events, later_s, extra_s):
    # given only positive-weight events
    state = state_of(*(Event(kind, T0 + timedelta(minutes=m)) for kind, m in events))
    t1 = state.last_at + timedelta(seconds=later_s)
    t2 = t1 + timedelta(seconds=extra_s)
    # then the value never grows with time and stays ≥ 0
    assert 0 <= scoring.value_at(state, t2) <= scoring.value_at(state, t1)


@given(
    st.floats(min_value=0, max_value=1e6),
    st.floats(min_value=0, max_value=1e6),
)
def test_reciprocity_factor_is_between_floor_and_one(a, b):
    factor = scoring.reciprocity(a, b)
    assert 0.8 <= factor <= 1.0
    assert scoring.intensity(a, b) <= a + b + 1e-9


unit = st.floats(min_value=0, max_value=1)
nonneg = st.floats(min_value=0, max_value=1e5)


@given(nonneg, nonneg, nonneg, nonneg, unit, unit, st.floats(min_value=1e-3, max_value=1e3))
def test_strength_is_bounded_and_monotone(i1, i2, d1, d2, j1, j2, kappa):
    lo_i, hi_i = sorted((i1, i2))
    lo_d, hi_d = sorted((d1, d2))
    lo_j, hi_j = sorted((j1, j2))

    def s(i, d, j):
        return scoring.strength(intensity_value=i, friend_days=d, jaccard_value=j, kappa=kappa)

    low, high = s(lo_i, lo_d, lo_j), s(hi_i, hi_d, hi_j)
    assert 0.0 <= low <= 1.0 and 0.0 <= high <= 1.0
    assert s(lo_i, lo_d, lo_j) <= s(hi_i, lo_d, lo_j)
    assert s(lo_i, lo_d, lo_j) <= s(lo_i, hi_d, lo_j)
    assert s(lo_i, lo_d, lo_j) <= s(lo_i, lo_d, hi_j)
    assert low <= high


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=50))
def test_kappa_is_always_positive(values):
    assert scoring.kappa_from(values) >= TieParams().kappa_min
