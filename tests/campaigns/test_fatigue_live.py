"""Fatigue rules through the real publish endpoint, PostgreSQL and Redis.

Times are fixed with time-machine; NOON is 12:00 in Asia/Shanghai (the default brand zone).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
import time_machine
from django.conf import settings

from campaigns.fatigue.rules import ALL_RULES
from campaigns.models import Delivery, Post, PostStatus, PublishDecision
from customers.models import Advocate, AdvocateStatus, CustomerKind
from interactions.models import Interaction, Tie
from tests.campaigns.factories import PostFactory
from tests.conftest import customer_client_for, staff_client_for
from tests.factories import AdvocateFactory, CustomerFactory
from tests.graph import author_with_friends, befriend, set_policy

pytestmark = pytest.mark.django_db

NOON = datetime(2024, 5, 15, 4, 0, tzinfo=UTC)  # Wednesday 12:00 Asia/Shanghai
DAY = timedelta(days=1)
US = timedelta(microseconds=1)
# Only the rule under test: the others off unless a test switches them on.
SENDER_ONLY = sorted({"sender_daily_cap", "sender_weekly_cap"})


def rules_on(*names: str) -> list[str]:
    return sorted(names)


def publish(client, post, *, at: datetime, preview: bool = False) -> dict:
    path = "publish-preview" if preview else "publish"
    with time_machine.travel(at, tick=False):
        response = client.post(f"/api/v1/posts/{post.pk}/{path}/")
    assert response.status_code == 200, response.json()
    return response.json()


def new_post(author, commercial: bool = True) -> Post:
    return PostFactory(author=author, commercial=commercial)


def codes(answer: dict) -> list[str]:
    return [reason["code"] for reason in answer["reasons"]]


@pytest.fixture
def redis():
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def fatigue_state(client) -> dict:
    """The fatigue sorted sets (sender posts, recipient exposures) with their members."""
    return {
        key: client.zrange(key, 0, -1, withscores=True)
        for key in sorted(client.keys("*:fat:[sr]:*"))
    }


# --- sender caps --------------------------------------------------------------------------


def test_sender_daily_cap_the_cap_th_post_goes_out_the_next_does_not(brand):
    # given a cap of 2 commercial posts a day and nothing else switched on
    set_policy(brand, enabled_rules=SENDER_ONLY)
    author, _ = author_with_friends(brand, 3)
    client = customer_client_for(author)

    # when the author publishes three commercial posts on one day
    first = publish(client, new_post(author), at=NOON)
    second = publish(client, new_post(author), at=NOON + timedelta(hours=1))
    third_post = new_post(author)
    third = publish(client, third_post, at=NOON + timedelta(hours=2))

    # then the second (the cap-th) goes out and the third is rejected with its numbers
    assert first["decision"] == second["decision"] == "published"
    assert second["delivered"] == 3
    assert third["decision"] == "rejected"
    (reason,) = third["reasons"]
    assert reason["code"] == "sender_daily_cap"
    assert reason["data"]["cap"] == 2 and reason["data"]["count"] == 2
    assert (
        "sender cap 2/day reached: 2 commercial posts since 2024-05-15 00:00" in (reason["message"])
    )
    stored = PublishDecision.objects.get(post=third_post)
    assert stored.rules[0]["code"] == "sender_daily_cap"
    assert Post.objects.get(pk=third_post.pk).rejection_reasons[0]["code"] == "sender_daily_cap"
    assert not Delivery.objects.filter(post=third_post).exists()

    # and the next local day (00:00 Shanghai) the author may post again
    next_day = datetime(2024, 5, 15, 16, 0, tzinfo=UTC)
    assert publish(client, new_post(author), at=next_day - US)["decision"] == "rejected"
    assert publish(client, new_post(author), at=next_day)["decision"] == "published"


def test_sender_window_cap_rolls_at_the_exact_edge(brand):
    # given 1 per day and 2 per rolling 7 days
    set_policy(brand, enabled_rules=SENDER_ONLY, sender_daily_cap=1, sender_weekly_cap=2)
    author, _ = author_with_friends(brand, 2)
    client = customer_client_for(author)
    assert publish(client, new_post(author), at=NOON)["decision"] == "published"
    assert publish(client, new_post(author), at=NOON + DAY)["decision"] == "published"

    # when the third comes a microsecond before the first leaves the window, then exactly then
    before = publish(client, new_post(author), at=NOON + 7 * DAY - US)
    at_edge = publish(client, new_post(author), at=NOON + 7 * DAY)

    # then the window is (t - 7 days, t]: rejected, then published
    assert before["decision"] == "rejected"
    assert codes(before) == ["sender_weekly_cap"]
    assert before["reasons"][0]["data"] == {
        "cap": 2,
        "count": 2,
        "since": (NOON - US).isoformat(),
    }
    assert at_edge["decision"] == "published"


def test_minimum_gap_defers_to_the_exact_time_and_share_rejects(brand):
    set_policy(brand, enabled_rules=rules_on("sender_min_gap", "sender_commercial_share"))
    author, _ = author_with_friends(brand, 2)
    client = customer_client_for(author)

    # a first commercial post needs a non-commercial one beside it (share ≤ 50 %)
    lonely = publish(client, new_post(author), at=NOON)
    assert lonely["decision"] == "rejected"
    assert codes(lonely) == ["sender_commercial_share"]
    assert publish(client, new_post(author, commercial=False), at=NOON)["decision"] == "published"
    assert publish(client, new_post(author), at=NOON)["decision"] == "published"
    publish(client, new_post(author, commercial=False), at=NOON)

    # the next commercial one within 3 h is deferred to exactly 3 h after the last
    answer = publish(client, new_post(author), at=NOON + timedelta(hours=1))
    assert answer["decision"] == "deferred"
    assert answer["deferred_until"].replace("Z", "+00:00") == (
        (NOON + timedelta(hours=3)).isoformat()
    )
    assert codes(answer) == ["sender_min_gap"]


# --- quiet hours ---------------------------------------------------------------------------


def test_quiet_hours_across_midnight_in_the_brands_time_zone(brand):
    # given a brand in Berlin (UTC+2 in May) with quiet hours 22:00–08:00
    brand.time_zone = "Europe/Berlin"
    brand.save()
    set_policy(brand, enabled_rules=rules_on("quiet_hours"))
    author, _ = author_with_friends(brand, 2)
    client = customer_client_for(author)
    late = datetime(2024, 5, 15, 21, 30, tzinfo=UTC)  # 23:30 Berlin
    early = datetime(2024, 5, 16, 5, 59, tzinfo=UTC)  # 07:59 Berlin
    eight = datetime(2024, 5, 16, 6, 0, tzinfo=UTC)  # 08:00 Berlin

    # when posts come at 23:30, 07:59 and 08:00 local time
    night_post = new_post(author)
    night = publish(client, night_post, at=late)
    dawn = publish(client, new_post(author), at=early)
    morning = publish(client, new_post(author), at=eight)

    # then the first two wait until 08:00 Berlin the next morning, the third goes out
    assert night["decision"] == dawn["decision"] == "deferred"
    assert night["deferred_until"].replace("Z", "+00:00") == eight.isoformat()
    assert dawn["deferred_until"].replace("Z", "+00:00") == eight.isoformat()
    assert codes(night) == ["quiet_hours"]
    assert night["reasons"][0]["data"]["time_zone"] == "Europe/Berlin"
    assert morning["decision"] == "published"
    stored = Post.objects.get(pk=night_post.pk)
    assert stored.status == PostStatus.DEFERRED and stored.deferred_until == eight
    # non-commercial posts are never deferred by quiet hours
    assert publish(client, new_post(author, False), at=late)["decision"] == "published"


def test_quiet_hours_follow_a_policy_time_zone_other_than_the_brands(brand):
    set_policy(brand, enabled_rules=rules_on("quiet_hours"), time_zone="America/New_York")
    author, _ = author_with_friends(brand, 1)
    client = customer_client_for(author)
    # 12:00 in Shanghai is 00:00 in New York: quiet there
    answer = publish(client, new_post(author), at=NOON)
    assert answer["decision"] == "deferred"
    assert answer["deferred_until"].replace("Z", "+00:00") == "2024-05-15T12:00:00+00:00"


# --- recipients -------------------------------------------------------------------------------


def test_recipient_budgets_across_senders_scaled_by_tie_strength(brand):
    # given a weak and a strong friend shared by three senders (daily budget 1 × (0.5 + s))
    set_policy(brand, enabled_rules=rules_on("recipient_daily_cap", "recipient_weekly_cap"))
    weak, strong = CustomerFactory.create_batch(2, brand=brand)
    senders = CustomerFactory.create_batch(3, brand=brand)
    for sender in senders:
        befriend(sender, [weak, strong])
        for friend, strength in ((weak, 0.0), (strong, 1.0)):
            Tie.objects.create(brand=brand, source=sender, target=friend, strength=strength)
            Tie.objects.create(brand=brand, source=friend, target=sender, strength=strength)

    # when each sender publishes one commercial post the same day
    answers = [
        publish(customer_client_for(s), new_post(s), at=NOON + i * timedelta(minutes=5))
        for i, s in enumerate(senders)
    ]

    # then the weak tie gets one (budget 1), the strong tie two (budget floor(1.5 + 0.5) = 2)
    assert [a["delivered"] for a in answers] == [2, 1, 0]
    assert answers[1]["suppressed"] == {"recipient_daily_cap": 1}
    assert answers[2]["suppressed"] == {"recipient_daily_cap": 2}
    got = Delivery.objects.filter(status="delivered")
    assert got.filter(recipient=weak).count() == 1
    assert got.filter(recipient=strong).count() == 2
    reason = Delivery.objects.get(post__author=senders[1], recipient=weak).reason
    assert reason == "recipient_daily_cap"
    # the stored decision explains the suppression with its numbers
    rules_fired = PublishDecision.objects.get(post__author=senders[2]).rules
    assert {
        "code": "recipient_daily_cap",
        "message": "2 recipient(s) reached their daily commercial budget",
        "data": {"recipients": 2, "base_budget": 1},
    } in rules_fired


def test_cooldowns_expire_and_apply_to_non_commercial_posts(brand):
    # given one friend who muted the author and one who hid a post, at T
    set_policy(brand, enabled_rules=rules_on("cooldown"))
    author, (muter, hider, other) = author_with_friends(brand, 3)
    client = customer_client_for(author)
    Tie.objects.create(brand=brand, source=muter, target=author, muted_at=NOON)
    Tie.objects.create(brand=brand, source=hider, target=author, last_hidden_at=NOON)

    # then a non-commercial post skips both until their cool-downs end, exactly then
    assert publish(client, new_post(author, False), at=NOON + 30 * DAY - US)["suppressed"] == {
        "hidden_post": 1,
        "muted": 1,
    }
    assert publish(client, new_post(author, False), at=NOON + 30 * DAY)["suppressed"] == {
        "muted": 1
    }
    last = publish(client, new_post(author, False), at=NOON + 90 * DAY)
    assert last["suppressed"] == {} and last["delivered"] == 3

    # and a brand that shortens the mute cool-down sees it at once
    set_policy(brand, cooldown_days={"mute_author": 10})
    Tie.objects.filter(source=muter).update(muted_at=NOON + 90 * DAY)
    answer = publish(client, new_post(author, False), at=NOON + 100 * DAY - US)
    assert answer["suppressed"] == {"muted": 1}
    assert publish(client, new_post(author, False), at=NOON + 100 * DAY)["suppressed"] == {}


def test_block_is_for_good_and_consent_only_binds_commercial_posts(brand):
    set_policy(brand, enabled_rules=rules_on("cooldown"))
    author, (blocker, opted_out, _) = author_with_friends(brand, 3)
    Tie.objects.create(brand=brand, source=blocker, target=author, blocked_at=NOON)
    opted_out.marketing_consent = False
    opted_out.save()
    client = customer_client_for(author)

    later = NOON + 400 * DAY
    assert publish(client, new_post(author, False), at=later)["suppressed"] == {"blocked": 1}
    commercial = publish(client, new_post(author), at=later + DAY)
    assert commercial["suppressed"] == {"blocked": 1, "consent": 1}


def _exposure(author, recipient, at, engaged: bool = False):
    """A commercial post of ``author`` delivered to ``recipient`` at ``at`` (ledger rows)."""
    post = Post.objects.create(
        brand_id=author.brand_id,
        author=author,
        text="promo #ad",
        commercial=True,
        status=PostStatus.PUBLISHED,
        published_at=at,
    )
    Delivery.objects.create(
        brand_id=author.brand_id, post=post, recipient=recipient, status="delivered", created_at=at
    )
    if engaged:
        Interaction.objects.create(
            brand_id=author.brand_id,
            event_id=f"like-{post.pk}-{recipient.pk}",
            type="like",
            actor=recipient,
            target=author,
            post=post,
            occurred_at=at + timedelta(minutes=1),
            received_at=at + timedelta(minutes=1),
        )
    return post


def test_backoff_after_three_ignored_commercial_posts_doubles(brand):
    # given two friends who got three commercial posts on three days; one liked the last one
    set_policy(brand, enabled_rules=rules_on("backoff"))
    author, (ignorer, engager) = author_with_friends(brand, 2)
    other_sender = CustomerFactory(brand=brand)
    for day in range(3):
        at = NOON + day * DAY
        _exposure(other_sender, ignorer, at)  # exposures count across the brand's senders
        _exposure(other_sender, engager, at, engaged=(day == 2))
    last = NOON + 2 * DAY
    client = customer_client_for(author)

    # then the ignorer is backed off for 2 days after the last ignored one, exactly
    held = publish(client, new_post(author), at=last + 2 * DAY - US)
    assert held["suppressed"] == {"backoff": 1}
    assert held["delivered"] == 1
    resumed = publish(client, new_post(author), at=last + 2 * DAY)
    assert resumed["delivered"] == 2

    # and after a fourth ignored exposure the back-off is 4 days
    fourth = last + 2 * DAY
    held_post, resumed_post = new_post(author), new_post(author)
    publish(client, held_post, at=fourth + 4 * DAY - US)
    publish(client, resumed_post, at=fourth + 4 * DAY)
    assert Delivery.objects.get(post=held_post, recipient=ignorer).reason == "backoff"
    assert Delivery.objects.get(post=resumed_post, recipient=ignorer).status == "delivered"


# --- sender health ----------------------------------------------------------------------------


def _negative(actor, target, at, kind="hide_post"):
    Interaction.objects.create(
        brand_id=actor.brand_id,
        event_id=f"{kind}-{actor.pk}-{target.pk}-{at.timestamp()}",
        type=kind,
        actor=actor,
        target=target,
        occurred_at=at,
        received_at=at,
    )


def test_sender_health_halves_the_caps(brand):
    # given an advocate who reached 10 friends, one of whom hid a post (10 % > 5 %, ≤ 20 %)
    set_policy(
        brand,
        enabled_rules=rules_on("sender_daily_cap", "sender_health"),
        health_halve_rate=0.05,
        health_pause_rate=0.2,
    )
    advocate = AdvocateFactory(customer=CustomerFactory(brand=brand))
    author = advocate.customer
    friends = CustomerFactory.create_batch(10, brand=brand)
    befriend(author, friends)
    client = customer_client_for(author)
    publish(client, new_post(author, False), at=NOON - DAY)
    _negative(friends[0], author, NOON - DAY + timedelta(hours=1))

    # when they publish two commercial posts
    first = publish(client, new_post(author), at=NOON)
    second = publish(client, new_post(author), at=NOON + timedelta(hours=1))

    # then the first goes out with caps halved (2 → 1/day), the second is over the halved cap
    assert first["decision"] == "published"
    assert codes(first) == ["sender_health"]
    assert first["reasons"][0]["data"]["daily_cap"] == 1
    assert second["decision"] == "rejected"
    assert codes(second) == ["sender_health", "sender_daily_cap"]
    assert Advocate.objects.get(pk=advocate.pk).status == AdvocateStatus.ACTIVE


def test_sender_health_pauses_the_advocate_with_the_reason_staff_see(brand, staff_client):
    # given an advocate whose 10 recipients sent 3 negative signals (30 % > 20 %)
    set_policy(brand, health_halve_rate=0.05, health_pause_rate=0.2)
    advocate = AdvocateFactory(customer=CustomerFactory(brand=brand))
    author = advocate.customer
    friends = CustomerFactory.create_batch(10, brand=brand)
    befriend(author, friends)
    client = customer_client_for(author)
    publish(client, new_post(author, False), at=NOON - DAY)
    for friend in friends[:3]:
        _negative(friend, author, NOON - DAY + timedelta(hours=1), kind="mute_author")

    # a preview says so but pauses nobody
    preview = publish(client, new_post(author), at=NOON, preview=True)
    assert preview["decision"] == "rejected"
    assert Advocate.objects.get(pk=advocate.pk).status == AdvocateStatus.ACTIVE

    # when they publish a commercial post
    answer = publish(client, new_post(author), at=NOON)

    # then it is rejected and the advocate paused; staff see why
    assert answer["decision"] == "rejected"
    assert codes(answer) == ["sender_health"]
    assert "advocate paused" in answer["reasons"][0]["message"]
    paused = Advocate.objects.get(pk=advocate.pk)
    assert paused.status == AdvocateStatus.PAUSED
    assert "sender health: 3 negative actions for 10 recipients" in paused.status_reason
    shown = staff_client.get(f"/api/v1/advocates/{advocate.pk}/").json()
    assert shown["status"] == "paused"
    assert shown["status_reason"] == paused.status_reason
    # and the next commercial post names the pause and its reason
    again = publish(client, new_post(author), at=NOON + DAY)
    assert codes(again) == ["advocate_paused"]
    assert "sender health" in again["reasons"][0]["message"]
    # non-commercial posts still go out
    assert publish(client, new_post(author, False), at=NOON + DAY)["decision"] == "published"


# --- policy scope ---------------------------------------------------------------------------


def test_non_commercial_posts_skip_the_commercial_caps(brand):
    set_policy(brand, enabled_rules=SENDER_ONLY, sender_daily_cap=1)
    author, _ = author_with_friends(brand, 2)
    client = customer_client_for(author)
    assert publish(client, new_post(author), at=NOON)["decision"] == "published"
    assert publish(client, new_post(author), at=NOON)["decision"] == "rejected"
    for _ in range(3):
        assert publish(client, new_post(author, False), at=NOON)["decision"] == "published"


def test_brand_accounts_follow_the_policys_brand_account_rules(brand):
    # given brand accounts bound by the recipient rules but not by the sender caps
    set_policy(
        brand,
        enabled_rules=SENDER_ONLY,
        sender_daily_cap=1,
        brand_account_rules=sorted(ALL_RULES - {"sender_daily_cap", "sender_weekly_cap"}),
    )
    account, _ = author_with_friends(brand, 2, kind=CustomerKind.BRAND_ACCOUNT)
    person, _ = author_with_friends(brand, 2)
    staff = staff_client_for(brand)

    # then the brand account posts past the cap; a consumer does not
    for minute in range(3):
        at = NOON + timedelta(minutes=minute)
        assert publish(staff, new_post(account), at=at)["decision"] == "published"
    client = customer_client_for(person)
    assert publish(client, new_post(person), at=NOON)["decision"] == "published"
    assert publish(client, new_post(person), at=NOON)["decision"] == "rejected"


def test_one_brands_policy_never_applies_to_another(brand, other_brand):
    # given brand A allows 1 commercial post a day; brand B keeps the defaults (2)
    set_policy(brand, enabled_rules=SENDER_ONLY, sender_daily_cap=1)
    set_policy(other_brand, enabled_rules=SENDER_ONLY)
    author, _ = author_with_friends(other_brand, 2)
    client = customer_client_for(author)

    # then brand B's sender posts twice
    assert publish(client, new_post(author), at=NOON)["decision"] == "published"
    assert publish(client, new_post(author), at=NOON)["decision"] == "published"
    assert publish(client, new_post(author), at=NOON)["decision"] == "rejected"


# --- preview, explanations -------------------------------------------------------------------


def test_preview_consumes_nothing_and_matches_publish(brand, redis):
    # given recipients near their budgets
    set_policy(brand, enabled_rules=rules_on("sender_daily_cap", "recipient_daily_cap"))
    author, friends = author_with_friends(brand, 4)
    other = CustomerFactory(brand=brand)
    befriend(other, friends[:2])
    publish(customer_client_for(other), new_post(other), at=NOON - timedelta(hours=1))
    client = customer_client_for(author)
    post = new_post(author)
    before = fatigue_state(redis)

    # when the post is previewed twice
    first = publish(client, post, at=NOON, preview=True)
    second = publish(client, post, at=NOON, preview=True)

    # then nothing was consumed or written, and publishing answers the same
    assert fatigue_state(redis) == before
    assert not Delivery.objects.filter(post=post).exists()
    assert not PublishDecision.objects.filter(post=post).exists()
    assert first == second
    assert first["suppressed"] == {"recipient_daily_cap": 2} and first["delivered"] == 2
    published = publish(client, post, at=NOON)
    assert published == first
    assert fatigue_state(redis) != before


def test_post_stats_and_admin_show_suppressions_by_reason(brand, staff_client):
    from tests.conftest import admin_client_for

    set_policy(brand, enabled_rules=rules_on("cooldown"))
    author, (muter, _) = author_with_friends(brand, 2, kind=CustomerKind.BRAND_ACCOUNT)
    Tie.objects.create(brand=brand, source=muter, target=author, muted_at=NOON)
    post = new_post(author)
    publish(staff_client, post, at=NOON)

    stats = staff_client.get(f"/api/v1/posts/{post.pk}/").json()["stats"]
    assert stats["suppressed"] == {"muted": 1} and stats["delivered"] == 1
    decision = PublishDecision.objects.get(post=post)
    admin = admin_client_for(brand)
    page = admin.get(f"/admin/campaigns/publishdecision/{decision.pk}/change/")
    assert page.status_code == 200
    assert b"1 recipient(s) muted the sender" in page.content


def test_sender_caps_up_to_the_policys_maximum_are_enforced(brand):
    # given the largest sender caps the policy accepts (beyond a recipient budget's wire size)
    set_policy(brand, enabled_rules=SENDER_ONLY, sender_daily_cap=1000, sender_weekly_cap=1000)
    author, _ = author_with_friends(brand, 1)

    # then a commercial post goes out (the counters take any valid cap)
    answer = publish(customer_client_for(author), new_post(author), at=NOON)
    assert answer["decision"] == "published"


def test_inputs_read_every_friend_as_aligned_columns(brand):
    # given friends with different states: many exposures, none, a mute, the author's block,
    # no consent, no tie row, an ignored streak after a like
    from campaigns.fatigue.rules import NO_TIME, FatiguePolicy, to_us
    from campaigns.services.fatigue_live import fatigue_inputs

    author, (busy, quiet, muted, blocked, opted_out) = author_with_friends(brand, 5)
    other = CustomerFactory(brand=brand)
    opted_out.marketing_consent = False
    opted_out.save(update_fields=["marketing_consent"])
    Tie.objects.create(brand=brand, source=busy, target=author, strength=0.7)
    Tie.objects.create(brand=brand, source=muted, target=author, muted_at=NOON - 3 * DAY)
    Tie.objects.create(brand=brand, source=author, target=blocked, blocked_at=NOON - DAY)
    busy_times = [NOON - timedelta(hours=h) for h in (1, 5, 9, 30, 50, 70, 90, 110)]
    for i, at in enumerate(sorted(busy_times)):
        _exposure(other, busy, at, engaged=(i == 2))  # liked the third oldest
    _exposure(other, muted, NOON - 8 * DAY)  # outside the window, still in the streak

    # when the inputs of a commercial post at noon are read
    policy = FatiguePolicy()
    _, _, columns = fatigue_inputs(
        author=author, commercial=True, now=NOON, policy=policy, exposures=True
    )

    # then there is one row per friend in id order, each column aligned with the ids
    friends = [busy, quiet, muted, blocked, opted_out]
    assert columns.ids == sorted(f.pk for f in friends)
    row = {pk: i for i, pk in enumerate(columns.ids)}
    assert columns.strength[row[busy.pk]] == 0.7 and columns.strength[row[quiet.pk]] == 0
    assert not columns.marketing_consent[row[opted_out.pk]]
    assert columns.marketing_consent.sum() == 4
    mutes = columns.negatives["mute_author"]
    assert mutes[row[muted.pk]] == to_us(NOON - 3 * DAY)
    assert (mutes == NO_TIME).sum() == 4
    assert columns.negatives["block"][row[blocked.pk]] == to_us(NOON - DAY)
    # the busy friend's newest 6 exposures (the most any budget needs), nobody else's
    assert set(columns.exposure_owner.tolist()) == {row[busy.pk]}
    newest = sorted(busy_times, reverse=True)[:6]
    assert sorted(columns.exposure_us.tolist()) == sorted(to_us(t) for t in newest)
    # five ignored since the like, the last an hour ago; the muted friend one, 8 days ago
    assert columns.ignored_in_row[row[busy.pk]] == 5
    assert columns.last_ignored_us[row[busy.pk]] == to_us(NOON - timedelta(hours=1))
    assert columns.ignored_in_row[row[muted.pk]] == 1
    assert columns.last_ignored_us[row[quiet.pk]] == NO_TIME
    # and the publish path's read (budgets left to the Redis counters) is the same but for
    # the exposures
    _, _, lean = fatigue_inputs(author=author, commercial=True, now=NOON, policy=policy)
    assert lean.ids == columns.ids and lean.exposure_us.size == 0
    assert (lean.ignored_in_row == columns.ignored_in_row).all()
    assert (lean.negatives["block"] == columns.negatives["block"]).all()


def test_a_preview_reads_the_post_and_then_all_fatigue_inputs_in_one_statement(
    brand, django_assert_num_queries
):
    # given an advocate with friends in every kind of state and a stored policy
    from campaigns.services.fatigue_live import counters_rebuild
    from campaigns.services.publish import post_publish
    from scrm.tenancy.services import Caller, CallerKind

    set_policy(brand, enabled_rules=sorted(ALL_RULES - {"quiet_hours", "sender_min_gap"}))
    author, friends = author_with_friends(brand, 4)
    AdvocateFactory(customer=author, brand=brand)
    Tie.objects.create(brand=brand, source=friends[0], target=author, muted_at=NOON - DAY)
    _exposure(CustomerFactory(brand=brand), friends[1], NOON - DAY)
    plain = Post.objects.create(
        brand=brand, author=author, text="hi", status=PostStatus.PUBLISHED, published_at=NOON
    )
    post = new_post(author)
    caller = Caller(kind=CallerKind.CUSTOMER, brand_id=brand.pk, customer_id=author.pk)
    counters_rebuild(brand_id=brand.pk, now=NOON)  # warm counters: no ledger read

    # when the post is previewed: the post (with author, advocate, brand, policy), then the
    # inputs; the counters are in Redis
    at = NOON + timedelta(minutes=1)
    with time_machine.travel(at, tick=False), django_assert_num_queries(2):
        answer = post_publish(caller=caller, post=post, preview=True)

    # then the answer is a full decision
    assert plain.commercial is False
    assert answer["decision"] == "published"
    assert answer["suppressed"] == {"muted": 1}
    assert answer["delivered"] == 3
