"""The one publish decision: a verdict for the post and per-recipient exclusions.

``decide`` applies, in order:
- the guards: the caller may publish for this author and the post is a draft or deferred
  (errors, not verdicts: 403 / 409);
- commercial posts of a paused or retired advocate are rejected;
- a deferred post that is not due yet stays deferred;
- the brand's fatigue policy (``campaigns.fatigue.rules.decide``) over the author's history
  and every current friend's state, read from PostgreSQL in one statement
  (``fatigue_live.fatigue_inputs``): sender caps, minimum gap, commercial share, quiet
  hours, sender health, cool-downs after negative signals (the one source of pair
  suppressions), marketing consent, back-off, and each recipient's budget from its tie
  strength;
- then the Redis counters (``FatigueCounters.run``), which check every counted window (the
  sender's, and each admitted recipient's budget over all the brand's senders)
  atomically and, unless previewing, consume them: a concurrent publish that took a cap
  first turns the verdict into a rejection (or a deferral for the minimum gap). A cold
  Redis is rebuilt from the durable ledger on the way.
Nothing is consumed for a rejected, deferred or previewed post.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from customers.models import AdvocateStatus
from scrm.api.errors import Conflict
from scrm.tenancy.services import Caller

from ..fatigue import rules
from ..fatigue.rules import Outcome, Reason
from ..models import Post, PostStatus
from . import fatigue_live
from .fatigue_policy import fatigue_policy_of
from .posts import PUBLISHABLE, author_check

# What `decide` reads of a post beyond its row: load it with these to save queries.
POST_RELATED = ("author__advocate", "brand__fatigue_policy")

PUBLISHED = Outcome.PUBLISHED.value
DEFERRED = Outcome.DEFERRED.value
REJECTED = Outcome.REJECTED.value

# How long a post waits when the counters are being rebuilt by someone else.
COLD_RETRY = timedelta(minutes=1)

# Per-recipient reason code → what it means, for the stored explanation.
SUPPRESSION_TEXT = {
    "blocked": "blocked the sender or were blocked by them",
    "reported": "reported the sender",
    "muted": "muted the sender (cool-down)",
    "unfriended": "unfriended the sender (cool-down)",
    "hidden_post": "hid one of the sender's posts (cool-down)",
    rules.NO_CONSENT: "withdrew consent to commercial posts (or to brand mass messages)",
    rules.BACKOFF_REASON: "ignored too many commercial posts in a row (back-off)",
    "recipient_daily_cap": "reached their daily commercial budget",
    "recipient_weekly_cap": "reached their commercial budget for the window",
    "already_decided": "were decided by an earlier run of this post",
}


@dataclass(frozen=True)
class Decision:
    decision: str
    reasons: list[dict[str, Any]] = field(default_factory=list)  # [{code, message, data}]
    admitted: tuple[int, ...] = ()
    exclusions: dict[int, str] = field(default_factory=dict)  # recipient id → reason code
    deferred_until: datetime | None = None
    pause_reason: str | None = None  # set when the author (an advocate) must be paused
    rules: list[dict[str, Any]] = field(default_factory=list)  # every rule that fired

    @property
    def suppressed(self) -> dict[str, int]:
        return dict(sorted(Counter(self.exclusions.values()).items()))


def publish_guard(*, caller: Caller | None, post: Post) -> None:
    """``caller`` None: the deferred-post task, re-checking a post its author already sent."""
    if caller is not None:
        author_check(caller=caller, author=post.author)
    if post.status not in PUBLISHABLE:
        raise Conflict(f"A {post.status} post cannot be published.")


def _verdict(decision: str, reasons: list[Reason], **kwargs: Any) -> Decision:
    as_dicts = [reason.as_dict() for reason in reasons]
    return Decision(decision=decision, reasons=as_dicts, rules=list(as_dicts), **kwargs)


def _suppression_rules(exclusions: dict[int, str], policy: rules.FatiguePolicy) -> list[dict]:
    counts = Counter(exclusions.values())
    out = []
    for code, n in sorted(counts.items()):
        data: dict[str, Any] = {"recipients": n}
        if code == "recipient_daily_cap":
            data["base_budget"] = policy.recipient_daily_cap
        elif code == "recipient_weekly_cap":
            data |= {"base_budget": policy.recipient_weekly_cap, "window_days": policy.window_days}
        text = SUPPRESSION_TEXT.get(code, code)
        out.append({"code": code, "message": f"{n} recipient(s) {text}", "data": data})
    return out


def decide(*, caller: Caller | None, post: Post, now: datetime, preview: bool) -> Decision:
    """The verdict for publishing ``post`` now; consumes the Redis counters unless
    ``preview`` (or the verdict is not to publish). Writes nothing to PostgreSQL.

    ``post`` loaded with `POST_RELATED` saves the policy and advocate queries."""
    publish_guard(caller=caller, post=post)
    if post.commercial:
        advocate = fatigue_live.advocate_of(author=post.author)
        if advocate and advocate.status in (AdvocateStatus.PAUSED, AdvocateStatus.RETIRED):
            status, why = advocate.status, advocate.status_reason
            message = f"the author is a {status} advocate" + (f": {why}" if why else "")
            return _verdict(REJECTED, [Reason(f"advocate_{status}", message, {})])
    if post.status == PostStatus.DEFERRED and post.deferred_until and post.deferred_until > now:
        reason = Reason(
            "deferred", "the post is deferred until its time", {"until": post.deferred_until}
        )
        return _verdict(DEFERRED, [reason], deferred_until=post.deferred_until)

    policy = fatigue_policy_of(brand=post.brand)
    _, history, states = fatigue_live.fatigue_inputs(
        author=post.author, commercial=post.commercial, now=now, policy=policy
    )
    verdict = rules.decide(policy, now, post.commercial, history, states)
    reasons = list(verdict.reasons)
    if verdict.decision is Outcome.REJECTED:
        pause = reasons[0].message if verdict.pause_advocate and reasons else None
        return _verdict(REJECTED, reasons, pause_reason=pause)
    if verdict.decision is Outcome.DEFERRED:
        return _verdict(DEFERRED, reasons, deferred_until=verdict.deferred_until)

    exclusions = dict(verdict.exclusions)
    admitted = tuple(verdict.admitted)
    if verdict.plan is not None:
        result = fatigue_live.counters_run(
            brand_id=post.brand_id,
            post_id=post.pk,
            plan=verdict.plan,
            preview=preview,
            now=now,
            window=policy.window,
        )
        if result.status == "cold":
            reason = Reason(
                "counters_rebuilding",
                "fatigue counters are being rebuilt from the ledger; retrying shortly",
                {},
            )
            return _verdict(DEFERRED, [reason], deferred_until=now + COLD_RETRY)
        if result.status == "rejected":
            refused = result.reason()
            if result.rule == rules.Rule.SENDER_MIN_GAP and result.retry_at is not None:
                return _verdict(DEFERRED, [*reasons, refused], deferred_until=result.retry_at)
            return _verdict(REJECTED, [*reasons, refused])
        if post.commercial:
            admitted = tuple(result.admitted)
            exclusions |= result.refused
    as_dicts = [reason.as_dict() for reason in reasons]
    return Decision(
        decision=PUBLISHED,
        reasons=as_dicts,
        admitted=admitted,
        exclusions=exclusions,
        rules=[*as_dicts, *_suppression_rules(exclusions, policy)],
    )
