"""Fit a brand's tie parameters from its own outcomes (``manage.py fit_tie_model``).

The outcome is the one the harness judges the model by (bench/validate_ties.py): do the two
people of a pair interact again? The brand's log is cut at ``as_of − outcome_days``: every pair
with an interaction before the cut is a candidate, its features are what the model sees at the
cut, and its label is whether the pair has a positive interaction (click, like, forward,
comment, message, reply, purchase) in the outcome window after it.

Two regularised (L2) logistic fits, on 70% of the pairs (seeded split):

1. **type weights**: ``outcome ~ Σ_t c_t·X_t``, X_t = the pair's interactions of type t decayed
   to the cut (both directions, an unlike taking back its like). A type's weight is its
   coefficient (negative ones count as 0), scaled so that the brand's mean affinity stays
   what the settings' weights give; types with fewer than ``MIN_PAIRS_PER_TYPE`` pairs keep
   the settings' weight.
2. **term weights**: ``outcome ~ b·ln I + γ_D·D + γ_M·Jaccard``, I = intensity with the fitted
   type weights. The model's ln E = ln I + ln(1 + β_D·D) + ln(1 + β_M·J) ≈ ln I + β_D·D +
   β_M·J, so β = γ / b (clipped to [0, ``MAX_TERM_WEIGHT``]; the settings' when b ≤ 0).

Both parameter sets are then judged on the other 30%: AUC of `scoring.strength` (κ of the
brand's pairs at the cut). The caller stores the fit only when it beats the defaults there.
Features use the ties' current ``mutual_jaccard`` (the friend graph at the cut is not kept)
and the friendship in force at the cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.db import connection
from django.utils import timezone

from customers.models import Friendship

from . import scoring
from .models import Interaction, Tie

POSITIVE_TYPES = ("click", "like", "forward", "comment", "message", "reply", "purchase")
MIN_PAIRS_PER_TYPE = 20
MAX_TERM_WEIGHT = 20.0
HELD_OUT_SHARE = 0.3
REGULARISATION_C = 1.0  # scikit-learn's inverse L2 strength, on standardised features


class FitError(ValueError):
    """Too little data to fit or to judge a fit (no pairs, or one class only)."""


@dataclass
class PairFeatures:
    """Per candidate pair (lo < hi) at the cut."""

    types: list[str]
    out: np.ndarray  # (pairs, types): decayed counts lo → hi
    back: np.ndarray  # (pairs, types): decayed counts hi → lo
    days: np.ndarray  # friendship days at the cut (0: not friends then)
    jaccard: np.ndarray
    outcome: np.ndarray  # 1: a positive interaction in the outcome window

    def __len__(self) -> int:
        return int(self.outcome.size)


@dataclass
class FitResult:
    brand_id: int
    cut: datetime
    pairs: int
    train: int
    held_out: int
    positive_rate: float
    weights: dict[str, float]
    coefficients: dict[str, float]
    duration_weight: float
    mutual_weight: float
    term_coefficients: dict[str, float]
    default_auc: float
    fitted_auc: float
    defaults: scoring.TieParams
    fitted: scoring.TieParams
    kept_default: list[str] = field(default_factory=list)

    @property
    def beats_defaults(self) -> bool:
        return self.fitted_auc > self.default_auc


def pair_features(
    *, brand_id: int, cut: datetime, until: datetime, params: scoring.TieParams
) -> PairFeatures:
    """Features at ``cut`` and outcomes in [cut, until) of every pair of the brand with a
    weighted interaction before the cut (three queries)."""
    types = sorted(t for t in params.weights if t != scoring.UNLIKE)
    index = {name: n for n, name in enumerate(types)}
    itab, ttab, ftab = Interaction._meta.db_table, Tie._meta.db_table, Friendship._meta.db_table
    h = params.half_life_seconds
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT LEAST(actor_id, target_id), GREATEST(actor_id, target_id),
                       actor_id < target_id,
                       CASE WHEN type = 'unlike' THEN 'like' ELSE type END,
                       sum(CASE WHEN type = 'unlike' THEN -1 ELSE 1 END
                           * power(2::float8, GREATEST(
                               -(%(cut)s - date_part('epoch', CASE WHEN type = 'unlike'
                                   THEN cancels_at ELSE occurred_at END)) / %(h)s, -700)))
                  FROM {itab}
                 WHERE brand_id = %(brand)s AND occurred_at < %(cut_at)s
                   AND type = ANY(%(types)s) AND (type <> 'unlike' OR cancels_at IS NOT NULL)
                 GROUP BY 1, 2, 3, 4""",  # noqa: S608
            {
                "brand": brand_id,
                "cut": cut.timestamp(),
                "cut_at": cut,
                "h": h,
                "types": [*types, scoring.UNLIKE],
            },
        )
        rows = cursor.fetchall()
        pairs = sorted({(lo, hi) for lo, hi, *_ in rows})
        position = {pair: n for n, pair in enumerate(pairs)}
        out = np.zeros((len(pairs), len(types)))
        back = np.zeros((len(pairs), len(types)))
        for lo, hi, forward, kind, value in rows:
            (out if forward else back)[position[(lo, hi)], index[kind]] += value
        cursor.execute(
            f"""SELECT DISTINCT LEAST(actor_id, target_id), GREATEST(actor_id, target_id)
                  FROM {itab}
                 WHERE brand_id = %s AND occurred_at >= %s AND occurred_at < %s
                   AND type = ANY(%s)""",  # noqa: S608
            [brand_id, cut, until, list(POSITIVE_TYPES)],
        )
        outcome = np.zeros(len(pairs))
        for pair in cursor.fetchall():
            if pair in position:
                outcome[position[pair]] = 1.0
        cursor.execute(
            f"""SELECT customer_low_id, customer_high_id,
                       date_part('epoch', %s - since) / 86400.0
                  FROM {ftab}
                 WHERE brand_id = %s AND since <= %s
                   AND (ended_at IS NULL OR ended_at > %s)""",  # noqa: S608
            [cut, brand_id, cut, cut],
        )
        days = np.zeros(len(pairs))
        for lo, hi, value in cursor.fetchall():
            if (lo, hi) in position:
                days[position[(lo, hi)]] = value
        cursor.execute(
            f"""SELECT LEAST(source_id, target_id), GREATEST(source_id, target_id),
                       max(mutual_jaccard)
                  FROM {ttab} WHERE brand_id = %s GROUP BY 1, 2""",  # noqa: S608
            [brand_id],
        )
        jaccard = np.zeros(len(pairs))
        for lo, hi, value in cursor.fetchall():
            if (lo, hi) in position:
                jaccard[position[(lo, hi)]] = value
    return PairFeatures(types, out, back, days, jaccard, outcome)


def strengths(data: PairFeatures, params: scoring.TieParams, rows: np.ndarray) -> np.ndarray:
    """`scoring.strength` of the pairs ``rows`` under ``params`` (vectorised; κ over all
    the brand's pairs at the cut, as the workers take it over the brand's ties)."""
    w = np.array([params.weights.get(name, 0.0) for name in data.types])
    x = np.maximum(data.out @ w, 0.0)
    y = np.maximum(data.back @ w, 0.0)
    high, low = np.maximum(x, y), np.minimum(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        recip = np.where(
            high > 0, params.reciprocity_floor + (1 - params.reciprocity_floor) * low / high, 1.0
        )
    intensity = (x + y) * recip
    kappa = scoring.kappa_from(intensity.tolist(), params)
    return np.array(
        [
            scoring.strength(
                intensity_value=float(intensity[n]),
                friend_days=float(data.days[n]),
                jaccard_value=float(data.jaccard[n]),
                kappa=kappa,
                params=params,
            )
            for n in rows
        ]
    )


def _logistic(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """L2-regularised logistic fit on standardised features; coefficients per raw unit."""
    from sklearn.linear_model import LogisticRegression

    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=REGULARISATION_C, max_iter=1000)
    model.fit(features / scale, labels)
    return model.coef_[0] / scale


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


def tie_model_fit(
    *,
    brand_id: int,
    as_of: datetime | None = None,
    outcome_days: float = 14.0,
    seed: int = 0,
    defaults: scoring.TieParams | None = None,
) -> FitResult:
    """Fit the brand's type and term weights (see the module doc); nothing is stored."""
    defaults = defaults or scoring.TieParams.from_settings()
    until = as_of or timezone.now()
    cut = until - timedelta(days=outcome_days)
    data = pair_features(brand_id=brand_id, cut=cut, until=until, params=defaults)
    n = len(data)
    if n < 20 or not 0 < data.outcome.sum() < n:
        raise FitError(
            f"{n} candidate pairs, {int(data.outcome.sum())} with an outcome: too few to fit"
        )
    order = np.random.default_rng(seed).permutation(n)
    held = order[: max(1, int(round(n * HELD_OUT_SHARE)))]
    train = order[held.size :]
    if len(set(data.outcome[held])) < 2 or len(set(data.outcome[train])) < 2:
        raise FitError("the training or held-out pairs have one outcome only: too few to fit")

    # 1. type weights
    counts = data.out + data.back
    used = [
        k
        for k, name in enumerate(data.types)
        if np.count_nonzero(counts[train, k] > 0) >= MIN_PAIRS_PER_TYPE
    ]
    coefficients = dict.fromkeys(data.types, math.nan)
    weights = {name: defaults.weights.get(name, 0.0) for name in data.types}
    kept_default = [name for k, name in enumerate(data.types) if k not in used]
    if used:
        coef = _logistic(counts[np.ix_(train, used)], data.outcome[train])
        raw = np.maximum(coef, 0.0)
        mean_counts = counts[train][:, used].mean(axis=0)
        default_w = np.array([weights[data.types[k]] for k in used])
        fitted_mass, default_mass = float(raw @ mean_counts), float(default_w @ mean_counts)
        factor = default_mass / fitted_mass if fitted_mass > 0 else 0.0
        for k, c, w in zip(used, coef, raw * factor, strict=True):
            coefficients[data.types[k]] = float(c)
            weights[data.types[k]] = float(w) if factor > 0 else weights[data.types[k]]
    with_types = defaults.for_brand(
        weights=weights,
        duration_weight=defaults.duration_weight,
        mutual_weight=defaults.mutual_weight,
    )

    # 2. term weights, on the intensity the fitted type weights give
    w = np.array([weights[name] for name in data.types])
    x, y = np.maximum(data.out @ w, 0.0), np.maximum(data.back @ w, 0.0)
    high = np.maximum(x, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        recip = np.where(
            high > 0,
            defaults.reciprocity_floor + (1 - defaults.reciprocity_floor) * np.minimum(x, y) / high,
            1.0,
        )
    intensity = (x + y) * recip
    floor = max(float(np.median(intensity[intensity > 0])) * 1e-3, 1e-9) if intensity.any() else 1
    duration = 1 - np.exp(-np.minimum(data.days / defaults.duration_scale_days, 700.0))
    terms = np.column_stack([np.log(intensity + floor), duration, data.jaccard])
    b, g_d, g_m = _logistic(terms[train], data.outcome[train])
    if b > 0:
        duration_weight = float(np.clip(g_d / b, 0.0, MAX_TERM_WEIGHT))
        mutual_weight = float(np.clip(g_m / b, 0.0, MAX_TERM_WEIGHT))
    else:
        duration_weight, mutual_weight = defaults.duration_weight, defaults.mutual_weight
    fitted = with_types.for_brand(
        weights=weights, duration_weight=duration_weight, mutual_weight=mutual_weight
    )

    labels = data.outcome[held]
    return FitResult(
        brand_id=brand_id,
        cut=cut,
        pairs=n,
        train=int(train.size),
        held_out=int(held.size),
        positive_rate=float(data.outcome.mean()),
        weights=weights,
        coefficients=coefficients,
        duration_weight=duration_weight,
        mutual_weight=mutual_weight,
        term_coefficients={"ln_intensity": float(b), "duration": float(g_d), "jaccard": float(g_m)},
        default_auc=_auc(labels, strengths(data, defaults, held)),
        fitted_auc=_auc(labels, strengths(data, fitted, held)),
        defaults=defaults,
        fitted=fitted,
        kept_default=kept_default,
    )
