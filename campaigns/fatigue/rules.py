"""Fatigue rules (SPEC "Fatigue rules"): pure functions, no ORM, no Redis.

`decide(policy, now, post_is_commercial, sender, recipients)` returns the whole decision for
one post: published / deferred / rejected with reasons, the per-recipient exclusions, and the
`CounterPlan` the live path hands to `campaigns.fatigue.counters` (which re-checks and consumes
the counted windows atomically in Redis). Called without consuming anything it is the preview;
the simulator calls it directly.

Recipients come as `RecipientState` objects or, on the live path, as `RecipientColumns` (the
same states as numpy columns, times in integer µs); the per-recipient rules are evaluated
over whole columns either way (`screen_recipients`).

Definitions (chosen here, tested at their edges):
- "per day" is the calendar day in the brand's time zone: from local 00:00 (inclusive).
- "rolling N days" is the half-open window (t − N days, t]: an event exactly N days old is out.
- Minimum gap: a commercial post exactly ``min_gap`` after the sender's last one is allowed.
- Quiet hours are [start, end) local time, across midnight when start > end; 22:00 is quiet,
  08:00 is not. They and the minimum gap *defer* a commercial post to the first time both
  allow it; the caps, the commercial share and sender health *reject* it (deferring a sender
  who is over a cap would only queue the flood). The caps are checked as of the deferred time.
- Commercial share: the share *after* this post, (c + 1) / (n + 1) over the window, must not
  exceed the maximum; so with 50 % a commercial post needs a non-commercial one beside it.
- Recipient budgets: base cap × (0.5 + strength), rounded half up: floor(x + 0.5), so a weak
  tie keeps at least half its base budget rather than none. With the defaults the daily budget
  stays 1 (it reaches 1.5 → 2 only at strength 1.0) and the weekly one is 2, 3, 4, 5, 6 as
  strength crosses 0.125, 0.375, 0.625, 0.875. A base cap of 0 stays 0.
- Sender health halves the sender's daily and weekly caps (floor, but not below 1), never the
  recipients' budgets; above the pause rate a commercial post is rejected and, for an advocate,
  `Decision.pause_advocate` is set for the caller to pause them.
- Cool-downs run from the recipient's latest negative signal on this sender and apply to every
  post, commercial or not; a cool-down of N days ends exactly N days later. Marketing consent,
  the back-off and the recipient budgets apply to commercial posts only; consent cannot be
  switched off.
- Non-commercial posts skip every commercial rule (caps, gap, share, quiet hours, health,
  consent, back-off, budgets) but never reach a pair in a cool-down.
- Back-off: after k ≥ ``backoff_after_ignored`` ignored commercial exposures in a row, the
  recipient is skipped until base × 2^(k − after) days (at most ``backoff_max_days``) after
  the last of them: 2, 4, 8 … 30 days with the defaults.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np


class Rule(StrEnum):
    """Rule codes: the keys of ``enabled_rules`` / ``brand_account_rules`` and of reasons."""

    QUIET_HOURS = "quiet_hours"
    SENDER_DAILY_CAP = "sender_daily_cap"
    SENDER_WEEKLY_CAP = "sender_weekly_cap"
    SENDER_MIN_GAP = "sender_min_gap"
    SENDER_COMMERCIAL_SHARE = "sender_commercial_share"
    SENDER_HEALTH = "sender_health"
    RECIPIENT_DAILY_CAP = "recipient_daily_cap"
    RECIPIENT_WEEKLY_CAP = "recipient_weekly_cap"
    COOLDOWN = "cooldown"
    BACKOFF = "backoff"


ALL_RULES = frozenset(rule.value for rule in Rule)

# Negative signal → per-recipient exclusion code.
COOLDOWN_REASONS: Mapping[str, str] = {
    "block": "blocked",
    "report": "reported",
    "unfriend": "unfriended",
    "mute_author": "muted",
    "hide_post": "hidden_post",
}
# A recipient who withdrew consent to commercial posts (or, for a brand account's post, to the
# brand's mass messages): never receives a commercial delivery.
NO_CONSENT = "consent"
BACKOFF_REASON = "backoff"
DEFAULT_COOLDOWN_DAYS: Mapping[str, int | None] = {
    "block": None,
    "report": None,
    "mute_author": 90,
    "unfriend": 90,
    "hide_post": 30,
}


class SenderKind(StrEnum):
    ADVOCATE = "advocate"
    BRAND_ACCOUNT = "brand_account"
    CONSUMER = "consumer"


class Outcome(StrEnum):
    PUBLISHED = "published"
    DEFERRED = "deferred"
    REJECTED = "rejected"


# Per-recipient exclusion codes, in the order the screening applies them (0: admitted).
_REASONS: tuple[str | None, ...] = (
    None,
    *COOLDOWN_REASONS.values(),
    NO_CONSENT,
    BACKOFF_REASON,
    Rule.RECIPIENT_DAILY_CAP.value,
    Rule.RECIPIENT_WEEKLY_CAP.value,
)
_REASON_INDEX = {code: index for index, code in enumerate(_REASONS) if code}


class PolicyError(ValueError):
    """A policy that cannot be used; ``errors`` maps field names to messages."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    hours, minutes = str(value).split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class FatiguePolicy:
    """One brand's fatigue rules; defaults are SPEC's. See the module docstring for edges."""

    time_zone: str = "Asia/Shanghai"
    sender_daily_cap: int = 2
    sender_weekly_cap: int = 8
    sender_min_gap_hours: float = 3.0
    sender_commercial_share_max: float = 0.5
    quiet_hours_start: time = time(22, 0)
    quiet_hours_end: time = time(8, 0)
    recipient_daily_cap: int = 1
    recipient_weekly_cap: int = 4
    window_days: int = 7
    cooldown_days: Mapping[str, int | None] = field(
        default_factory=lambda: dict(DEFAULT_COOLDOWN_DAYS)
    )
    backoff_after_ignored: int = 3
    backoff_base_days: float = 2.0
    backoff_max_days: float = 30.0
    health_halve_rate: float = 0.001
    health_pause_rate: float = 0.003
    enabled_rules: frozenset[str] = ALL_RULES
    # Rules that also bind brand-operated accounts (all of them unless staff say otherwise).
    brand_account_rules: frozenset[str] = ALL_RULES

    # --- building ----------------------------------------------------------------------
    @classmethod
    def from_settings(cls, **overrides: Any) -> FatiguePolicy:
        """The defaults of ``settings.SCRM_FATIGUE`` (upper-case keys), then ``overrides``."""
        from django.conf import settings

        raw = getattr(settings, "SCRM_FATIGUE", {})
        data: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.lower()
            if name == "quiet_hours_start" or name == "quiet_hours_end":
                data[name] = _parse_time(value)
            elif name in cls.__dataclass_fields__:
                data[name] = value
        data.update(overrides)
        return cls(**data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: FatiguePolicy | None = None) -> FatiguePolicy:
        """Parse a stored or submitted policy (``as_dict`` shape) over ``base``; raises
        `PolicyError` naming every bad field (unknown fields included)."""
        policy = cls._parsed(data, base or cls())
        problems = policy.validate()
        if problems:
            raise PolicyError(problems)
        return policy

    @classmethod
    def from_stored(cls, data: Mapping[str, Any], base: FatiguePolicy) -> FatiguePolicy:
        """Parse a policy stored by `from_dict` (so already validated) over ``base``: types
        only, no range checks; raises `PolicyError` for a field it cannot parse or does not
        know (a field renamed in code)."""
        return cls._parsed(data, base)

    @classmethod
    def _parsed(cls, data: Mapping[str, Any], base: FatiguePolicy) -> FatiguePolicy:
        """``base`` with the fields of ``data`` coerced to their types (no range checks);
        `PolicyError` naming every unknown or unparsable field."""
        fields = cls.__dataclass_fields__
        errors = dict.fromkeys(sorted(data.keys() - fields.keys()), "unknown field")
        values: dict[str, Any] = {}
        for name, spec in fields.items():
            if name not in data:
                values[name] = getattr(base, name)
                continue
            try:
                values[name] = _coerce(name, spec.type, data[name])
            except (TypeError, ValueError):
                errors[name] = f"{data[name]!r} is not a valid value"
        if errors:
            raise PolicyError(errors)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as "HH:MM", rule sets as sorted lists."""
        data = asdict(self)
        data["quiet_hours_start"] = self.quiet_hours_start.strftime("%H:%M")
        data["quiet_hours_end"] = self.quiet_hours_end.strftime("%H:%M")
        data["cooldown_days"] = dict(self.cooldown_days)
        data["enabled_rules"] = sorted(self.enabled_rules)
        data["brand_account_rules"] = sorted(self.brand_account_rules)
        return data

    # --- checking ----------------------------------------------------------------------
    def validate(self) -> dict[str, str]:
        """Field name → message for every value out of its sensible range (empty when valid)."""
        errors: dict[str, str] = {}

        def need(ok: bool, name: str, message: str) -> None:
            if not ok and name not in errors:
                errors[name] = message

        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            errors["time_zone"] = f"{self.time_zone!r} is not an IANA time zone"
        for name in ("sender_daily_cap", "sender_weekly_cap"):
            need(_is_int(getattr(self, name), 0, 1000), name, "must be a whole number 0–1000")
        for name in ("recipient_daily_cap", "recipient_weekly_cap"):
            need(_is_int(getattr(self, name), 0, 100), name, "must be a whole number 0–100")
        if not errors.get("sender_weekly_cap") and not errors.get("sender_daily_cap"):
            need(
                self.sender_weekly_cap >= self.sender_daily_cap,
                "sender_weekly_cap",
                "must be ≥ sender_daily_cap",
            )
        if not errors.get("recipient_weekly_cap") and not errors.get("recipient_daily_cap"):
            need(
                self.recipient_weekly_cap >= self.recipient_daily_cap,
                "recipient_weekly_cap",
                "must be ≥ recipient_daily_cap",
            )
        need(_is_int(self.window_days, 1, 31), "window_days", "must be a whole number 1–31 days")
        need(
            _is_num(self.sender_min_gap_hours, 0, 72),
            "sender_min_gap_hours",
            "must be between 0 and 72 hours",
        )
        need(
            _is_num(self.sender_commercial_share_max, 0, 1)
            and self.sender_commercial_share_max > 0,
            "sender_commercial_share_max",
            "must be a share in (0, 1]",
        )
        need(isinstance(self.quiet_hours_start, time), "quiet_hours_start", "must be a time HH:MM")
        need(isinstance(self.quiet_hours_end, time), "quiet_hours_end", "must be a time HH:MM")
        if "quiet_hours_start" not in errors and "quiet_hours_end" not in errors:
            need(
                self.quiet_hours_start != self.quiet_hours_end,
                "quiet_hours_end",
                "must differ from quiet_hours_start (switch the rule off instead)",
            )
        if not isinstance(self.cooldown_days, Mapping):
            errors["cooldown_days"] = "must map negative signals to days"
        else:
            for signal, days in self.cooldown_days.items():
                if signal not in COOLDOWN_REASONS:
                    errors[f"cooldown_days.{signal}"] = "unknown negative signal"
                elif days is not None and not _is_int(days, 0, 3650):
                    errors[f"cooldown_days.{signal}"] = "must be null (for good) or 0–3650 days"
        need(
            _is_int(self.backoff_after_ignored, 1, 100),
            "backoff_after_ignored",
            "must be a whole number 1–100",
        )
        need(_is_num(self.backoff_base_days, 0, 365), "backoff_base_days", "must be 0–365 days")
        need(
            _is_num(self.backoff_max_days, 0, 365)
            and self.backoff_max_days >= self.backoff_base_days,
            "backoff_max_days",
            "must be 0–365 days and ≥ backoff_base_days",
        )
        need(_is_num(self.health_halve_rate, 0, 1), "health_halve_rate", "must be a rate 0–1")
        need(
            _is_num(self.health_pause_rate, 0, 1)
            and self.health_pause_rate >= self.health_halve_rate,
            "health_pause_rate",
            "must be a rate 0–1 and ≥ health_halve_rate",
        )
        for name in ("enabled_rules", "brand_account_rules"):
            unknown = set(getattr(self, name)) - ALL_RULES
            need(not unknown, name, f"unknown rules: {', '.join(sorted(map(str, unknown)))}")
        return errors

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    def applies(self, rule: str, sender_kind: str) -> bool:
        """Is ``rule`` on for a sender of this kind?"""
        if rule not in self.enabled_rules:
            return False
        return sender_kind != SenderKind.BRAND_ACCOUNT or rule in self.brand_account_rules


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _is_num(value: Any, low: float, high: float) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )


def _coerce(name: str, annotation: Any, value: Any) -> Any:
    if name in ("quiet_hours_start", "quiet_hours_end"):
        return _parse_time(value)
    if name in ("enabled_rules", "brand_account_rules"):
        if isinstance(value, str):
            raise TypeError(name)
        return frozenset(str(v) for v in value)
    if name == "cooldown_days":
        if not isinstance(value, Mapping):
            raise TypeError(name)
        return {str(k): (None if v is None else int(v)) for k, v in value.items()}
    if annotation == "int":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise TypeError(name)
        return int(value)
    if annotation == "float":
        if isinstance(value, bool):
            raise TypeError(name)
        return float(value)
    if annotation == "str":
        if not isinstance(value, str):
            raise TypeError(name)
        return value
    return value


# --- inputs ----------------------------------------------------------------------------


class SentPost(NamedTuple):
    at: datetime
    commercial: bool


@dataclass(frozen=True)
class SenderHistory:
    """The sender's recent posts (at least the window: any extra is ignored) and health."""

    sender_id: Hashable
    kind: str = SenderKind.ADVOCATE
    posts: Sequence[SentPost | tuple[datetime, bool]] = ()
    recipients_reached: int = 0  # distinct recipients reached over the window
    negative_actions: int = 0  # negative signals on this sender over the window


@dataclass(frozen=True)
class RecipientState:
    """One friend of the sender. ``exposures``: commercial exposures from all the brand's
    senders (at least the window); ``negatives``: latest time of each negative signal of this
    recipient on this sender; ``ignored_in_row`` commercial exposures with no engagement since,
    the last of them at ``last_ignored_at``."""

    recipient_id: Hashable
    strength: float = 0.0
    exposures: Sequence[datetime] = ()
    negatives: Mapping[str, datetime] = field(default_factory=dict)
    ignored_in_row: int = 0
    last_ignored_at: datetime | None = None
    marketing_consent: bool = True


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
# Fewer recipient states than this are screened one by one (same answers, less overhead).
ROW_BY_ROW_BELOW = 32
NO_TIME = int(np.iinfo(np.int64).min)  # "no such time" in the µs columns below


def to_us(at: datetime, name: str = "time") -> int:
    """Integer microseconds since the epoch of an aware time (exact: times are µs)."""
    return (_utc(at, name) - EPOCH) // US


@dataclass(frozen=True, eq=False)
class RecipientColumns:
    """Many recipients as columns, row i being one `RecipientState`: what the live path
    reads from PostgreSQL in one go and what `decide` screens with whole-column operations.

    Times are integer µs since the epoch (`to_us`), ``NO_TIME`` where a row has none.
    ``negatives`` maps a negative signal to its column; exposures are two parallel arrays,
    the row each one belongs to and its time (any order, any number per row).
    """

    ids: Sequence[Hashable]
    strength: np.ndarray  # float64
    marketing_consent: np.ndarray  # bool
    negatives: Mapping[str, np.ndarray]  # signal → int64 µs
    ignored_in_row: np.ndarray  # int64
    last_ignored_us: np.ndarray  # int64 µs
    exposure_owner: np.ndarray  # int64 row index
    exposure_us: np.ndarray  # int64 µs

    def __len__(self) -> int:
        return len(self.ids)

    def has_duplicates(self) -> bool:
        return len(set(self.ids)) != len(self.ids)

    def first_rows(self) -> list[int]:
        """Row of the first occurrence of each id, in row order."""
        first: dict[Hashable, int] = {}
        for row, rid in enumerate(self.ids):
            first.setdefault(rid, row)
        return list(first.values())

    @classmethod
    def from_states(cls, states: Sequence[RecipientState]) -> RecipientColumns:
        states = list(states)
        n = len(states)
        negatives = {signal: np.full(n, NO_TIME, dtype=np.int64) for signal in COOLDOWN_REASONS}
        last = np.full(n, NO_TIME, dtype=np.int64)
        owner: list[int] = []
        times: list[int] = []
        for row, state in enumerate(states):
            for signal, when in state.negatives.items():
                if when is not None and signal in negatives:
                    negatives[signal][row] = to_us(when)
            if state.last_ignored_at is not None:
                last[row] = to_us(state.last_ignored_at)
            for at in state.exposures:
                owner.append(row)
                times.append(to_us(at))
        return cls(
            ids=[state.recipient_id for state in states],
            strength=np.fromiter((s.strength for s in states), dtype=np.float64, count=n),
            marketing_consent=np.fromiter(
                (bool(s.marketing_consent) for s in states), dtype=bool, count=n
            ),
            negatives=negatives,
            ignored_in_row=np.fromiter((s.ignored_in_row for s in states), np.int64, count=n),
            last_ignored_us=last,
            exposure_owner=np.array(owner, dtype=np.int64),
            exposure_us=np.array(times, dtype=np.int64),
        )


# --- outputs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        data = {
            key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in self.data.items()
        }
        return {"code": str(self.code), "message": self.message, "data": data}


class RecipientLimit(NamedTuple):
    """Budgets the counters enforce for one admitted recipient (None: rule off)."""

    recipient_id: Hashable
    daily: int | None
    weekly: int | None


@dataclass(frozen=True)
class CounterPlan:
    """What `counters` must re-check and consume in Redis for a published post."""

    sender_id: Hashable
    commercial: bool
    at: datetime  # UTC
    day_start: datetime  # UTC instant of local 00:00 of ``at``'s day
    window: timedelta
    sender_daily_cap: int | None
    sender_weekly_cap: int | None
    sender_min_gap: timedelta | None
    sender_commercial_share_max: float | None
    recipients: tuple[RecipientLimit, ...] = ()


@dataclass(frozen=True)
class Decision:
    decision: Outcome
    reasons: tuple[Reason, ...] = ()
    deferred_until: datetime | None = None  # UTC
    admitted: tuple[Hashable, ...] = ()
    exclusions: Mapping[Hashable, str] = field(default_factory=dict)
    caps_halved: bool = False
    pause_advocate: bool = False
    plan: CounterPlan | None = None

    @property
    def delivered(self) -> int:
        return len(self.admitted)

    @property
    def suppressed(self) -> dict[str, int]:
        return dict(Counter(self.exclusions.values()))

    def as_dict(self) -> dict[str, Any]:
        """The publish / publish-preview answer of SPEC, with reasons as objects."""
        return {
            "decision": self.decision.value,
            "reasons": [reason.as_dict() for reason in self.reasons],
            "delivered": self.delivered,
            "suppressed": self.suppressed,
            "deferred_until": self.deferred_until.isoformat() if self.deferred_until else None,
        }


# --- time helpers ----------------------------------------------------------------------


def _utc(value: datetime, name: str = "time") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def day_start(at: datetime, zone: ZoneInfo) -> datetime:
    """UTC instant of local midnight starting ``at``'s calendar day in ``zone``."""
    local = at.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)


def in_quiet_hours(at: datetime, policy: FatiguePolicy) -> bool:
    local = at.astimezone(policy.zone).time()
    start, end = policy.quiet_hours_start, policy.quiet_hours_end
    if start < end:
        return start <= local < end
    return local >= start or local < end


def quiet_hours_end_after(at: datetime, policy: FatiguePolicy) -> datetime:
    """The first end of quiet hours after ``at`` (UTC), for an ``at`` inside quiet hours."""
    zone = policy.zone
    local = at.astimezone(zone)
    candidate = datetime.combine(local.date(), policy.quiet_hours_end, tzinfo=zone)
    if candidate.astimezone(UTC) <= at:
        candidate = datetime.combine(
            local.date() + timedelta(days=1), policy.quiet_hours_end, tzinfo=zone
        )
    return candidate.astimezone(UTC)


def recipient_budget(base_cap: int, strength: float) -> int:
    """base × (0.5 + strength), strength clamped to [0, 1], rounded half up."""
    strength = min(max(strength, 0.0), 1.0) if math.isfinite(strength) else 0.0
    return math.floor(base_cap * (0.5 + strength) + 0.5)


def halved(cap: int) -> int:
    return max(1, cap // 2) if cap >= 1 else 0


def backoff_days(ignored_in_row: int, policy: FatiguePolicy) -> float:
    """Length of the back-off after ``ignored_in_row`` ignored exposures (0: none)."""
    if ignored_in_row < policy.backoff_after_ignored:
        return 0.0
    steps = ignored_in_row - policy.backoff_after_ignored
    if steps > 60:  # 2^60 days is far past any maximum
        return policy.backoff_max_days
    return min(policy.backoff_base_days * 2.0**steps, policy.backoff_max_days)


def _fmt_local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _days(value: float) -> str:
    return f"{value:g}"


# --- the decision ----------------------------------------------------------------------


def decide(
    policy: FatiguePolicy,
    now: datetime,
    post_is_commercial: bool,
    sender: SenderHistory,
    recipients: Sequence[RecipientState] | RecipientColumns,
) -> Decision:
    """Decide one post. Pure: reads its arguments only, returns a new `Decision`."""
    now = _utc(now, "now")
    if not post_is_commercial:
        admitted, exclusions, _ = screen_recipients(policy, now, False, sender, recipients)
        plan = _plan(policy, now, False, sender, None, None, ())
        return Decision(Outcome.PUBLISHED, admitted=admitted, exclusions=exclusions, plan=plan)

    zone, kind = policy.zone, sender.kind
    on = {rule: policy.applies(rule, kind) for rule in ALL_RULES}
    reasons: list[Reason] = []

    # Sender health: pause, or halve the caps.
    caps_halved = False
    daily_cap = policy.sender_daily_cap if on[Rule.SENDER_DAILY_CAP] else None
    weekly_cap = policy.sender_weekly_cap if on[Rule.SENDER_WEEKLY_CAP] else None
    if on[Rule.SENDER_HEALTH] and sender.recipients_reached > 0:
        rate = sender.negative_actions / sender.recipients_reached
        numbers = {
            "negative_actions": sender.negative_actions,
            "recipients_reached": sender.recipients_reached,
            "rate": rate,
            "window_days": policy.window_days,
        }
        observed = (
            f"{sender.negative_actions} negative actions for {sender.recipients_reached} "
            f"recipients reached over {policy.window_days} days ({rate:.2%}"
        )
        if rate > policy.health_pause_rate:
            pause = kind == SenderKind.ADVOCATE
            message = f"sender health: {observed} > {policy.health_pause_rate:.2%}): " + (
                "advocate paused" if pause else "commercial posts held"
            )
            return Decision(
                Outcome.REJECTED,
                reasons=(Reason(Rule.SENDER_HEALTH, message, numbers),),
                pause_advocate=pause,
            )
        if rate > policy.health_halve_rate:
            caps_halved = True
            daily_cap = halved(daily_cap) if daily_cap is not None else None
            weekly_cap = halved(weekly_cap) if weekly_cap is not None else None
            reasons.append(
                Reason(
                    Rule.SENDER_HEALTH,
                    f"sender health: {observed} > {policy.health_halve_rate:.2%}): caps halved "
                    f"to {daily_cap if daily_cap is not None else '∞'}/day, "
                    f"{weekly_cap if weekly_cap is not None else '∞'}/{policy.window_days} days",
                    {**numbers, "daily_cap": daily_cap, "weekly_cap": weekly_cap},
                )
            )

    posts = [SentPost(_utc(at, "post time"), bool(commercial)) for at, commercial in sender.posts]
    commercial_times = sorted(at for at, commercial in posts if commercial)

    # Deferrable rules: minimum gap and quiet hours, until both allow the post.
    at = now
    gap = timedelta(hours=policy.sender_min_gap_hours) if on[Rule.SENDER_MIN_GAP] else None
    deferred_reasons: dict[str, Reason] = {}
    for _ in range(4):
        moved = False
        if gap and commercial_times and at < commercial_times[-1] + gap:
            last = commercial_times[-1]
            at = last + gap
            moved = True
            deferred_reasons[Rule.SENDER_MIN_GAP] = Reason(
                Rule.SENDER_MIN_GAP,
                f"minimum gap {policy.sender_min_gap_hours:g} h between commercial posts: last "
                f"one at {_fmt_local(last, zone)} {policy.time_zone}",
                {"min_gap_hours": policy.sender_min_gap_hours, "last_commercial_at": last},
            )
        if on[Rule.QUIET_HOURS] and in_quiet_hours(at, policy):
            at = quiet_hours_end_after(at, policy)
            moved = True
            start = policy.quiet_hours_start.strftime("%H:%M")
            end = policy.quiet_hours_end.strftime("%H:%M")
            deferred_reasons[Rule.QUIET_HOURS] = Reason(
                Rule.QUIET_HOURS,
                f"quiet hours {start}–{end} {policy.time_zone}",
                {"start": start, "end": end, "time_zone": policy.time_zone},
            )
        if not moved:
            break

    # Counted rules, as of the (possibly deferred) time.
    today = day_start(at, zone)
    window_start = at - policy.window
    rejections: list[Reason] = []
    if daily_cap is not None:
        count = sum(1 for t in commercial_times if t >= today)
        if count >= daily_cap:
            rejections.append(
                Reason(
                    Rule.SENDER_DAILY_CAP,
                    f"sender cap {daily_cap}/day reached: {count} commercial posts since "
                    f"{_fmt_local(today, zone)} {policy.time_zone}",
                    {"cap": daily_cap, "count": count, "since": today},
                )
            )
    in_window = [(t, c) for t, c in posts if t > window_start]
    commercial_in_window = sum(1 for _, c in in_window if c)
    if weekly_cap is not None and commercial_in_window >= weekly_cap:
        rejections.append(
            Reason(
                Rule.SENDER_WEEKLY_CAP,
                f"sender cap {weekly_cap}/{policy.window_days} days reached: "
                f"{commercial_in_window} commercial posts since "
                f"{_fmt_local(window_start, zone)} {policy.time_zone}",
                {"cap": weekly_cap, "count": commercial_in_window, "since": window_start},
            )
        )
    share_max = policy.sender_commercial_share_max if on[Rule.SENDER_COMMERCIAL_SHARE] else None
    if share_max is not None:
        share = (commercial_in_window + 1) / (len(in_window) + 1)
        if share > share_max + 1e-12:
            rejections.append(
                Reason(
                    Rule.SENDER_COMMERCIAL_SHARE,
                    f"commercial share would be {commercial_in_window + 1}/{len(in_window) + 1} "
                    f"posts over {policy.window_days} days ({share:.0%} > {share_max:.0%})",
                    {
                        "commercial": commercial_in_window + 1,
                        "total": len(in_window) + 1,
                        "share_max": share_max,
                    },
                )
            )
    if rejections:
        return Decision(Outcome.REJECTED, reasons=(*reasons, *rejections), caps_halved=caps_halved)
    if at > now:
        return Decision(
            Outcome.DEFERRED,
            reasons=(*reasons, *deferred_reasons.values()),
            deferred_until=at,
            caps_halved=caps_halved,
        )

    admitted, exclusions, limits = screen_recipients(policy, now, True, sender, recipients)
    plan = _plan(policy, now, True, sender, daily_cap, weekly_cap, limits, gap, share_max)
    return Decision(
        Outcome.PUBLISHED,
        reasons=tuple(reasons),
        admitted=admitted,
        exclusions=exclusions,
        caps_halved=caps_halved,
        plan=plan,
    )


def _plan(
    policy: FatiguePolicy,
    now: datetime,
    commercial: bool,
    sender: SenderHistory,
    daily_cap: int | None,
    weekly_cap: int | None,
    limits: Sequence[RecipientLimit],
    gap: timedelta | None = None,
    share_max: float | None = None,
) -> CounterPlan:
    return CounterPlan(
        sender_id=sender.sender_id,
        commercial=commercial,
        at=now,
        day_start=day_start(now, policy.zone),
        window=policy.window,
        sender_daily_cap=daily_cap,
        sender_weekly_cap=weekly_cap,
        sender_min_gap=gap,
        sender_commercial_share_max=share_max,
        recipients=tuple(limits),
    )


def screen_recipients(
    policy: FatiguePolicy,
    now: datetime,
    commercial: bool,
    sender: SenderHistory,
    recipients: Sequence[RecipientState] | RecipientColumns,
) -> tuple[tuple[Hashable, ...], dict[Hashable, str], list[RecipientLimit]]:
    """(admitted ids, {id: reason}, budgets of the admitted) for one post at ``now``.

    Every rule is evaluated over whole columns at once (numpy; below ``ROW_BY_ROW_BELOW``
    states, one state at a time, with the same results), in the order of severity:
    cool-downs (most severe signal first), then for commercial posts consent, back-off and
    the daily and window budgets. A repeated recipient id counts once (its first row).
    """
    if isinstance(recipients, RecipientColumns):
        cols = recipients
    elif len(recipients) < ROW_BY_ROW_BELOW:
        return _screen_states(policy, now, commercial, sender, recipients)
    else:
        cols = RecipientColumns.from_states(recipients)
    n = len(cols)
    if n == 0:
        return (), {}, []
    kind = sender.kind
    now_us = to_us(now)
    reason = np.zeros(n, dtype=np.int8)  # index into _REASONS; 0: admitted

    if policy.applies(Rule.COOLDOWN, kind):
        # Most severe first: a row keeps the first reason that hits it.
        for signal in COOLDOWN_REASONS:
            if signal not in policy.cooldown_days:
                continue
            when = cols.negatives.get(signal)
            if when is None:
                continue
            hit = when != NO_TIME
            days = policy.cooldown_days[signal]
            if days is not None:
                hit &= now_us < when + timedelta(days=days) // US
            reason[hit & (reason == 0)] = _REASON_INDEX[COOLDOWN_REASONS[signal]]

    daily = weekly = None
    if commercial:
        reason[~cols.marketing_consent & (reason == 0)] = _REASON_INDEX[NO_CONSENT]
        if policy.applies(Rule.BACKOFF, kind):
            ignored, last = cols.ignored_in_row, cols.last_ignored_us
            candidate = (
                (reason == 0) & (last != NO_TIME) & (ignored >= policy.backoff_after_ignored)
            )
            if candidate.any():
                length = np.zeros(n, dtype=np.int64)
                for k in np.unique(ignored[candidate]).tolist():
                    length[ignored == k] = timedelta(days=backoff_days(k, policy)) // US
                hit = candidate & (now_us < last + length)
                reason[hit] = _REASON_INDEX[BACKOFF_REASON]
        daily_on = policy.applies(Rule.RECIPIENT_DAILY_CAP, kind)
        weekly_on = policy.applies(Rule.RECIPIENT_WEEKLY_CAP, kind)
        if daily_on or weekly_on:
            strength = cols.strength
            strength = np.where(np.isfinite(strength), np.clip(strength, 0.0, 1.0), 0.0)
            owner, times = cols.exposure_owner, cols.exposure_us
        if daily_on:
            daily = np.floor(policy.recipient_daily_cap * (0.5 + strength) + 0.5).astype(np.int64)
            today = to_us(day_start(now, policy.zone))
            count = np.bincount(owner[times >= today], minlength=n)
            reason[(count >= daily) & (reason == 0)] = _REASON_INDEX[Rule.RECIPIENT_DAILY_CAP]
        if weekly_on:
            weekly = np.floor(policy.recipient_weekly_cap * (0.5 + strength) + 0.5).astype(np.int64)
            since = now_us - policy.window // US
            count = np.bincount(owner[times > since], minlength=n)
            reason[(count >= weekly) & (reason == 0)] = _REASON_INDEX[Rule.RECIPIENT_WEEKLY_CAP]

    ids = cols.ids
    if cols.has_duplicates():
        rows = cols.first_rows()
        admitted_rows = [i for i in rows if reason[i] == 0]
        excluded_rows = [i for i in rows if reason[i] != 0]
    else:
        admitted_rows = np.flatnonzero(reason == 0).tolist()
        excluded_rows = np.flatnonzero(reason).tolist()
    admitted = tuple(ids[i] for i in admitted_rows)
    codes = reason[excluded_rows].tolist()
    exclusions = {ids[i]: _REASONS[c] for i, c in zip(excluded_rows, codes, strict=True)}
    limits: list[RecipientLimit] = []
    if commercial:
        dailies = daily[admitted_rows].tolist() if daily is not None else [None] * len(admitted)
        weeklies = weekly[admitted_rows].tolist() if weekly is not None else [None] * len(admitted)
        limits = list(map(RecipientLimit, admitted, dailies, weeklies))
    return admitted, exclusions, limits


def _screen_states(
    policy: FatiguePolicy,
    now: datetime,
    commercial: bool,
    sender: SenderHistory,
    recipients: Sequence[RecipientState],
) -> tuple[tuple[Hashable, ...], dict[Hashable, str], list[RecipientLimit]]:
    """`screen_recipients` one state at a time, for a few recipients (numpy's fixed cost
    per call is more than the whole loop)."""
    kind = sender.kind
    cooldown_on = policy.applies(Rule.COOLDOWN, kind)
    backoff_on = commercial and policy.applies(Rule.BACKOFF, kind)
    daily_on = commercial and policy.applies(Rule.RECIPIENT_DAILY_CAP, kind)
    weekly_on = commercial and policy.applies(Rule.RECIPIENT_WEEKLY_CAP, kind)
    cooldowns = [
        (signal, None if days is None else timedelta(days=days), COOLDOWN_REASONS[signal])
        for signal, days in policy.cooldown_days.items()
        if signal in COOLDOWN_REASONS
    ]
    # Most severe first, so the reason shown is the strongest one.
    order = list(COOLDOWN_REASONS)
    cooldowns.sort(key=lambda item: order.index(item[0]))
    today = day_start(now, policy.zone)
    window_start = now - policy.window

    admitted: list[Hashable] = []
    exclusions: dict[Hashable, str] = {}
    limits: list[RecipientLimit] = []
    seen: set[Hashable] = set()
    for state in recipients:
        rid = state.recipient_id
        if rid in seen:
            continue
        seen.add(rid)
        reason = None
        if cooldown_on and state.negatives:
            for signal, length, code in cooldowns:
                when = state.negatives.get(signal)
                if when is not None and (length is None or now < _utc(when) + length):
                    reason = code
                    break
        if reason is None and commercial:
            if not state.marketing_consent:
                reason = NO_CONSENT
            elif (
                backoff_on
                and state.last_ignored_at is not None
                and state.ignored_in_row >= policy.backoff_after_ignored
                and now
                < _utc(state.last_ignored_at)
                + timedelta(days=backoff_days(state.ignored_in_row, policy))
            ):
                reason = BACKOFF_REASON
        daily = weekly = None
        if reason is None and commercial:
            if daily_on:
                daily = recipient_budget(policy.recipient_daily_cap, state.strength)
            if weekly_on:
                weekly = recipient_budget(policy.recipient_weekly_cap, state.strength)
            if state.exposures and (daily is not None or weekly is not None):
                times = [_utc(t) for t in state.exposures]
                if daily is not None and sum(1 for t in times if t >= today) >= daily:
                    reason = Rule.RECIPIENT_DAILY_CAP.value
                elif weekly is not None and sum(1 for t in times if t > window_start) >= weekly:
                    reason = Rule.RECIPIENT_WEEKLY_CAP.value
            elif daily == 0:
                reason = Rule.RECIPIENT_DAILY_CAP.value
            elif weekly == 0:
                reason = Rule.RECIPIENT_WEEKLY_CAP.value
        if reason is None:
            admitted.append(rid)
            if commercial:
                limits.append(RecipientLimit(rid, daily, weekly))
        else:
            exclusions[rid] = reason
    return tuple(admitted), exclusions, limits
