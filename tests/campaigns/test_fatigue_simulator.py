"""Fatigue simulator: determinism, the off arm admits everything, the on arm never exceeds a cap,
the response model's monotonicity, the vectorised tie scores, and the command end to end."""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from campaigns.fatigue import rules, simulator
from campaigns.fatigue.rules import FatiguePolicy
from campaigns.fatigue.simnet import network_from_brand, network_generated
from customers.models import Advocate, AdvocateStatus, Customer, Friendship
from interactions import scoring
from scrm.tenancy.models import Brand

PARAMS = simulator.ModelParams()


@pytest.fixture(scope="module")
def small_network() -> simulator.Network:
    return network_generated(1500, seed=3)


def test_same_seed_same_run_and_another_seed_another_run(small_network):
    # given a network and the default policy
    policy = FatiguePolicy.from_settings()

    # when both arms run twice with seed 5 and once with seed 6
    first = simulator.compare(small_network, policy, weeks=3, seed=5)
    again = simulator.compare(small_network, policy, weeks=3, seed=5)
    other = simulator.compare(small_network, policy, weeks=3, seed=6)

    # then the same seed gives identical totals, curves and decisions
    for a, b in ((first.on, again.on), (first.off, again.off)):
        assert a.totals == b.totals
        assert a.outcomes == b.outcomes
        assert a.suppressed == b.suppressed
        for name in simulator.WEEKLY:
            assert np.array_equal(a.weekly[name], b.weekly[name])
    # and another seed gives another run
    assert first.off.totals != other.off.totals


def test_policy_off_publishes_every_post_to_every_consenting_friend(small_network):
    # given the rules all switched off
    policy = FatiguePolicy.from_settings()
    plan = simulator.schedule(small_network, PARAMS, 3, 1)

    # when the off arm runs
    off = simulator.simulate(small_network, simulator.policy_off(policy), weeks=3, seed=1)

    # then every intended post is published on time (nothing deferred, rejected or paused)
    assert dict(off.outcomes) == {"published": plan.at.size}
    # and no friend is excluded except those without marketing consent (the law, not a rule)
    assert set(off.suppressed) <= {rules.NO_CONSENT}
    assert off.totals["commercial_deliveries"] > 0


def test_policy_on_never_exceeds_a_cap_in_the_simulated_deliveries(small_network):
    # given the default policy (SPEC's numbers, all rules on for every sender)
    policy = FatiguePolicy.from_settings()
    zone = policy.zone
    start = simulator.default_start(policy)

    # when four weeks are simulated with every post and delivery recorded
    on = simulator.simulate(small_network, policy, weeks=4, seed=2, record=True)

    # then the rules actually bit (so the checks below mean something)
    assert on.outcomes["rejected"] > 0 and on.outcomes["deferred"] > 0
    assert on.suppressed[rules.Rule.RECIPIENT_DAILY_CAP.value] > 0
    assert on.suppressed[rules.Rule.RECIPIENT_WEEKLY_CAP.value] > 0

    def local(t: float):
        return (start + timedelta(seconds=t)).astimezone(zone)

    week = policy.window_days * 86_400.0
    gap = policy.sender_min_gap_hours * 3600.0
    by_sender = defaultdict(list)
    for t, sender, commercial, halved in on.published:
        by_sender[sender].append((t, commercial, halved))
    for posts in by_sender.values():
        commercial = [(t, halved) for t, c, halved in posts if c]
        for i, (t, halved) in enumerate(commercial):
            daily = rules.halved(policy.sender_daily_cap) if halved else policy.sender_daily_cap
            weekly = rules.halved(policy.sender_weekly_cap) if halved else policy.sender_weekly_cap
            # sender caps: per local day and per rolling window, this post included
            same_day = [u for u, _ in commercial[: i + 1] if local(u).date() == local(t).date()]
            assert len(same_day) <= daily
            assert sum(1 for u, _ in commercial[: i + 1] if u > t - week) <= weekly
            # minimum gap and quiet hours
            if i:
                assert t - commercial[i - 1][0] >= gap - 1e-6
            assert not rules.in_quiet_hours(start + timedelta(seconds=t), policy)
            # commercial share over the window, this post included
            window = [c for u, c, _ in posts if t - week < u <= t]
            assert sum(window) / len(window) <= policy.sender_commercial_share_max + 1e-9

    by_recipient = defaultdict(list)
    for t, _sender, recipient, commercial, strength in on.deliveries:
        assert commercial
        by_recipient[recipient].append((t, strength))
    assert by_recipient
    for deliveries in by_recipient.values():
        for i, (t, strength) in enumerate(deliveries):
            so_far = [u for u, _ in deliveries[: i + 1]]
            today = sum(1 for u in so_far if local(u).date() == local(t).date())
            in_window = sum(1 for u in so_far if u > t - week)
            assert today <= rules.recipient_budget(policy.recipient_daily_cap, strength)
            assert in_window <= rules.recipient_budget(policy.recipient_weekly_cap, strength)


@hsettings(max_examples=200, deadline=None)
@given(
    x=st.integers(1, 60),
    b=st.integers(1, 30),
    w=st.floats(0, 1),
    dx=st.integers(1, 10),
    dw=st.floats(0.01, 1),
)
def test_negative_probability_rises_with_exposures_and_falls_with_strength(x, b, w, dx, dw):
    p = simulator.negative_probability
    base = float(p(PARAMS, x, b, w))
    assert 0 < base < 1
    assert float(p(PARAMS, x + dx, b, w)) > base  # more exposures this week
    assert float(p(PARAMS, x, b + dx, w)) > base  # a burst from this sender
    if w + dw <= 1:
        assert float(p(PARAMS, x, b, w + dw)) < base  # a stronger tie


def test_engagement_falls_with_exposures_and_rises_with_strength():
    e = simulator.engagement_probability
    assert float(e(PARAMS, 10, 0.3)) < float(e(PARAMS, 1, 0.3))
    assert float(e(PARAMS, 3, 0.9)) > float(e(PARAMS, 3, 0.1))


def test_daily_tie_scores_equal_the_scoring_module(small_network):
    # given an arm's state with some engagement applied through scoring.apply
    policy = FatiguePolicy.from_settings()
    start = simulator.default_start(policy)
    sim = simulator._Sim(
        small_network, policy, PARAMS, 2, 0, start, scoring.DEFAULT_PARAMS, False, "t"
    )
    when = start + timedelta(days=3)
    for tie in range(0, sim.tie_low.size, 7):
        sim._event(tie, 0, "comment", when, 3 * 86_400.0)
        sim._event(tie, 1, "like", when + timedelta(hours=1), 3 * 86_400.0 + 3600)

    # when the ties are re-scored five days in
    t = 5 * 86_400.0
    sim._rescore(t)

    # then every strength is scoring.strength of the same inputs
    at = start + timedelta(seconds=t)
    intensities = [
        scoring.intensity(scoring.value_at(a, at), scoring.value_at(b, at)) for a, b in sim.pairs
    ]
    kappa = scoring.kappa_from(intensities)
    for tie in range(0, sim.tie_low.size, 3):
        expected = scoring.strength(
            intensity_value=intensities[tie],
            friend_days=sim.tie_days0[tie] + 5,
            jaccard_value=sim.tie_jaccard[tie],
            kappa=kappa,
        )
        assert sim.strength[tie] == pytest.approx(expected, abs=1e-9)


def test_jaccard_of_the_simulated_ties_matches_scoring_jaccard(small_network):
    sim = simulator._Sim(
        small_network,
        FatiguePolicy(),
        PARAMS,
        1,
        0,
        simulator.default_start(FatiguePolicy()),
        scoring.DEFAULT_PARAMS,
        False,
        "t",
    )
    friends = defaultdict(set)
    for a, b in zip(small_network.low.tolist(), small_network.high.tolist(), strict=True):
        friends[a].add(b)
        friends[b].add(a)
    for tie in range(0, sim.tie_low.size, 11):
        u, v = int(sim.tie_low[tie]), int(sim.tie_high[tie])
        assert sim.tie_jaccard[tie] == pytest.approx(
            scoring.jaccard(friends[u], friends[v], pair=(u, v))
        )


# --- the command --------------------------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("simulate_fatigue", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_command_runs_a_seeded_brand_from_the_database_and_writes_a_png(tmp_path):
    # given a small demo brand in the database
    call_command(
        "seed_demo", "--no-progress", "--customers", "400", "--brand", "sim", "--seed", "2"
    )
    brand = Brand.objects.get(slug="sim")

    # when the simulator runs on it for two weeks
    chart = tmp_path / "chart.png"
    output = run("--brand", "sim", "--weeks", "2", "--out", str(chart))

    # then it reports both arms and writes a PNG
    assert "brand 'sim'" in output
    for label in ("policy off", "policy on", "mutes + blocks", "conversions", "averted"):
        assert label in output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # and the network it read is the brand's current graph
    network = network_from_brand(brand)
    assert network.n == Customer.objects.filter(brand=brand).count()
    assert network.low.size == Friendship.objects.filter(brand=brand, ended_at=None).count()
    assert network.advocates.size == (
        Advocate.objects.filter(brand=brand, status=AdvocateStatus.ACTIVE).count()
    )
    assert (
        network.brand_account.sum()
        == Customer.objects.filter(brand=brand, kind="brand_account").count()
    )


def test_command_runs_in_memory_with_policy_overrides(tmp_path):
    # given no brand: a network generated in memory, and a stricter recipient budget
    output = run(
        "--customers", "300", "--weeks", "1", "--policy", "recipient_weekly_cap=2", "--no-chart"
    )

    # then it runs and says which policy it used
    assert "300 generated customers" in output
    assert '"recipient_weekly_cap": 2' in output


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--brand", "nope"), "No brand 'nope'"),
        (("--customers", "300", "--policy", "recipient_weekly_cap=-1"), "recipient_weekly_cap"),
        (("--customers", "300", "--policy", "no_such_rule=1"), "no_such_rule"),
        (("--customers", "300", "--policy", "novalue"), "key=value"),
        (("--customers", "300", "--weeks", "0"), "--weeks"),
    ],
)
def test_command_rejects_bad_input_with_a_clear_message(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
