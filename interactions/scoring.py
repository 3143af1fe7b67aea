"""Tie-strength math (SPEC "Tie strength"): pure functions, no ORM, no I/O.

Shared by the incremental worker, the full recompute (whose SQL mirrors `from_events`) and the
fatigue simulator.

Directed affinity A(u→v) = Σ w(type) · 2^(−age/H). A directed pair is kept as a `PairState`:
the affinity *as of its last event* (`score`, `last_at`) and the same sum split by type
(`components`), so that ``score == sum(components.values())`` always. Decaying forward from
the pair's own last time keeps every exponent ≤ 0 (no overflow over years of history, unlike
referencing to a fixed epoch with 2^(+t/H)).

``unlike`` takes back one like: it contributes −w(like) *at the time of the like it cancels*
(``cancels_at``), so a like and its unlike sum to exactly zero at any later time; its own time
plays no part. Negative signals (hide_post, mute_author,
unfriend, block, report) carry no weight here: they are pair flags, handled by fatigue.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

SECONDS_PER_DAY = 86_400.0

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "view": 0.0,
        "click": 0.2,
        "like": 1.0,
        "forward": 2.0,
        "comment": 3.0,
        "message": 3.0,
        "reply": 6.0,
        "purchase": 5.0,
    }
)
UNLIKE = "unlike"
LIKE = "like"
NEGATIVE_SIGNALS = frozenset({"hide_post", "mute_author", "unfriend", "block", "report"})


@dataclass(frozen=True)
class TieParams:
    """Every constant of the model; build from settings with `TieParams.from_settings()`."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    half_life_days: float = 14.0
    # Strength = 1 − (1 + c·E/κ)^(−SATURATION_POWER), c = 2^(1/power) − 1 (strength ½ at
    # E = κ), evidence E = I·(1 + DURATION_WEIGHT·D)
    # ·(1 + MUTUAL_WEIGHT·Jaccard), D = 1 − e^(−friend_days/DURATION_SCALE_DAYS).
    duration_weight: float = 0.25
    mutual_weight: float = 4.0
    saturation_power: float = 0.5
    duration_scale_days: float = 180.0
    reciprocity_floor: float = 0.8
    kappa_percentile: float = 75.0
    kappa_default: float = 3.0
    kappa_min: float = 0.1
    prune_idle_days: float = 60.0
    prune_min_affinity: float = 0.06

    def __post_init__(self) -> None:
        errors = self.validate()
        if errors:
            raise ValueError(f"invalid tie parameters: {errors}")

    def validate(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        if LIKE not in self.weights:
            errors["weights"] = "a weight for 'like' is required (unlike takes one back)"
        for name, weight in self.weights.items():
            if not math.isfinite(weight) or weight < 0:
                errors[f"weights.{name}"] = "must be a finite number ≥ 0"
        if not self.half_life_days > 0:
            errors["half_life_days"] = "must be > 0"
        for name in ("duration_weight", "mutual_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                errors[name] = "must be a finite number ≥ 0"
        if not (math.isfinite(self.saturation_power) and 0 < self.saturation_power <= 1):
            errors["saturation_power"] = "must be in (0, 1]"
        if not self.duration_scale_days > 0:
            errors["duration_scale_days"] = "must be > 0"
        if not 0.5 <= self.reciprocity_floor <= 1:
            # Below 0.5, one more interaction of the busier side could lower I.
            errors["reciprocity_floor"] = "must be in [0.5, 1]"
        if not 0 <= self.kappa_percentile <= 100:
            errors["kappa_percentile"] = "must be in [0, 100]"
        if not self.kappa_min > 0 or not self.kappa_default >= self.kappa_min:
            errors["kappa_default"] = "kappa_min must be > 0 and kappa_default ≥ kappa_min"
        if self.prune_idle_days < 0 or self.prune_min_affinity < 0:
            errors["prune_idle_days"] = "prune thresholds must be ≥ 0"
        return errors

    @classmethod
    def from_settings(cls, overrides: Mapping[str, Any] | None = None) -> TieParams:
        """From ``settings.SCRM_TIES`` (upper-case keys), then ``overrides``."""
        from django.conf import settings

        raw = {k.lower(): v for k, v in getattr(settings, "SCRM_TIES", {}).items()}
        raw.update(overrides or {})
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})

    def key(self) -> tuple:
        """A hashable identity of every parameter (brands with equal keys score alike)."""
        return tuple(
            tuple(sorted(value.items())) if isinstance(value, Mapping) else value
            for value in (getattr(self, name) for name in self.__dataclass_fields__)
        )

    def for_brand(
        self, *, weights: Mapping[str, float], duration_weight: float, mutual_weight: float
    ) -> TieParams:
        """These parameters with a brand's fitted type weights (merged over these) and term
        weights (`interactions.models.TieModel`)."""
        return replace(
            self,
            weights={**self.weights, **weights},
            duration_weight=duration_weight,
            mutual_weight=mutual_weight,
        )

    @property
    def half_life_seconds(self) -> float:
        return self.half_life_days * SECONDS_PER_DAY

    def weight(self, event_type: str) -> float:
        """Weight of one event; −w(like) for unlike; 0 for negative signals (flags only)."""
        if event_type == UNLIKE:
            return -self.weights[LIKE]
        if event_type in NEGATIVE_SIGNALS:
            return 0.0
        try:
            return self.weights[event_type]
        except KeyError:
            raise ValueError(f"unknown interaction type {event_type!r}") from None


DEFAULT_PARAMS = TieParams()


def decay(seconds: float, params: TieParams = DEFAULT_PARAMS) -> float:
    """2^(−Δ/H) for an age of ``seconds`` (Δ ≥ 0 gives a factor in (0, 1])."""
    return 2.0 ** (-seconds / params.half_life_seconds)


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


@dataclass(frozen=True)
class PairState:
    """Directed affinity u→v as of ``last_at``; ``components`` split it by interaction type."""

    score: float = 0.0
    last_at: datetime | None = None
    components: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """One interaction of u on v. For ``unlike``, ``cancels_at`` is when the taken-back like was
    made (required: an unlike that matches no like is dropped by the caller)."""

    type: str
    at: datetime
    cancels_at: datetime | None = None


def _contribution(
    event_type: str, at: datetime, cancels_at: datetime | None, params: TieParams
) -> tuple[str, float, datetime]:
    """(component, weight, the time the weight is dated at)."""
    if event_type == UNLIKE:
        if cancels_at is None:
            raise ValueError("unlike needs cancels_at: the time of the like it takes back")
        return LIKE, params.weight(UNLIKE), cancels_at
    return event_type, params.weight(event_type), at


def apply(
    state: PairState,
    event_type: str,
    at: datetime,
    *,
    cancels_at: datetime | None = None,
    params: TieParams = DEFAULT_PARAMS,
) -> PairState:
    """The state after one more event (in order or not). Exact: equals `from_events`.

    In order (t ≥ last): S ← S·2^(−(t−last)/H) + w, every component decayed alike.
    Out of order (t < last): S ← S + w·2^(−(last−t)/H), ``last_at`` unchanged.
    Negative signals leave the state unchanged (they are flags).
    """
    if event_type in NEGATIVE_SIGNALS:
        return state
    component, weight, dated = _contribution(event_type, at, cancels_at, params)
    components = dict(state.components)
    if state.last_at is None:
        components[component] = components.get(component, 0.0) + weight
        return PairState(score=weight, last_at=dated, components=components)
    if dated > state.last_at:
        factor = decay(_seconds(dated, state.last_at), params)
        components = {name: value * factor for name, value in components.items()}
        components[component] = components.get(component, 0.0) + weight
        return PairState(score=state.score * factor + weight, last_at=dated, components=components)
    added = weight * decay(_seconds(state.last_at, dated), params)
    components[component] = components.get(component, 0.0) + added
    return PairState(score=state.score + added, last_at=state.last_at, components=components)


def value_at(state: PairState, at: datetime, params: TieParams = DEFAULT_PARAMS) -> float:
    """The affinity decayed to ``at``; a time before ``last_at`` (clock skew) gives ``score``."""
    if state.last_at is None:
        return 0.0
    return state.score * decay(max(0.0, _seconds(at, state.last_at)), params)


def components_at(
    state: PairState, at: datetime, params: TieParams = DEFAULT_PARAMS
) -> dict[str, float]:
    """Per-type components decayed to ``at`` (they sum to ``value_at``)."""
    if state.last_at is None:
        return {}
    factor = decay(max(0.0, _seconds(at, state.last_at)), params)
    return {name: value * factor for name, value in state.components.items()}


def from_events(events: Iterable[Event], params: TieParams = DEFAULT_PARAMS) -> PairState:
    """Closed form of the full recompute: Σ w·2^(−(t_ref − t_i)/H), t_ref = the latest time.

    The reference is the pair's own latest dated contribution (as `apply` keeps it), so all
    exponents are ≤ 0. The SQL recompute does the same per pair: ``max(t) OVER (pair)``, with
    an unlike dated at its like's time.
    """
    contributions = [
        _contribution(event.type, event.at, event.cancels_at, params)
        for event in events
        if event.type not in NEGATIVE_SIGNALS
    ]
    if not contributions:
        return PairState()
    ref = max(dated for _, _, dated in contributions)
    components: dict[str, float] = {}
    for component, weight, dated in contributions:
        value = weight * decay(_seconds(ref, dated), params)
        components[component] = components.get(component, 0.0) + value
    return PairState(score=math.fsum(components.values()), last_at=ref, components=components)


def reciprocity(a_uv: float, a_vu: float, params: TieParams = DEFAULT_PARAMS) -> float:
    """FLOOR + (1 − FLOOR)·min/max, in [FLOOR, 1]; 1 when both sides are zero."""
    a_uv, a_vu = max(a_uv, 0.0), max(a_vu, 0.0)
    high = max(a_uv, a_vu)
    if high <= 0:
        return 1.0
    ratio = min(a_uv, a_vu) / high
    return min(1.0, params.reciprocity_floor + (1 - params.reciprocity_floor) * ratio)


def intensity(a_uv: float, a_vu: float, params: TieParams = DEFAULT_PARAMS) -> float:
    """Undirected I = (A(u→v) + A(v→u))·reciprocity. Negative rounding residues count as 0."""
    a_uv, a_vu = max(a_uv, 0.0), max(a_vu, 0.0)
    return (a_uv + a_vu) * reciprocity(a_uv, a_vu, params)


def jaccard(
    friends_u: Iterable[Any], friends_v: Iterable[Any], *, pair: Iterable[Any] = ()
) -> float:
    """|N(u) ∩ N(v)| / |N(u) ∪ N(v)|; the ids in ``pair`` (u and v) are left out of both."""
    excluded = set(pair)
    set_u, set_v = set(friends_u) - excluded, set(friends_v) - excluded
    union = set_u | set_v
    if not union:
        return 0.0
    return len(set_u & set_v) / len(union)


def jaccard_from_counts(mutual: int, degree_u: int, degree_v: int) -> float:
    """Same as `jaccard` from counts (what SQL has): degrees exclude the other endpoint."""
    union = degree_u + degree_v - mutual
    return mutual / union if union > 0 else 0.0


def strength(
    *,
    intensity_value: float,
    friend_days: float,
    jaccard_value: float,
    kappa: float,
    params: TieParams = DEFAULT_PARAMS,
) -> float:
    """1 − (1 + c·E/κ)^(−p), E = I·(1 + β_D·D)·(1 + β_M·Jaccard), in [0, 1) (`saturate`).

    The interactions are the evidence; friendship duration D = 1 − e^(−days/scale) and mutual
    friends scale it (multiplicative evidence: without interactions the strength is 0, and
    they never outweigh a clearly busier pair). The power saturation (p ≤ 1) keeps the
    strongest ties apart: 1 − e^(−E/κ) rounded every tie above ~10κ to the same value.
    """
    return _terms(intensity_value, friend_days, jaccard_value, kappa, params)[3]


def saturate(evidence: float, kappa: float, params: TieParams = DEFAULT_PARAMS) -> float:
    """1 − (1 + c·E/κ)^(−p), c = 2^(1/p) − 1: 0 at E = 0, ½ at E = κ, increasing, below 1.

    With p = ½: 1 − 1/√(1 + 3E/κ) — 0.75 at E = 5κ, 0.9 at 33κ, 0.97 at 370κ; two ties
    whose evidence differs by 1% differ by ≥ 1e-4 (the API's rounding) up to ~500κ."""
    kappa = max(kappa, params.kappa_min)
    return 1.0 - (1.0 + saturation_scale(params) * max(evidence, 0.0) / kappa) ** (
        -params.saturation_power
    )


def saturation_scale(params: TieParams = DEFAULT_PARAMS) -> float:
    """c = 2^(1/p) − 1, so that a tie with evidence κ has strength ½."""
    return 2.0 ** (1.0 / params.saturation_power) - 1.0


def duration_factor(friend_days: float, params: TieParams = DEFAULT_PARAMS) -> float:
    """1 + β_D·(1 − e^(−days/scale)), in [1, 1 + β_D]."""
    scaled = min(max(friend_days, 0.0) / params.duration_scale_days, 700.0)
    return 1.0 + params.duration_weight * (1.0 - math.exp(-scaled))


def mutual_factor(jaccard_value: float, params: TieParams = DEFAULT_PARAMS) -> float:
    """1 + β_M·Jaccard, in [1, 1 + β_M]."""
    return 1.0 + params.mutual_weight * min(max(jaccard_value, 0.0), 1.0)


def _terms(
    intensity_value: float,
    friend_days: float,
    jaccard_value: float,
    kappa: float,
    params: TieParams,
) -> tuple[float, float, float, float]:
    """(intensity term, duration term, mutual term, strength): the strength of the
    interactions alone, then what the friendship's duration adds, then what mutual friends
    add — an attribution that sums to the strength, each term ≥ 0."""
    i_value = max(intensity_value, 0.0)
    with_duration = i_value * duration_factor(friend_days, params)
    evidence = with_duration * mutual_factor(jaccard_value, params)
    i_term = saturate(i_value, kappa, params)
    d_term = saturate(with_duration, kappa, params) - i_term
    total = saturate(evidence, kappa, params)
    return i_term, d_term, total - i_term - d_term, total


def percentile_cont(values: Sequence[float], percentile: float) -> float:
    """Linear interpolation between closest ranks, as PostgreSQL's ``percentile_cont``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (percentile / 100.0) * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# A tie is active when its intensity is above this. Not 0: a like and its unlike cancel
# exactly only when summed next to each other; the recompute sums a pair's log in storage
# order and the worker in batches, so likes taken back can leave a rounding residue
# (~1e-16 per unit of weight) of either sign, and a pair with nothing left must not count
# towards κ by the sign of that residue. Far below any real tie (a like is worth 1e-9
# after 30 half-lives, 420 days at H = 14 d; the recompute prunes pairs long before).
ACTIVE_INTENSITY_MIN = 1e-9


def is_active(intensity_value: float) -> bool:
    """Whether a pair of this intensity is an active tie (counts towards κ)."""
    return math.isfinite(intensity_value) and intensity_value > ACTIVE_INTENSITY_MIN


def kappa_from(intensities: Iterable[float], params: TieParams = DEFAULT_PARAMS) -> float:
    """κ = the percentile of I over active ties (`is_active`: I > ``ACTIVE_INTENSITY_MIN``);
    ``kappa_default`` when there are none.

    Never below ``kappa_min``, so a brand with only faint ties does not see them all as strong.
    The recompute (`recompute`, step κ) and the hourly refresh
    (`scoring_db.tie_stats_refresh_kappa`) compute the same in SQL.
    """
    active = [value for value in intensities if is_active(value)]
    if not active:
        return params.kappa_default
    return max(percentile_cont(active, params.kappa_percentile), params.kappa_min)


def should_prune(state: PairState, now: datetime, params: TieParams = DEFAULT_PARAMS) -> bool:
    """Idle ≥ ``prune_idle_days`` and affinity (decayed to now) < ``prune_min_affinity``."""
    if state.last_at is None:
        return True
    idle = now - state.last_at >= timedelta(days=params.prune_idle_days)
    return idle and value_at(state, now, params) < params.prune_min_affinity


@dataclass(frozen=True)
class StrengthExplanation:
    """The parts of one tie's strength, for the ties API and the admin."""

    strength: float
    affinity_out: float
    affinity_in: float
    reciprocity: float
    intensity: float
    kappa: float
    intensity_term: float
    friend_days: float
    duration_factor: float
    duration_term: float
    jaccard: float
    mutual_factor: float
    mutual_term: float
    evidence: float
    by_type: Mapping[str, float]

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        def rounded(value: float) -> float:
            return round(value, digits)

        return {
            "strength": rounded(self.strength),
            "affinity_out": rounded(self.affinity_out),
            "affinity_in": rounded(self.affinity_in),
            "reciprocity": rounded(self.reciprocity),
            "intensity": rounded(self.intensity),
            "kappa": rounded(self.kappa),
            "intensity_term": rounded(self.intensity_term),
            "friend_days": rounded(self.friend_days),
            "duration_factor": rounded(self.duration_factor),
            "duration_term": rounded(self.duration_term),
            "jaccard": rounded(self.jaccard),
            "mutual_factor": rounded(self.mutual_factor),
            "mutual_term": rounded(self.mutual_term),
            "evidence": rounded(self.evidence),
            "by_type": {name: rounded(value) for name, value in sorted(self.by_type.items())},
        }


def explain(
    *,
    affinity_out: float,
    affinity_in: float,
    friend_days: float,
    jaccard_value: float,
    kappa: float,
    by_type: Mapping[str, float] | None = None,
    params: TieParams = DEFAULT_PARAMS,
) -> StrengthExplanation:
    """Strength of a tie and every term it is made of. ``by_type``: the summed components of
    both directions decayed to the same time (optional, shown as-is)."""
    recip = reciprocity(affinity_out, affinity_in, params)
    i_value = intensity(affinity_out, affinity_in, params)
    i_term, d_term, m_term, total = _terms(i_value, friend_days, jaccard_value, kappa, params)
    d_factor = duration_factor(friend_days, params)
    m_factor = mutual_factor(jaccard_value, params)
    return StrengthExplanation(
        strength=total,
        affinity_out=affinity_out,
        affinity_in=affinity_in,
        reciprocity=recip,
        intensity=i_value,
        kappa=max(kappa, params.kappa_min),
        intensity_term=i_term,
        friend_days=friend_days,
        duration_factor=d_factor,
        duration_term=d_term,
        jaccard=jaccard_value,
        mutual_factor=m_factor,
        mutual_term=m_term,
        evidence=i_value * d_factor * m_factor,
        by_type=dict(by_type or {}),
    )
