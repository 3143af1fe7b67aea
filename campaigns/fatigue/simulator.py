"""Fatigue simulator: weeks of posting on a synthetic brand network, with the rules on and off.

Pure engine (numpy, no ORM, no Redis): ``compare(network, policy, weeks=12, seed=0)`` runs the
same posting schedule and the same random draws twice, once with ``policy`` and once with every
rule switched off, each post decided by `rules.decide` exactly as publishing does, and returns
both arms' totals and weekly curves. ``manage.py simulate_fatigue`` feeds it a brand from the
database (made by ``seed_demo``) or a network generated in memory (`campaigns.fatigue.simnet`).

The model (every number is a field of `ModelParams`; docs/fatigue_simulator.md has the table)
---------------------------------------------------------------------------------------------
Senders are the brand accounts and the active advocates; they post to their current friends.

* **Posting.** An advocate posts ``posts_per_week`` (log-normal across advocates) at hours
  drawn from a moments-style daily profile (peaks at noon and in the evening, a few posts in
  the night). Most advocates keep commerce to ``advocate_commercial_share`` of their posts; a
  share ``over_poster_share`` of them are over-posters: mostly commercial, and bursty — a
  two-state (calm / burst) daily Markov chain multiplies their commercial rate by
  ``burst_multiplier`` while in a burst. Brand accounts post every day, more commercially, and
  flood during brand-wide promotions. Bursts are the behaviour the rules exist to stop.
* **Audience.** A post reaches the sender's current friends minus those who muted, blocked or
  unfriended the sender: the platform enforces those itself, so they are gone in *both* arms.
  `rules.decide` then admits or excludes each of them (marketing consent is the law, not a
  fatigue rule: no policy switches it off, so opted-out friends never get commercial posts).
* **Responses.** An admitted friend sees the post with probability ``view_rate``. Seeing a
  commercial post, they react negatively with probability (logistic)

      logit p_neg = logit(neg_base) + neg_exposure·ln x + neg_burst·ln b − neg_strength·w

  where x is their commercial exposures from all senders in the last 7 days (this one
  included), b those from this sender (the burst term) and w the tie strength: it rises with
  exposures and bursts and falls with strength (Kwak et al. 2011, below). Otherwise they engage
  with probability ``logit⁻¹(logit(eng_base) + eng_strength·w − eng_exposure·ln x)`` (a like,
  comment or forward; the sender replies to some comments), or ignore it. A negative reaction
  to a brand account is a deletion of the merchant's account (unfriend) with probability
  0.375, a mute 0.489, a hidden post 0.136 (the iMedia figures of the seed: 37.5% delete
  immediately once they lose interest, 48.9% keep it a while before deleting it, 13.6% keep it
  out of habit); to an advocate it is a mute, block, hide or unfriend in the shares of
  ``advocate_negative_split`` (the seed says "many block" without a split: an assumption).
  Non-commercial posts get the engagement base ``eng_base_personal`` and the small negative
  rate ``neg_base_personal``, falling with strength alike.
* **Conversions.** An engaged commercial exposure converts with probability
  ``conversion_rate·(0.5 + w)``.
* **Ties** evolve with engagement through `interactions.scoring.apply` (like, comment, forward,
  purchase from the friend; reply from the sender) and are re-scored every simulated day with
  the strength formula of `interactions.scoring` (κ = the 75th percentile of active intensities
  of the simulated ties). Before the run, ties get a prior affinity (a friend who interacted in
  the past, more likely and more strongly between friends with many mutual friends; brand
  accounts' ties are weaker and one-sided).
* **Rules.** With the policy on, a rejected post is dropped (the sender does not retry), a
  deferred one comes back at ``deferred_until`` and is decided again, a paused advocate posts no
  commercial content for ``pause_days`` (staff review). The back-off counts the ignored
  commercial exposures of each (sender, friend) pair (a delivery with no engagement is
  ignored), as `RecipientState` is one friend of one sender.
* **Calibration.** ``neg_base`` and ``conversion_rate`` were set once on the policy-off arm of
  the 5,000-customer in-memory network (seed 0, 12 weeks), before comparing the arms: 44% of
  the audience mute, block or unfriend someone within 51 days (Kwak et al.: 43% of active
  users unfollow someone within 51 days) and 4.1% buy per four weeks (seed: 4.2%). Every run
  prints these checks for its own off arm. Nothing was tuned towards the comparison's goal.

Sources
-------
* H. Kwak, H. Chun, S. Moon. "Fragile online relationship: a first look at unfollow dynamics in
  Twitter", CHI 2011: bursty posting (many posts in a short time) and non-reciprocal,
  low-interaction ties are the strongest predictors of an unfollow — hence the burst term and
  the strength term (strength includes reciprocity and interaction intensity).
* The seeds of SPEC (W. Cui, "Explore the influence of key-consumer-leaders ... private domain
  traffic", 2020, citing iMedia surveys): over 60% of WeChat users receive friends' ads every
  day, about 4.2% bought a friend-recommended product in the past month, many block such
  friends; 37.5% delete a merchant's account immediately once they lose interest (48.9% keep it
  a while, 13.6% keep it). The simulator prints its own daily ad-exposure share and monthly
  buyer share next to those figures (a calibration check of the off arm, not a fit).

Every draw about one (post, recipient) pair comes from a counter-based hash of (seed, post,
recipient, purpose): both arms see the same dice wherever they deliver the same post to the
same friend (common random numbers), so their difference is the rules, not the noise.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from campaigns.fatigue import rules
from campaigns.fatigue.rules import (
    FatiguePolicy,
    Outcome,
    RecipientState,
    Rule,
    SenderHistory,
    SenderKind,
    SentPost,
)
from interactions import scoring

DAY_S = 86_400.0
_RING = 16  # commercial exposure times kept per (sender, friend) pair for the burst term

# Local hour profile of moments posts (weights, hours 0..23): night lull, morning, lunch and
# evening peaks; about 8% fall in the default quiet hours 22:00–08:00.
HOUR_PROFILE = np.array(
    [0.6, 0.3, 0.1, 0.1, 0.1, 0.2, 0.6, 1.5, 3.0, 4.0, 4.5, 5.0,
     6.5, 5.5, 4.0, 4.0, 4.5, 5.0, 6.0, 6.5, 7.0, 6.0, 1.8, 1.2],
)  # fmt: skip


@dataclass(frozen=True)
class Network:
    """A brand's graph as arrays: nodes 0..n−1, current friendships (low, high)."""

    brand_account: np.ndarray  # bool[n]
    consent: np.ndarray  # bool[n]: consent to commercial posts (``marketing_consent``)
    low: np.ndarray  # int[e]
    high: np.ndarray  # int[e]
    friend_days: np.ndarray  # float[e]: age of the friendship at the start, days
    advocates: np.ndarray  # int[a]: active advocates (node indexes)
    labels: np.ndarray | None = None  # customer ids, for reports
    # bool[n]: consent to the brand's mass messages (brand accounts' commercial posts need
    # it as well as ``consent``); None: everyone consents.
    mass_consent: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.brand_account.size)


@dataclass(frozen=True)
class ModelParams:
    """Every number of the behaviour model (see the module docstring for the sources)."""

    # posting
    posts_per_week: float = 4.0  # an advocate's median posts per week
    posts_per_week_sigma: float = 0.7  # log-normal spread across advocates
    advocate_commercial_share: float = 0.3
    over_poster_share: float = 0.25
    over_poster_commercial_share: float = 0.75
    burst_enter: float = 0.1  # daily chance a calm over-poster starts a burst
    burst_stay: float = 0.6  # daily chance a burst goes on (mean 2.5 days)
    burst_multiplier: float = 4.0
    brand_posts_per_day: float = 1.5
    brand_commercial_share: float = 0.7
    promotion_weekly_chance: float = 0.5  # a brand-wide promotion starts in a given week
    promotion_days: int = 3
    promotion_commercial_per_day: float = 4.0
    # responses
    view_rate: float = 0.6
    neg_base: float = 0.0008  # one commercial exposure, weak tie, nothing else that week
    neg_exposure: float = 1.0  # log-odds per ln(weekly commercial exposures)
    neg_burst: float = 0.7  # log-odds per ln(this sender's commercial exposures that week)
    neg_strength: float = 3.0  # log-odds per unit of tie strength
    neg_base_personal: float = 0.0005
    eng_base: float = 0.05
    eng_base_personal: float = 0.15
    eng_strength: float = 3.0
    eng_exposure: float = 0.5
    engagement_split: tuple[tuple[str, float], ...] = (
        ("like", 0.7),
        ("comment", 0.2),
        ("forward", 0.1),
    )
    reply_rate: float = 0.5  # the sender answers a comment
    conversion_rate: float = 0.03  # × (0.5 + strength), per engaged commercial exposure
    brand_negative_split: tuple[tuple[str, float], ...] = (
        ("unfriend", 0.375),
        ("mute_author", 0.489),
        ("hide_post", 0.136),
    )
    advocate_negative_split: tuple[tuple[str, float], ...] = (
        ("mute_author", 0.45),
        ("block", 0.25),
        ("hide_post", 0.25),
        ("unfriend", 0.05),
    )
    pause_days: float = 14.0
    # prior ties
    prior_active_consumer: float = 0.5
    prior_mean_consumer: float = 2.0
    prior_active_brand: float = 0.25
    prior_mean_brand: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


NEGATIVE_SIGNALS = ("mute_author", "block", "unfriend", "hide_post")


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def negative_probability(
    params: ModelParams, exposures: Any, sender_exposures: Any, strength: Any
) -> np.ndarray:
    """P(mute/block/unfriend/hide | a seen commercial post). ``exposures``: the friend's
    commercial exposures in the last 7 days, this one included (≥ 1); ``sender_exposures``:
    those from this sender (≥ 1); ``strength``: the tie, 0..1. Rises with both counts, falls
    with strength."""
    x = np.maximum(np.asarray(exposures, dtype=float), 1.0)
    b = np.maximum(np.asarray(sender_exposures, dtype=float), 1.0)
    w = np.clip(np.asarray(strength, dtype=float), 0.0, 1.0)
    z = (
        _logit(params.neg_base)
        + params.neg_exposure * np.log(x)
        + params.neg_burst * np.log(b)
        - params.neg_strength * w
    )
    return _sigmoid(z)


def engagement_probability(params: ModelParams, exposures: Any, strength: Any) -> np.ndarray:
    """P(like/comment/forward | a seen commercial post, not a negative reaction)."""
    x = np.maximum(np.asarray(exposures, dtype=float), 1.0)
    w = np.clip(np.asarray(strength, dtype=float), 0.0, 1.0)
    z = _logit(params.eng_base) + params.eng_strength * w - params.eng_exposure * np.log(x)
    return _sigmoid(z)


# --- common random numbers ---------------------------------------------------------------

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def uniforms(seed: int, post: int, recipients: np.ndarray, stream: int) -> np.ndarray:
    """U[0, 1) per recipient, a pure function of (seed, post, recipient, stream)."""
    with np.errstate(over="ignore"):
        key = np.uint64((seed * 1_000_003 + stream) % 2**63) * _GOLD
        key ^= np.uint64(post % 2**63) * _M2
        x = recipients.astype(np.uint64) * _GOLD + key
        x ^= x >> np.uint64(30)
        x *= _M1
        x ^= x >> np.uint64(27)
        x *= _M2
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def _pick(u: np.ndarray, split: Sequence[tuple[str, float]]) -> np.ndarray:
    """Category index per uniform, by the (normalised) shares of ``split``."""
    shares = np.array([share for _, share in split], dtype=float)
    edges = np.cumsum(shares / shares.sum())
    return np.minimum(np.searchsorted(edges, u, side="right"), len(split) - 1)


# --- schedule ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """Intended posts, sorted by time: seconds since the start, sender node, commercial."""

    at: np.ndarray
    sender: np.ndarray
    commercial: np.ndarray


def schedule(network: Network, params: ModelParams, weeks: int, seed: int) -> Schedule:
    """Every post the senders mean to publish over ``weeks`` (the same for both arms)."""
    rng = np.random.default_rng([seed, 1])
    days = weeks * 7
    hours = HOUR_PROFILE / HOUR_PROFILE.sum()
    at: list[np.ndarray] = []
    who: list[np.ndarray] = []
    com: list[np.ndarray] = []

    def emit(sender: int, day: int, count: int, commercial: bool) -> None:
        if count <= 0:
            return
        hour = rng.choice(24, count, p=hours)
        at.append(day * DAY_S + hour * 3600.0 + rng.random(count) * 3600.0)
        who.append(np.full(count, sender, dtype=np.int64))
        com.append(np.full(count, commercial, dtype=bool))

    for s in network.advocates.tolist():
        rate = params.posts_per_week * math.exp(params.posts_per_week_sigma * rng.normal()) / 7
        over = rng.random() < params.over_poster_share
        share = params.over_poster_commercial_share if over else params.advocate_commercial_share
        burst = False
        for day in range(days):
            if over:
                burst = rng.random() < (params.burst_stay if burst else params.burst_enter)
            factor = params.burst_multiplier if burst else 1.0
            emit(s, day, int(rng.poisson(rate * (1 - share))), False)
            emit(s, day, int(rng.poisson(rate * share * factor)), True)

    promotion = np.zeros(days, dtype=bool)
    for week in range(weeks):
        if rng.random() < params.promotion_weekly_chance:
            first = week * 7 + int(rng.integers(0, 7))
            promotion[first : first + params.promotion_days] = True
    for s in np.flatnonzero(network.brand_account).tolist():
        for day in range(days):
            base = params.brand_posts_per_day
            emit(s, day, int(rng.poisson(base * (1 - params.brand_commercial_share))), False)
            rate = base * params.brand_commercial_share
            if promotion[day]:
                rate = params.promotion_commercial_per_day
            emit(s, day, int(rng.poisson(rate)), True)

    if not at:
        empty = np.empty(0)
        return Schedule(empty, empty.astype(np.int64), empty.astype(bool))
    times = np.concatenate(at)
    order = np.argsort(times, kind="stable")
    return Schedule(times[order], np.concatenate(who)[order], np.concatenate(com)[order])


# --- results -------------------------------------------------------------------------------

WEEKLY = (
    "posts",
    "commercial_posts",
    "deliveries",
    "commercial_deliveries",
    "unique_reached",
    "engagements",
    "conversions",
    "mutes",
    "blocks",
    "unfriends",
    "hides",
)


@dataclass
class ArmResult:
    """One arm: totals, weekly curves (``weekly[name][week]``) and decision counts."""

    name: str
    weeks: int
    totals: dict[str, float] = field(default_factory=dict)
    weekly: dict[str, np.ndarray] = field(default_factory=dict)
    outcomes: Counter = field(default_factory=Counter)
    suppressed: Counter = field(default_factory=Counter)
    # Filled when simulate(record=True): for the cap checks of the tests.
    published: list[tuple[float, int, bool, bool]] = field(default_factory=list)
    deliveries: list[tuple[float, int, int, bool, float]] = field(default_factory=list)

    @property
    def mutes_blocks(self) -> float:
        return self.totals["mutes"] + self.totals["blocks"]


@dataclass
class Comparison:
    on: ArmResult
    off: ArmResult
    policy: FatiguePolicy
    params: ModelParams
    network_size: int
    senders: int
    seconds: float = 0.0

    def ratios(self) -> dict[str, float]:
        """Averted / lost shares, on vs off (NaN where the off arm has none)."""

        def change(name: str) -> float:
            before = self.off.totals[name]
            return (before - self.on.totals[name]) / before if before else float("nan")

        off_mb = self.off.mutes_blocks
        return {
            "mutes_blocks_averted": (off_mb - self.on.mutes_blocks) / off_mb
            if off_mb
            else float("nan"),
            "mutes_averted": change("mutes"),
            "blocks_averted": change("blocks"),
            "unfriends_averted": change("unfriends"),
            "reach_lost": change("commercial_reached"),
            "weekly_reach_lost": change("weekly_reached"),
            "deliveries_lost": change("commercial_deliveries"),
            "engagements_lost": change("engagements"),
            "conversions_lost": change("conversions"),
        }

    def goal_met(self) -> dict[str, bool]:
        """The goal: ≥ 50% of mutes/blocks averted for ≤ 10% less reach, judged on unique
        recipients reached over the run, on the mean weekly unique reach and on commercial
        deliveries (strictest)."""
        r = self.ratios()
        averted = r["mutes_blocks_averted"] >= 0.5
        return {
            "unique_reach": bool(averted and r["reach_lost"] <= 0.10),
            "weekly_reach": bool(averted and r["weekly_reach_lost"] <= 0.10),
            "deliveries": bool(averted and r["deliveries_lost"] <= 0.10),
        }


# --- the engine ----------------------------------------------------------------------------


def policy_off(policy: FatiguePolicy) -> FatiguePolicy:
    """Every rule switched off (same zone): `decide` admits everyone with consent."""
    return replace(policy, enabled_rules=frozenset(), brand_account_rules=frozenset())


def default_start(policy: FatiguePolicy) -> datetime:
    """A Monday, local midnight in the policy's zone."""
    return datetime(2025, 3, 3, tzinfo=policy.zone).astimezone(UTC)


class _Recipients(Sequence):
    """The friends `decide` screens, built lazily as it iterates (a rejected or deferred post
    never builds them)."""

    def __init__(self, count: int, build: Any):
        self._count = count
        self._build = build

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> RecipientState:  # type: ignore[override]
        states = list(self._build())
        return states[index]

    def __iter__(self) -> Iterator[RecipientState]:
        return self._build()


class _Sim:
    """One arm's state: slots are (sender, friend) pairs, tracked edges carry the ties."""

    def __init__(
        self,
        network: Network,
        policy: FatiguePolicy,
        params: ModelParams,
        weeks: int,
        seed: int,
        start: datetime,
        tie_params: scoring.TieParams,
        record: bool,
        name: str,
    ):
        self.net, self.policy, self.params = network, policy, params
        self.weeks, self.seed, self.start, self.tp = weeks, seed, start, tie_params
        self.record = record
        self.result = ArmResult(name=name, weeks=weeks)
        n = network.n
        senders_mask = network.brand_account.copy()
        senders_mask[network.advocates] = True
        self.senders = np.flatnonzero(senders_mask)

        # Slots: both directions of every edge whose first end is a sender, grouped by sender.
        e = np.arange(network.low.size)
        src = np.concatenate([network.low, network.high])
        dst = np.concatenate([network.high, network.low])
        eid = np.concatenate([e, e])
        keep = senders_mask[src]
        src, dst, eid = src[keep], dst[keep], eid[keep]
        order = np.lexsort((dst, src))
        src, dst, eid = src[order], dst[order], eid[order]
        self.slot_sender, self.slot_recipient = src, dst
        tracked, slot_tie = np.unique(eid, return_inverse=True)
        self.slot_tie = slot_tie
        self.ptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(self.ptr, src + 1, 1)
        self.ptr = np.cumsum(self.ptr)
        n_slots = src.size
        # Direction of the affinity "friend → sender" on the tie: 0 when the friend is low.
        self.slot_out = (network.low[eid] != dst).astype(np.int64)
        t_low, t_high = network.low[tracked], network.high[tracked]
        self.tie_low, self.tie_high = t_low, t_high
        self.tie_days0 = network.friend_days[tracked].astype(float)
        self.tie_jaccard = _jaccard(network, t_low, t_high)
        self.tie_dead = np.zeros(tracked.size, dtype=bool)
        self.pairs = self._prior_ties(tracked.size, t_low, t_high)
        self.score = np.array([[p.score for p in row] for row in self.pairs]).reshape(-1, 2)
        self.last = np.where(self.score != 0, 0.0, np.nan)  # seconds since the start
        self.strength = np.zeros(tracked.size)

        self.muted = np.zeros(n_slots, dtype=bool)
        self.hide_at = np.full(n_slots, np.nan)
        self.last_delivery = np.full(n_slots, -np.inf)
        self.ring = np.full((n_slots, _RING), -np.inf)
        self.ring_pos = np.zeros(n_slots, dtype=np.int64)

        days = weeks * 7
        self.day_bins = np.zeros((days + 8, n), dtype=np.int32)  # commercial exposures per day
        self.ignored = np.zeros(n_slots, dtype=np.int64)  # per (sender, friend) pair
        self.ignored_at = np.full(n_slots, np.nan)
        self.first_negative = np.full(n, np.inf)  # a friend's first mute/block/unfriend
        self.exposure_dt: list[list[datetime]] = [[] for _ in range(n)]
        self.bought = np.full(n, -1, dtype=np.int64)  # last 28-day period with a purchase
        self.buyer_periods: Counter = Counter()
        self.audience = np.zeros(n, dtype=bool)
        self.audience[self.slot_recipient[network.consent[self.slot_recipient]]] = True
        self.audience &= ~network.brand_account

        self.posts: dict[int, list[SentPost]] = {int(s): [] for s in self.senders}
        self.negatives: dict[int, list[float]] = {int(s): [] for s in self.senders}
        self.paused_until: dict[int, float] = {}
        self.reached_ever = np.zeros(n, dtype=bool)
        self.reached_week = np.zeros(n, dtype=bool)
        self.received_today = np.zeros(n, dtype=bool)
        self.daily_ad_share: list[float] = []
        self.weekly = {name: np.zeros(weeks) for name in WEEKLY}
        self.totals: Counter = Counter()
        self.today = -1
        self.caps_on = policy.applies(Rule.RECIPIENT_DAILY_CAP, SenderKind.ADVOCATE) or (
            policy.applies(Rule.RECIPIENT_WEEKLY_CAP, SenderKind.ADVOCATE)
            or policy.applies(Rule.RECIPIENT_DAILY_CAP, SenderKind.BRAND_ACCOUNT)
            or policy.applies(Rule.RECIPIENT_WEEKLY_CAP, SenderKind.BRAND_ACCOUNT)
        )

    # --- ties -----------------------------------------------------------------------------
    def _prior_ties(self, count: int, low: np.ndarray, high: np.ndarray) -> list[list[Any]]:
        """A past interaction level per direction (see the module docstring)."""
        p = self.params
        rng = np.random.default_rng([self.seed, 2])
        brand = self.net.brand_account[low] | self.net.brand_account[high]
        jac = self.tie_jaccard
        active = np.where(brand, p.prior_active_brand, p.prior_active_consumer)
        mean = np.where(brand, p.prior_mean_brand, p.prior_mean_consumer * (1 + 4 * jac))
        a = np.where(rng.random(count) < active, rng.exponential(1.0, count) * mean, 0.0)
        # The other direction: correlated between consumers, independent (one-sided) for brands.
        echo = a * rng.lognormal(0.0, 0.7, count)
        alone = np.where(rng.random(count) < active, rng.exponential(1.0, count) * mean, 0.0)
        b = np.where(brand, alone, echo)
        at = self.start
        rows = []
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            rows.append(
                [
                    scoring.PairState(x, at, {"like": x}) if x > 0 else scoring.PairState(),
                    scoring.PairState(y, at, {"like": y}) if y > 0 else scoring.PairState(),
                ]
            )
        return rows

    def _rescore(self, t: float) -> None:
        """Strength of every tracked tie at ``t`` (the scoring formula, vectorised)."""
        tp = self.tp
        has = np.isfinite(self.last) & (self.score != 0)
        age = np.where(has, t - self.last, 0.0)
        value = np.where(has, self.score * np.exp2(-age / tp.half_life_seconds), 0.0)
        value = np.maximum(value, 0.0)
        high = value.max(axis=1)
        low = value.min(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recip = np.where(
                high > 0,
                np.minimum(tp.reciprocity_floor + (1 - tp.reciprocity_floor) * low / high, 1.0),
                1.0,
            )
        intensity = value.sum(axis=1) * recip
        active = intensity[intensity > scoring.ACTIVE_INTENSITY_MIN]  # scoring.is_active
        kappa = (
            max(float(np.percentile(active, tp.kappa_percentile)), tp.kappa_min)
            if active.size
            else tp.kappa_default
        )
        days = self.tie_days0 + t / DAY_S
        d_factor = 1 + tp.duration_weight * (
            1 - np.exp(-np.minimum(np.maximum(days, 0.0) / tp.duration_scale_days, 700.0))
        )
        m_factor = 1 + tp.mutual_weight * np.clip(self.tie_jaccard, 0.0, 1.0)
        evidence = intensity * d_factor * m_factor
        s = 1 - (1 + scoring.saturation_scale(tp) * evidence / kappa) ** (-tp.saturation_power)
        self.strength = np.clip(s, 0.0, 1.0)

    def _event(self, tie: int, direction: int, kind: str, at: datetime, t: float) -> None:
        state = scoring.apply(self.pairs[tie][direction], kind, at, params=self.tp)
        self.pairs[tie][direction] = state
        self.score[tie, direction] = state.score
        self.last[tie, direction] = (state.last_at - self.start).total_seconds()

    # --- days -----------------------------------------------------------------------------
    def _new_day(self, day: int, t: float) -> None:
        while self.today < day:
            if self.today >= 0:
                audience = max(int(self.audience.sum()), 1)
                share = (self.received_today & self.audience).sum() / audience
                self.daily_ad_share.append(float(share))
            self.today += 1
            self.received_today[:] = False
            if self.today % 7 == 0:
                self.reached_week[:] = False
        self._rescore(t)

    # --- one post -------------------------------------------------------------------------
    def run(self, plan: Schedule) -> ArmResult:
        horizon = self.weeks * 7 * DAY_S
        queue: list[tuple[float, int, int, bool]] = [
            (float(t), i, int(s), bool(c))
            for i, (t, s, c) in enumerate(
                zip(plan.at.tolist(), plan.sender.tolist(), plan.commercial.tolist(), strict=True)
            )
        ]
        heapq.heapify(queue)
        while queue:
            t, post, sender, commercial = heapq.heappop(queue)
            if t >= horizon:
                self.result.outcomes["deferred past the end"] += 1
                continue
            day = int(t // DAY_S)
            if day != self.today:
                self._new_day(day, t)
            again = self._post(t, post, sender, commercial)
            if again is not None:
                heapq.heappush(queue, (again, post, sender, commercial))
        self._new_day(self.weeks * 7, horizon)
        return self._finish()

    def _sender_history(self, sender: int, t: float, now: datetime) -> SenderHistory:
        window = self.policy.window_days * DAY_S
        edge = now - self.policy.window
        posts = self.posts[sender]
        while posts and posts[0].at <= edge:
            posts.pop(0)
        negatives = self.negatives[sender]
        while negatives and negatives[0] <= t - window:
            negatives.pop(0)
        lo, hi = self.ptr[sender], self.ptr[sender + 1]
        reached = int(np.count_nonzero(self.last_delivery[lo:hi] > t - window))
        kind = SenderKind.BRAND_ACCOUNT if self.net.brand_account[sender] else SenderKind.ADVOCATE
        return SenderHistory(
            sender_id=sender,
            kind=kind,
            posts=posts,
            recipients_reached=reached,
            negative_actions=len(negatives),
        )

    def _post(self, t: float, post: int, sender: int, commercial: bool) -> float | None:
        """Decide and deliver one post; returns the time to decide it again when deferred."""
        is_brand = bool(self.net.brand_account[sender])
        if commercial and not is_brand and self.paused_until.get(sender, -1.0) > t:
            self.result.outcomes["advocate paused"] += 1
            return None
        now = self.start + timedelta(seconds=t)
        history = self._sender_history(sender, t, now)
        lo, hi = self.ptr[sender], self.ptr[sender + 1]
        slots = np.arange(lo, hi)
        slots = slots[~self.muted[slots] & ~self.tie_dead[self.slot_tie[slots]]]
        recipients = _Recipients(slots.size, self._builder(slots, commercial, now, sender))
        decision = rules.decide(self.policy, now, commercial, history, recipients)
        if decision.pause_advocate:
            self.paused_until[sender] = t + self.params.pause_days * DAY_S
        if decision.decision is Outcome.DEFERRED:
            self.result.outcomes["deferred"] += 1
            return (decision.deferred_until - self.start).total_seconds()
        if decision.decision is Outcome.REJECTED:
            self.result.outcomes["rejected"] += 1
            for reason in decision.reasons:
                self.result.outcomes[f"rejected: {reason.code}"] += 1
            return None
        self.result.outcomes["published"] += 1
        self.result.suppressed.update(decision.exclusions.values())
        self.posts[sender].append(SentPost(now, commercial))
        admitted = np.fromiter(decision.admitted, dtype=np.int64, count=len(decision.admitted))
        if self.record:
            self.result.published.append((t, sender, commercial, decision.caps_halved))
        self._deliver(t, now, post, sender, commercial, admitted)
        return None

    def _builder(self, slots: np.ndarray, commercial: bool, now: datetime, sender: int):
        recipients = self.slot_recipient[slots]
        strength = self.strength[self.slot_tie[slots]].tolist()
        hide = self.hide_at[slots]
        slot_list, recipient_list = slots.tolist(), recipients.tolist()
        hide_list = hide.tolist()
        consent = self.net.consent[recipients]
        if self.net.mass_consent is not None and self.net.brand_account[sender]:
            consent = consent & self.net.mass_consent[recipients]
        consent = consent.tolist()
        ignored = self.ignored[slots].tolist()
        ignored_at = self.ignored_at[slots].tolist()
        start, edge = self.start, now - self.policy.window
        exposures = self.exposure_dt if (commercial and self.caps_on) else None

        def build() -> Iterator[RecipientState]:
            for i, slot in enumerate(slot_list):
                r = recipient_list[i]
                h = hide_list[i]
                negatives = {} if h != h else {"hide_post": start + timedelta(seconds=h)}
                seen: Sequence[datetime] = ()
                if exposures is not None:
                    times = exposures[r]
                    while times and times[0] <= edge:
                        times.pop(0)
                    seen = times
                g = ignored_at[i]
                yield RecipientState(
                    recipient_id=slot,
                    strength=strength[i],
                    exposures=seen,
                    negatives=negatives,
                    ignored_in_row=ignored[i],
                    last_ignored_at=None if g != g else start + timedelta(seconds=g),
                    marketing_consent=consent[i],
                )

        return build

    def _deliver(
        self, t: float, now: datetime, post: int, sender: int, commercial: bool, slots: np.ndarray
    ) -> None:
        p = self.params
        week = min(int(t // (7 * DAY_S)), self.weeks - 1)
        day = int(t // DAY_S)
        r = self.slot_recipient[slots]
        tie = self.slot_tie[slots]
        w = self.strength[tie]
        self.weekly["posts"][week] += 1
        self.weekly["deliveries"][week] += slots.size
        self.last_delivery[slots] = t
        if commercial:
            self.weekly["commercial_posts"][week] += 1
            self.weekly["commercial_deliveries"][week] += slots.size
            self.day_bins[day, r] += 1
            pos = self.ring_pos[slots]
            self.ring[slots, pos % _RING] = t
            self.ring_pos[slots] = pos + 1
            new = r[~self.reached_week[r]]
            self.weekly["unique_reached"][week] += new.size
            self.reached_week[r] = True
            self.reached_ever[r] = True
            self.received_today[r] = True
            if self.caps_on:
                for rid in r.tolist():
                    self.exposure_dt[rid].append(now)
            if self.record:
                self.result.deliveries.extend(
                    (t, sender, rid, True, ws)
                    for rid, ws in zip(r.tolist(), w.tolist(), strict=True)
                )
        if slots.size == 0:
            return

        seen = uniforms(self.seed, post, r, 0) < p.view_rate
        u = uniforms(self.seed, post, r, 1)
        if commercial:
            x = self.day_bins[max(day - 6, 0) : day + 1, r].sum(axis=0)
            b = (self.ring[slots] > t - 7 * DAY_S).sum(axis=1)
            p_neg = negative_probability(p, x, b, w)
            p_eng = engagement_probability(p, x, w)
        else:
            p_neg = p.neg_base_personal * np.exp(-p.neg_strength * w)
            p_eng = _sigmoid(_logit(p.eng_base_personal) + p.eng_strength * w)
        negative = seen & (u < p_neg)
        engaged = seen & ~negative & (u < p_neg + (1 - p_neg) * p_eng)
        if commercial:
            self.ignored[slots[engaged]] = 0
            idle = slots[~engaged]
            self.ignored[idle] += 1
            self.ignored_at[idle] = t

        # Engagements: ties move through scoring.apply.
        kinds = _pick(uniforms(self.seed, post, r, 2), p.engagement_split)
        reply = uniforms(self.seed, post, r, 3) < p.reply_rate
        convert = uniforms(self.seed, post, r, 4) < p.conversion_rate * (0.5 + w)
        out_dir = self.slot_out[slots]
        names = [name for name, _ in p.engagement_split]
        for i in np.flatnonzero(engaged).tolist():
            kind = names[kinds[i]]
            self._event(tie[i], out_dir[i], kind, now, t)
            if kind == "comment" and reply[i]:
                self._event(tie[i], 1 - out_dir[i], "reply", now, t)
            if commercial and convert[i]:
                self._event(tie[i], out_dir[i], "purchase", now, t)
                self.weekly["conversions"][week] += 1
                period = day // 28
                rid = int(r[i])
                if self.bought[rid] != period and self.audience[rid]:
                    self.bought[rid] = period
                    self.buyer_periods[period] += 1
        self.weekly["engagements"][week] += int(engaged.sum())

        # Negative reactions.
        if negative.any():
            split = (
                p.brand_negative_split
                if self.net.brand_account[sender]
                else (p.advocate_negative_split)
            )
            chosen = _pick(uniforms(self.seed, post, r, 5), split)
            names = [name for name, _ in split]
            for i in np.flatnonzero(negative).tolist():
                signal = names[chosen[i]]
                slot = slots[i]
                self.negatives[sender].append(t)
                if signal != "hide_post":
                    rid = int(r[i])
                    self.first_negative[rid] = min(self.first_negative[rid], t)
                if signal == "mute_author":
                    self.muted[slot] = True
                    self.weekly["mutes"][week] += 1
                elif signal == "block":
                    self.tie_dead[tie[i]] = True
                    self.weekly["blocks"][week] += 1
                elif signal == "unfriend":
                    self.tie_dead[tie[i]] = True
                    self.weekly["unfriends"][week] += 1
                else:
                    self.hide_at[slot] = t
                    self.weekly["hides"][week] += 1

    def _finish(self) -> ArmResult:
        res = self.result
        res.weekly = self.weekly
        totals = {name: float(values.sum()) for name, values in self.weekly.items()}
        totals.pop("unique_reached")
        totals["commercial_reached"] = float(self.reached_ever.sum())
        totals["weekly_reached"] = float(self.weekly["unique_reached"].mean())
        totals["daily_ad_share"] = (
            float(np.mean(self.daily_ad_share)) if self.daily_ad_share else 0.0
        )
        periods = max(self.weeks // 4, 1)
        audience = max(int(self.audience.sum()), 1)
        totals["monthly_buyer_share"] = (
            sum(self.buyer_periods[k] for k in range(periods)) / periods / audience
        )
        totals["audience"] = float(audience)
        # Kwak et al.: 43% of active Twitter users unfollowed someone within 51 days.
        early = (self.first_negative < 51 * DAY_S) & self.audience
        totals["negative_51d_share"] = float(early.sum()) / audience
        res.totals = totals
        return res


def _jaccard(network: Network, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Mutual-friend Jaccard of each (low, high) pair in the current graph."""
    n = network.n
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for a, b in zip(network.low.tolist(), network.high.tolist(), strict=True):
        neighbours[a].add(b)
        neighbours[b].add(a)
    out = np.zeros(low.size)
    for i, (a, b) in enumerate(zip(low.tolist(), high.tolist(), strict=True)):
        na, nb = neighbours[a], neighbours[b]
        small, big = (na, nb) if len(na) < len(nb) else (nb, na)
        mutual = sum(1 for x in small if x in big)
        out[i] = scoring.jaccard_from_counts(mutual, len(na) - 1, len(nb) - 1)
    return out


def simulate(
    network: Network,
    policy: FatiguePolicy,
    *,
    weeks: int = 12,
    seed: int = 0,
    params: ModelParams | None = None,
    tie_params: scoring.TieParams | None = None,
    start: datetime | None = None,
    record: bool = False,
    name: str = "policy",
) -> ArmResult:
    """One arm: ``weeks`` of the schedule for ``seed`` decided under ``policy``."""
    params = params or ModelParams()
    start = start or default_start(policy)
    plan = schedule(network, params, weeks, seed)
    sim = _Sim(
        network,
        policy,
        params,
        weeks,
        seed,
        start,
        tie_params or scoring.DEFAULT_PARAMS,
        record,
        name,
    )
    return sim.run(plan)


def compare(
    network: Network,
    policy: FatiguePolicy,
    *,
    weeks: int = 12,
    seed: int = 0,
    params: ModelParams | None = None,
    tie_params: scoring.TieParams | None = None,
    record: bool = False,
) -> Comparison:
    """Both arms from the same seed: ``policy`` on, and every rule off."""
    import time as _time

    began = _time.perf_counter()
    params = params or ModelParams()
    kwargs = {
        "weeks": weeks,
        "seed": seed,
        "params": params,
        "tie_params": tie_params,
        "start": default_start(policy),
        "record": record,
    }
    on = simulate(network, policy, name="policy on", **kwargs)
    off = simulate(network, policy_off(policy), name="policy off", **kwargs)
    senders = int(network.brand_account.sum()) + int(network.advocates.size)
    return Comparison(
        on=on,
        off=off,
        policy=policy,
        params=params,
        network_size=network.n,
        senders=senders,
        seconds=_time.perf_counter() - began,
    )


# --- report ------------------------------------------------------------------------------

ROWS = (
    ("commercial_reached", "unique recipients reached (commercial)"),
    ("weekly_reached", "  per week (mean)"),
    ("commercial_deliveries", "commercial deliveries"),
    ("deliveries", "all deliveries"),
    ("commercial_posts", "commercial posts published"),
    ("engagements", "engagements"),
    ("conversions", "conversions"),
    ("mutes", "mutes"),
    ("blocks", "blocks"),
    ("unfriends", "unfriends"),
    ("hides", "hidden posts"),
)


def report(comparison: Comparison) -> str:
    """The text table the command prints."""
    on, off = comparison.on, comparison.off
    lines = [
        f"{'':40} {'policy off':>12} {'policy on':>12} {'change':>9}",
    ]
    for key, label in ROWS:
        a, b = off.totals[key], on.totals[key]
        change = f"{(b - a) / a:+.1%}" if a else "—"
        lines.append(f"{label:40} {a:12,.0f} {b:12,.0f} {change:>9}")
    a, b = off.mutes_blocks, on.mutes_blocks
    lines.append(f"{'mutes + blocks':40} {a:12,.0f} {b:12,.0f} {((b - a) / a if a else 0):+9.1%}")
    r = comparison.ratios()
    goal = comparison.goal_met()

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines += [
        "",
        f"mutes/blocks averted: {r['mutes_blocks_averted']:.1%}   reach lost: "
        f"{r['reach_lost']:.1%} (unique over the run), {r['weekly_reach_lost']:.1%} (unique "
        f"per week), {r['deliveries_lost']:.1%} (commercial deliveries)",
        "goal (≥ 50% averted for ≤ 10% less reach): "
        f"{verdict(goal['unique_reach'])} on unique reach, "
        f"{verdict(goal['weekly_reach'])} on weekly reach, "
        f"{verdict(goal['deliveries'])} on deliveries",
        "",
        "calibration (policy off vs the seeds): friends' ads seen on a day by "
        f"{off.totals['daily_ad_share']:.0%} of the audience (seed: > 60% receive them daily); "
        f"{off.totals['monthly_buyer_share']:.1%} buy per 4 weeks (seed: 4.2%); "
        f"{off.totals['negative_51d_share']:.0%} mute, block or unfriend someone within 51 "
        "days (Kwak et al.: 43% of active users unfollow within 51 days)",
        "decisions (policy on): "
        + ", ".join(f"{k} {v}" for k, v in sorted(on.outcomes.items()) if v),
        "suppressed (policy on): " + ", ".join(f"{k} {v}" for k, v in on.suppressed.most_common()),
    ]
    return "\n".join(lines)


def plot(comparison: Comparison, path: str, title: str = "") -> None:
    """Weekly curves of both arms into a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = (
        ("commercial_deliveries", "commercial deliveries"),
        ("unique_reached", "unique recipients reached per week"),
        ("engagements", "engagements"),
        ("conversions", "conversions"),
        ("mutes+blocks", "mutes + blocks"),
        ("unfriends", "unfriends"),
    )
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    weeks = np.arange(1, comparison.on.weeks + 1)
    for ax, (key, label) in zip(axes.flat, panels, strict=True):
        for arm, style in ((comparison.off, "C3"), (comparison.on, "C0")):
            if key == "mutes+blocks":
                values = arm.weekly["mutes"] + arm.weekly["blocks"]
            else:
                values = arm.weekly[key]
            ax.plot(weeks, values, marker="o", ms=3, color=style, label=arm.name)
        ax.set_title(label)
        ax.set_xlabel("week")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes.flat[0].legend()
    r = comparison.ratios()
    fig.suptitle(
        (title + "\n" if title else "")
        + f"mutes/blocks averted {r['mutes_blocks_averted']:.0%}, unique reach lost "
        f"{r['reach_lost']:.0%}, deliveries lost {r['deliveries_lost']:.0%}"
    )
    fig.savefig(path, dpi=110)
    plt.close(fig)
