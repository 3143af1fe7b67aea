"""Fatigue counters in Redis: one Lua script checks and consumes a post's windows atomically.

Keys (all under the brand's hash tag ``{b:<brand_id>}``, so one call is one Cluster slot):

- ``{b:B}:fat:s:<sender>:c`` / ``…:a`` sorted sets of the sender's commercial / all posts,
- ``{b:B}:fat:r:<recipient>`` sorted set of the recipient's commercial exposures (all senders),
- ``{b:B}:fat:p:<post>`` the stored result of a consumed post (idempotency marker),
- ``{b:B}:fat:ready`` set once the state has been built; if it is missing (FLUSHALL, restart
  without persistence) the script answers ``cold`` and consumes nothing until `rebuild` has
  restored the state from the durable ledger.

Members are post ids and scores are times in integer microseconds, so re-adding a post is a
no-op and window edges match `campaigns.fatigue.rules` exactly. Every written key expires one
day after its longest window. A previewed or rejected decision writes nothing.

Typical use in the publish path::

    decision = rules.decide(policy, now, commercial, sender, recipients)
    if decision.plan is not None:
        result = FatigueCounters(client, brand_id).run(
            post_id=post.pk, plan=decision.plan, preview=False, ledger=load_ledger
        )
        # result.status: "admitted" (deliver result.admitted, suppress result.refused),
        # "rejected" (a concurrent publish took the cap: result.reason(), result.retry_at)
"""

from __future__ import annotations

import json
import secrets
import time as monotonic_time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from .rules import CounterPlan, Reason

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
TTL_SLACK = timedelta(days=1)
REBUILD_LOCK_MS = 120_000
REBUILD_CHUNK = 5_000
REBUILD_ATTEMPTS = 3
READY_IF_LOCKED = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[2], ARGV[2]) "
    "return 1 end return 0"
)
SCRIPT = (Path(__file__).parent / "lua" / "decide.lua").read_text()
MAX_BUDGET = 254  # recipient budgets travel as one byte each, budget + 1
REFUSAL_CODES = {"d": "recipient_daily_cap", "w": "recipient_weekly_cap"}


def to_us(at: datetime) -> int:
    """Integer microseconds since the epoch (exact in a Redis score / Lua double)."""
    if at.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return (at - EPOCH) // US


def from_us(value: int | float | str) -> datetime:
    return EPOCH + timedelta(microseconds=int(float(value)))


@dataclass(frozen=True)
class CounterResult:
    """What the script decided. ``status``: admitted | rejected | cold."""

    status: str
    admitted: tuple[Hashable, ...] = ()
    refused: dict[Hashable, str] = field(default_factory=dict)
    rule: str | None = None
    count: int | None = None
    cap: int | None = None
    retry_at: datetime | None = None  # set when the minimum gap refused the post
    replayed: bool = False  # this post had already been consumed: its stored result

    def reason(self) -> Reason | None:
        """The rejection as a reason with its numbers (None unless rejected)."""
        if self.status != "rejected":
            return None
        data = {"cap": self.cap, "count": self.count}
        if self.rule == "sender_daily_cap":
            message = f"sender cap {self.cap}/day reached: {self.count} commercial posts today"
        elif self.rule == "sender_weekly_cap":
            message = (
                f"sender cap {self.cap} per window reached: {self.count} commercial posts in it"
            )
        elif self.rule == "sender_commercial_share":
            message = f"commercial share would be {self.count}/{self.cap} posts over the window"
            data = {"commercial": self.count, "total": self.cap}
        else:
            message = f"minimum gap between commercial posts: next at {self.retry_at:%H:%M} UTC"
            data = {"retry_at": self.retry_at}
        return Reason(str(self.rule), message, data)


@dataclass(frozen=True)
class SenderPostRecord:
    sender_id: Hashable
    at: datetime
    commercial: bool
    post_id: Hashable | None = None


@dataclass(frozen=True)
class ExposureRecord:
    recipient_id: Hashable
    at: datetime
    post_id: Hashable | None = None


@dataclass(frozen=True)
class Ledger:
    """Durable records to rebuild from, as plain data: (sender, at, commercial[, post]) and
    (recipient, at[, post]) tuples or the record classes. Only the last window matters."""

    sender_posts: Iterable[SenderPostRecord | tuple]
    exposures: Iterable[ExposureRecord | tuple]


@dataclass(frozen=True)
class RebuildStats:
    sender_posts: int
    exposures: int
    keys: int


class FatigueCounters:
    """The fatigue windows of one brand in one Redis (or Redis Cluster) client."""

    def __init__(self, client: redis.Redis, brand_id: Hashable):
        self.client = client
        self.brand_id = brand_id
        self.tag = f"{{b:{brand_id}}}"
        self._script = client.register_script(SCRIPT)

    # --- key names ---------------------------------------------------------------------
    @property
    def ready_key(self) -> str:
        return f"{self.tag}:fat:ready"

    @property
    def lock_key(self) -> str:
        return f"{self.tag}:fatlock"

    def post_key(self, post_id: Hashable) -> str:
        return f"{self.tag}:fat:p:{post_id}"

    def sender_keys(self, sender_id: Hashable) -> tuple[str, str]:
        return f"{self.tag}:fat:s:{sender_id}:c", f"{self.tag}:fat:s:{sender_id}:a"

    def recipient_key(self, recipient_id: Hashable) -> str:
        return f"{self.tag}:fat:r:{recipient_id}"

    def keys_for(self, post_id: Hashable, plan: CounterPlan) -> list[str]:
        """Every key one call touches (all carry this brand's hash tag)."""
        return [
            self.ready_key,
            self.post_key(post_id),
            *self.sender_keys(plan.sender_id),
            *(self.recipient_key(limit.recipient_id) for limit in plan.recipients),
        ]

    # --- the decision ------------------------------------------------------------------
    def run(
        self,
        *,
        post_id: Hashable,
        plan: CounterPlan,
        preview: bool = False,
        ledger: Callable[[], Ledger] | None = None,
        wait_for_rebuild: float = 5.0,
    ) -> CounterResult:
        """Check the plan's windows and, unless ``preview``, consume them for ``post_id``.

        If the state is cold and ``ledger`` is given, rebuild it from ``ledger()`` (or wait up
        to ``wait_for_rebuild`` s for a concurrent rebuild) and run again; otherwise a cold
        result is returned and nothing is consumed.
        """
        result = self._call(post_id, plan, preview)
        if result.status != "cold" or ledger is None:
            return result
        if self.rebuild(ledger(), now=plan.at, window=plan.window, force=False) is None:
            deadline = monotonic_time.monotonic() + wait_for_rebuild
            while not self.client.exists(self.ready_key):
                if monotonic_time.monotonic() > deadline:
                    return result
                monotonic_time.sleep(0.02)
        return self._call(post_id, plan, preview)

    def _call(self, post_id: Hashable, plan: CounterPlan, preview: bool) -> CounterResult:
        def off(value: int | None) -> int:
            if value is not None and not 0 <= value < MAX_BUDGET:
                raise ValueError(f"budget {value} out of range 0..{MAX_BUDGET - 1}")
            return -1 if value is None else value

        def cap(value: int | None) -> int:
            # Sender caps travel as plain numbers: no byte limit (policy allows up to 1000).
            if value is not None and value < 0:
                raise ValueError(f"cap {value} is negative")
            return -1 if value is None else value

        ttl_ms = (plan.window + TTL_SLACK) // timedelta(milliseconds=1)
        args: list[Any] = [
            "preview" if preview else "consume",
            to_us(plan.at),
            str(post_id),
            1 if plan.commercial else 0,
            to_us(plan.day_start),
            plan.window // US,
            cap(plan.sender_daily_cap) if plan.commercial else -1,
            cap(plan.sender_weekly_cap) if plan.commercial else -1,
            plan.sender_min_gap // US if plan.commercial and plan.sender_min_gap else -1,
            (
                plan.sender_commercial_share_max
                if plan.commercial and plan.sender_commercial_share_max is not None
                else -1
            ),
            ttl_ms,
        ]
        keys = self.keys_for(post_id, plan)
        if plan.commercial:
            # One argument for all budgets: two bytes per recipient, budget + 1 (0 = rule off).
            args.append(
                bytes(
                    value
                    for limit in plan.recipients
                    for value in (off(limit.daily) + 1, off(limit.weekly) + 1)
                )
            )
        else:
            keys = keys[:4]  # non-commercial: counted for the sender's share only, no budgets
        raw = json.loads(self._script(keys=keys, args=args))
        status = raw["status"]
        if status == "cold":
            return CounterResult("cold")
        if status == "rejected":
            retry = raw.get("retry_at")
            return CounterResult(
                "rejected",
                rule=raw["rule"],
                count=int(raw["count"]),
                cap=int(raw["cap"]),
                retry_at=from_us(retry) if retry else None,
            )
        ids = [limit.recipient_id for limit in plan.recipients]
        codes = raw.get("codes") or ""
        replayed = bool(raw.get("replayed"))
        if not plan.commercial:
            return CounterResult("admitted", admitted=tuple(ids), replayed=replayed)
        if replayed and len(codes) != len(ids):
            return self._replayed(post_id, ids)
        admitted = tuple(rid for rid, code in zip(ids, codes, strict=True) if code == ".")
        refused = {
            rid: REFUSAL_CODES[code] for rid, code in zip(ids, codes, strict=True) if code != "."
        }
        return CounterResult("admitted", admitted=admitted, refused=refused, replayed=replayed)

    def _replayed(self, post_id: Hashable, ids: Sequence[Hashable]) -> CounterResult:
        """A consumed post asked again with other recipients: who did it reach, per Redis."""
        pipe = self.client.pipeline(transaction=False)
        for rid in ids:
            pipe.zscore(self.recipient_key(rid), str(post_id))
        scores = pipe.execute()
        admitted = tuple(rid for rid, score in zip(ids, scores, strict=True) if score is not None)
        refused = {rid: "already_decided" for rid, s in zip(ids, scores, strict=True) if s is None}
        return CounterResult("admitted", admitted=admitted, refused=refused, replayed=True)

    # --- rebuilding --------------------------------------------------------------------
    def invalidate(self) -> None:
        """Mark the state cold: the next decision rebuilds it from the ledger."""
        self.client.delete(self.ready_key)

    def rebuild(
        self, ledger: Ledger, *, now: datetime, window: timedelta, force: bool = True
    ) -> RebuildStats | None:
        """Replace this brand's windows with the ledger's records of the last ``window``.

        ``force=False`` (the automatic path) does nothing if the state is already ready.
        Returns None when another rebuild holds the lock or nothing had to be done. Decisions
        see ``cold`` (and consume nothing) until the rebuild has finished.
        """
        token = secrets.token_hex(8)
        if not self.client.set(self.lock_key, token, nx=True, px=REBUILD_LOCK_MS):
            return None
        try:
            if not force and self.client.exists(self.ready_key):
                return None
            for _ in range(REBUILD_ATTEMPTS):
                self.client.delete(self.ready_key)
                old = [
                    *self.client.scan_iter(match=f"{self.tag}:fat:s:*", count=1000),
                    *self.client.scan_iter(match=f"{self.tag}:fat:r:*", count=1000),
                ]
                stats = self._write(ledger, now=now, window=window, old=old)
                # Ready only if nothing wiped Redis while we wrote (our lock, set before the
                # first write, is still there): a FLUSHALL in the middle of the write would
                # otherwise leave a state marked ready that lacks what it wiped.
                if self.client.eval(READY_IF_LOCKED, 2, self.lock_key, self.ready_key, token,
                                    to_us(now)):  # fmt: skip
                    return stats
                if not self.client.set(self.lock_key, token, nx=True, px=REBUILD_LOCK_MS):
                    return None  # another rebuild started after the wipe
            return None
        finally:
            self._release(token)

    def _write(
        self, ledger: Ledger, *, now: datetime, window: timedelta, old: Sequence[bytes]
    ) -> RebuildStats:
        cutoff = to_us(now - window)
        sets: dict[str, dict[str, int]] = {}
        senders = exposures = 0
        for number, row in enumerate(ledger.sender_posts):
            record = row if isinstance(row, SenderPostRecord) else SenderPostRecord(*row)
            at = to_us(record.at)
            if at <= cutoff:
                continue
            member = str(record.post_id) if record.post_id is not None else f"l{number}"
            commercial_key, all_key = self.sender_keys(record.sender_id)
            sets.setdefault(all_key, {})[member] = at
            if record.commercial:
                sets.setdefault(commercial_key, {})[member] = at
            senders += 1
        for number, row in enumerate(ledger.exposures):
            record = row if isinstance(row, ExposureRecord) else ExposureRecord(*row)
            at = to_us(record.at)
            if at <= cutoff:
                continue
            member = str(record.post_id) if record.post_id is not None else f"l{number}"
            sets.setdefault(self.recipient_key(record.recipient_id), {})[member] = at
            exposures += 1
        ttl_ms = (window + TTL_SLACK) // timedelta(milliseconds=1)
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(old), REBUILD_CHUNK):
            pipe.delete(*old[start : start + REBUILD_CHUNK])
        pending = 0
        for key, members in sets.items():
            pipe.zadd(key, members)
            pipe.pexpire(key, ttl_ms)
            pending += 1
            if pending >= REBUILD_CHUNK:
                pipe.execute()
                pending = 0
        pipe.execute()
        return RebuildStats(sender_posts=senders, exposures=exposures, keys=len(sets))

    def _release(self, token: str) -> None:
        self.client.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
            "end return 0",
            1,
            self.lock_key,
            token,
        )
