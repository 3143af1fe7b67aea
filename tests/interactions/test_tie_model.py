"""The tie model of issue 13: monotone, distinguishable at the top, per-brand parameters that
stay with their brand, and the fit command on a brand whose true weights are known."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from hypothesis import assume, given
from hypothesis import strategies as st

from customers.models import Friendship
from interactions import scoring
from interactions.models import Interaction, Tie, TieModel
from interactions.recompute import ties_recompute, ties_recompute_all
from interactions.scoring import Event, TieParams
from interactions.selectors import tie_params_by_brand, tie_params_for_brand
from interactions.services import tie_model_reset, tie_model_save
from tests.factories import BrandFactory, CustomerFactory
from tests.interactions.test_scoring_db import FITTED, World

T0 = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
POSITIVE = ["click", "like", "comment", "forward", "message", "reply", "purchase", "view"]


# --- monotonicity (pure) ---------------------------------------------------------------------


def strength_of(out: list[Event], back: list[Event], days: float, jac: float, kappa: float):
    a_out = scoring.value_at(scoring.from_events(out), T0 + 60 * DAY)
    a_in = scoring.value_at(scoring.from_events(back), T0 + 60 * DAY)
    return scoring.strength(
        intensity_value=scoring.intensity(a_out, a_in),
        friend_days=days,
        jaccard_value=jac,
        kappa=kappa,
    )


events = st.lists(
    st.tuples(st.sampled_from(POSITIVE), st.integers(0, 60 * 24)), min_size=0, max_size=12
)


def as_events(items) -> list[Event]:
    return [Event(kind, T0 + timedelta(hours=hours)) for kind, hours in items]


@given(
    out=events,
    back=events,
    extra=st.tuples(st.sampled_from(POSITIVE), st.integers(0, 60 * 24)),
    to_out=st.booleans(),
    days=st.floats(0, 2000),
    jac=st.floats(0, 1),
    kappa=st.floats(0.1, 100),
)
def test_one_more_interaction_never_lowers_strength(out, back, extra, to_out, days, jac, kappa):
    # given a pair's two streams; when either side adds one more (non-negative) interaction
    before = strength_of(as_events(out), as_events(back), days, jac, kappa)
    if to_out:
        after = strength_of(as_events([*out, extra]), as_events(back), days, jac, kappa)
    else:
        after = strength_of(as_events(out), as_events([*back, extra]), days, jac, kappa)
    # then the strength does not go down (reciprocity may fall, intensity still rises)
    assert after >= before - 1e-12


@given(
    out=events.filter(bool),
    back=events,
    which=st.integers(0, 11),
    later=st.integers(1, 60 * 24),
    days=st.floats(0, 2000),
    jac=st.floats(0, 1),
)
def test_a_more_recent_interaction_never_lowers_strength(out, back, which, later, days, jac):
    # given a pair's streams; when one interaction happened later (still before now)
    index = which % len(out)
    kind, hours = out[index]
    moved = list(out)
    moved[index] = (kind, min(hours + later, 60 * 24))
    before = strength_of(as_events(out), as_events(back), days, jac, 2.0)
    after = strength_of(as_events(moved), as_events(back), days, jac, 2.0)
    # then the strength does not go down
    assert after >= before - 1e-12


@given(i=st.floats(0, 1e4), days=st.floats(0, 3000), jac=st.floats(0, 1), more=st.floats(0, 1e3))
def test_longer_friendship_and_more_mutual_friends_never_lower_strength(i, days, jac, more):
    def s(i_, d_, j_):
        return scoring.strength(intensity_value=i_, friend_days=d_, jaccard_value=j_, kappa=3.0)

    assert s(i, days + more, jac) >= s(i, days, jac)
    assert s(i, days, min(jac + more / 1e3, 1.0)) >= s(i, days, jac)
    assert s(i + more, days, jac) >= s(i, days, jac)


# --- the strongest ties stay distinguishable ---------------------------------------------------


@given(x=st.floats(0.5, 500), ratio=st.floats(1.01, 100), kappa=st.floats(0.1, 1e3))
def test_evidence_one_percent_apart_never_rounds_to_the_same_strength(x, ratio, kappa):
    # given two ties whose evidence differs by at least 1%, between κ/2 and 500κ
    low = scoring.saturate(x * kappa, kappa)
    high = scoring.saturate(min(x * ratio, 500) * kappa, kappa)
    assume(min(x * ratio, 500) >= x * 1.01)
    # then their strengths differ at the API's 4 digits
    assert round(high, 4) > round(low, 4)


def test_top_decile_of_a_heavy_tailed_brand_has_no_tied_strengths():
    # given 5,000 ties with log-normal intensities (a long tail, like real message counts)
    rng = np.random.default_rng(7)
    intensities = np.exp(rng.normal(0.0, 1.6, 5000))
    kappa = scoring.kappa_from(intensities.tolist())
    top = np.sort(intensities)[-500:]
    # when scored with the model
    rounded = [
        round(scoring.strength(intensity_value=i, friend_days=0, jaccard_value=0, kappa=kappa), 4)
        for i in top
    ]
    # then no two of the top decile whose intensities differ by > 1% share a strength (for
    # each tie, the first one > 1% above it is already above it at 4 digits)
    for n, value in enumerate(top):
        above = next((k for k in range(n + 1, len(top)) if top[k] > 1.01 * value), None)
        if above is not None:
            assert rounded[above] > rounded[n], (value, top[above], rounded[n])
    # while the first model's 0.75·(1 − e^(−I/κ)) put a good part of them on one value
    first = [round(0.75 * (1 - math.exp(-i / kappa)), 4) for i in top]
    assert first.count(0.75) >= 50


# --- per-brand parameters --------------------------------------------------------------------


@pytest.mark.django_db
def test_parameters_of_one_brand_do_not_reach_another():
    # given two brands, B with fitted parameters
    a, b = BrandFactory(), BrandFactory()
    tie_model_save(brand_id=b.pk, **FITTED, recompute=False)
    # then A is scored with the settings and B with its own weights merged over them
    params = tie_params_by_brand(brand_ids=[a.pk, b.pk])
    assert params[a.pk] == TieParams.from_settings()
    assert params[b.pk].weights["message"] == 4.0 and params[b.pk].mutual_weight == 0.5
    assert params[b.pk].half_life_days == params[a.pk].half_life_days
    # and a reset brings B back to the settings
    assert tie_model_reset(brand_id=b.pk, recompute=False)
    assert tie_params_for_brand(brand_id=b.pk) == TieParams.from_settings()


@pytest.mark.django_db
def test_invalid_fitted_parameters_are_refused():
    brand = BrandFactory()
    with pytest.raises(ValueError, match="weights.like"):
        tie_model_save(brand_id=brand.pk, **{**FITTED, "weights": {"like": -1.0}})
    assert not TieModel.objects.exists()


@pytest.mark.django_db
def test_saving_parameters_queues_the_brands_recompute(
    monkeypatch, django_capture_on_commit_callbacks
):
    # given a brand; when fitted parameters are stored
    queued = []
    monkeypatch.setattr(
        "interactions.tasks.recompute_ties.delay", lambda **kwargs: queued.append(kwargs)
    )
    brand = BrandFactory()
    with django_capture_on_commit_callbacks(execute=True):
        tie_model_save(brand_id=brand.pk, **FITTED)
    # then a full recompute of that brand is queued after the commit, and again on reset
    assert queued == [{"brand_id": brand.pk}]
    with django_capture_on_commit_callbacks(execute=True):
        tie_model_reset(brand_id=brand.pk)
    assert queued == [{"brand_id": brand.pk}, {"brand_id": brand.pk}]


def _stream(world: World, rng: random.Random, ref: datetime) -> None:
    bodies = []
    for _ in range(30):
        actor = rng.randrange(4)
        target = (actor + rng.randrange(1, 4)) % 4
        kind = rng.choice(["message", "comment", "like", "view", "purchase", "reply", "click"])
        bodies.append(
            world.event(
                actor, target, kind, ref - timedelta(minutes=rng.randrange(1, 30 * 24 * 60))
            )
        )
    world.ingest(bodies)


def _scores(world: World) -> dict:
    return {
        key: (t.affinity, t.strength, t.intensity, t.last_event_at)
        for key, t in world.ties().items()
    }


def _same_state(left: dict, right: dict) -> None:
    """Same rows, affinities, intensities and last times."""
    assert set(left) == set(right)
    for key, (aff, _strength, intensity, last) in left.items():
        other = right[key]
        assert math.isclose(aff, other[0], abs_tol=1e-9)
        assert math.isclose(intensity, other[2], abs_tol=1e-9)
        assert last == other[3]


@pytest.mark.django_db(transaction=True)
def test_worker_and_both_recomputes_score_each_brand_with_its_own_parameters():
    # given two brands with the same stream of events, B with fitted parameters
    ref = timezone.now().replace(microsecond=0)
    worlds = [World(4), World(4)]
    tie_model_save(brand_id=worlds[1].brand.pk, **FITTED, recompute=False)
    for world in worlds:
        _stream(world, random.Random(3), ref)

    # when one worker batch scores both brands' events together
    from interactions.scoring_db import ties_score_batch

    ties_score_batch(interaction_ids=worlds[0].ids() + worlds[1].ids(), as_of=ref)
    incremental = [_scores(world) for world in worlds]

    # then A's ties are what the settings give and B's what its own weights give
    for world, scores in zip(worlds, incremental, strict=True):
        params = tie_params_for_brand(brand_id=world.brand.pk)
        for (source, target), (affinity, *_rest) in scores.items():
            by_type = {
                name: getattr(world.ties()[(source, target)], f"c_{name}")
                for name in Tie.COMPONENT_TYPES
            }
            # affinity = Σ of the components (+ view for B, which weighs there)
            assert affinity >= sum(by_type.values()) - 1e-9
        assert params.weights["message"] == (4.0 if world is worlds[1] else 3.0)
    a_aff = sorted(v[0] for v in incremental[0].values())
    b_aff = sorted(v[0] for v in incremental[1].values())
    assert a_aff != b_aff

    # and a per-brand recompute keeps the pair states, with strengths of the brand's own
    # formula (its κ now, the friendship of ~100 days, the Jaccard it computed)
    recomputed = []
    for world, scores in zip(worlds, incremental, strict=True):
        params = tie_params_for_brand(brand_id=world.brand.pk)
        since = Friendship.objects.filter(brand=world.brand).values_list("since", flat=True)[0]
        report = ties_recompute(brand_id=world.brand.pk, as_of=ref)
        rows = _scores(world)
        _same_state(scores, rows)
        for key, tie in world.ties().items():
            want = scoring.strength(
                intensity_value=tie.intensity,
                friend_days=(ref - since).total_seconds() / 86_400,
                jaccard_value=tie.mutual_jaccard,
                kappa=report.kappa,
                params=params,
            )
            assert math.isclose(tie.strength, want, abs_tol=1e-9), key
        recomputed.append(rows)
    # and the all-brands recompute gives the same rows as the per-brand ones
    ties_recompute_all(as_of=ref)
    for world, rows in zip(worlds, recomputed, strict=True):
        _same_state(rows, _scores(world))
        for key, value in _scores(world).items():
            assert math.isclose(value[1], rows[key][1], abs_tol=1e-9), key


# --- the fit command ----------------------------------------------------------------------------

TRUE_WEIGHTS = {"like": 3.0, "click": 1.5, "comment": 0.6, "message": 0.0}


def generated_brand(seed: int = 1, pairs: int = 1600):
    """A brand whose next-period interaction follows known type weights: per pair, counts of
    like / click / comment / message over the 28 days before the cut, and an interaction in
    the 14 days after it with probability σ(−2.2 + 0.6·Σ w_true·count)."""
    rng = np.random.default_rng(seed)
    brand = BrandFactory(slug=f"fit{seed}")
    people = CustomerFactory.create_batch(120, brand=brand)
    as_of = timezone.now().replace(microsecond=0)
    cut = as_of - 14 * DAY
    chosen = set()
    while len(chosen) < pairs:
        a, b = rng.choice(len(people), 2, replace=False)
        chosen.add((min(a, b), max(a, b)))
    rows = []
    n = 0
    for a, b in sorted(chosen):
        counts = {kind: int(rng.poisson(0.8)) for kind in TRUE_WEIGHTS}
        if not any(counts.values()):
            counts["message"] = 1
        score = sum(TRUE_WEIGHTS[k] * c for k, c in counts.items())
        for kind, count in counts.items():
            for _ in range(count):
                n += 1
                actor, target = (a, b) if rng.random() < 0.5 else (b, a)
                at = cut - timedelta(days=float(rng.uniform(0.5, 28)))
                rows.append((kind, people[actor], people[target], at, n))
        if rng.random() < 1 / (1 + math.exp(-(-2.2 + 0.6 * score))):
            n += 1
            at = cut + timedelta(days=float(rng.uniform(0.5, 13.5)))
            rows.append(("message", people[a], people[b], at, n))
    Interaction.objects.bulk_create(
        Interaction(
            brand=brand,
            event_id=f"g{k}",
            type=kind,
            actor=actor,
            target=target,
            occurred_at=at,
            received_at=at,
        )
        for kind, actor, target, at, k in rows
    )
    return brand, as_of


@pytest.mark.django_db
def test_fit_command_recovers_the_order_of_known_weights_and_stores_a_winning_fit():
    # given a brand whose outcomes follow like > click > comment > message (the defaults
    # rank message and comment first)
    brand, as_of = generated_brand()

    # when the fit command runs (without queueing the recompute)
    out = StringIO()
    call_command(
        "fit_tie_model", brand=brand.slug, as_of=as_of.isoformat(), no_recompute=True, stdout=out
    )
    text = out.getvalue()

    # then it prints the fit next to the defaults and both held-out AUCs
    assert "held-out AUC: defaults" in text and "fitted" in text
    assert "message" in text and "duration_weight" in text
    # and the fitted weights rank the types as the truth does
    model = TieModel.objects.get(brand=brand)
    w = model.weights
    assert w["like"] > w["click"] > w["comment"] > w["message"], w
    # and the fit was stored because it beats the defaults on held-out pairs
    assert model.held_out_auc > model.default_auc
    assert "stored for brand" in text and "recompute_ties --brand" in text
    # and only for that brand
    other = BrandFactory()
    assert tie_params_for_brand(brand_id=other.pk) == TieParams.from_settings()


@pytest.mark.django_db
def test_fit_command_keeps_the_defaults_when_the_fit_does_not_beat_them(monkeypatch):
    # given a brand whose fit would not beat the defaults on held-out pairs
    brand, as_of = generated_brand(seed=2, pairs=400)
    from interactions import tie_fit

    real = tie_fit.tie_model_fit

    def no_better(**kwargs):
        fit = real(**kwargs)
        fit.fitted_auc = fit.default_auc
        return fit

    monkeypatch.setattr("interactions.management.commands.fit_tie_model.tie_model_fit", no_better)
    out = StringIO()
    call_command("fit_tie_model", brand=brand.slug, as_of=as_of.isoformat(), stdout=out)
    # then nothing is stored
    assert "does not beat the defaults" in out.getvalue()
    assert not TieModel.objects.exists()


@pytest.mark.django_db
def test_fit_command_refuses_a_brand_without_enough_history():
    brand = BrandFactory(slug="empty")
    with pytest.raises(CommandError, match="too few"):
        call_command("fit_tie_model", brand="empty")
    with pytest.raises(CommandError, match="No brand"):
        call_command("fit_tie_model", brand="nope")
    assert brand.pk
