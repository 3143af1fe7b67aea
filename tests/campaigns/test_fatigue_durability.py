"""Concurrency, Redis loss and rebuild, and deferred posts publishing themselves."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django_celery_beat.models import PeriodicTask

from campaigns.models import Delivery, Post, PostStatus, PublishDecision
from campaigns.services.publish import post_publish, posts_publish_due
from campaigns.tasks import publish_due_posts
from tests.campaigns.factories import PostFactory
from tests.conftest import customer_client_for
from tests.factories import CustomerFactory
from tests.graph import author_with_friends, befriend, customer_caller, set_policy

NOON = datetime(2024, 5, 15, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai
NIGHT = datetime(2024, 5, 15, 15, 30, tzinfo=UTC)  # 23:30 Asia/Shanghai
MORNING = datetime(2024, 5, 16, 0, 0, tzinfo=UTC)  # 08:00 Asia/Shanghai
US = timedelta(microseconds=1)


@pytest.fixture
def redis():
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    yield client
    client.close()


def fatigue_state(client) -> dict:
    return {
        key: client.zrange(key, 0, -1, withscores=True)
        for key in sorted(client.keys("*:fat:[sr]:*"))
    }


def publish_at(author, post, at, preview=False) -> dict:
    with time_machine.travel(at, tick=False):
        return post_publish(caller=customer_caller(author), post=post, preview=preview)


def publish_concurrently(author, posts) -> list[str]:
    """Publish each post from its own thread, all released at once; their verdicts."""
    barrier = threading.Barrier(len(posts))
    verdicts: list[str] = []
    errors: list[BaseException] = []

    def run(post):
        try:
            barrier.wait()
            verdicts.append(post_publish(caller=customer_caller(author), post=post)["decision"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(post,)) for post in posts]
    with time_machine.travel(NOON, tick=True):  # far from the day's edge, in every thread
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    return verdicts


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_by_one_sender_never_exceed_a_cap(brand):
    # given a cap of 2 commercial posts a day and a recipient budget of 1 a day
    set_policy(brand, enabled_rules=["recipient_daily_cap", "sender_daily_cap"])
    author, friends = author_with_friends(brand, 20)
    posts = [PostFactory(author=author, commercial=True) for _ in range(8)]

    # when eight threads publish eight commercial posts of that sender at once
    verdicts = publish_concurrently(author, posts)

    # then exactly two went out, and no friend saw more than one
    assert Counter(verdicts) == {"published": 2, "rejected": 6}
    assert Post.objects.filter(status=PostStatus.PUBLISHED).count() == 2
    per_friend = Counter(
        Delivery.objects.filter(status="delivered").values_list("recipient_id", flat=True)
    )
    assert set(per_friend.values()) == {1} and len(per_friend) == 20
    rejected = PublishDecision.objects.filter(decision="rejected")
    assert {r.reasons[-1]["code"] for r in rejected} == {"sender_daily_cap"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_right_after_redis_lost_its_state(brand, redis):
    # given one commercial post out (cap 2), then Redis loses everything
    set_policy(brand, enabled_rules=["recipient_daily_cap", "sender_daily_cap"])
    author, friends = author_with_friends(brand, 10)
    publish_at(author, PostFactory(author=author, commercial=True), NOON - timedelta(minutes=1))
    redis.flushall()

    # when six threads publish at once (one rebuilds from the ledger, the others wait)
    posts = [PostFactory(author=author, commercial=True) for _ in range(6)]
    verdicts = publish_concurrently(author, posts)

    # then one more went out, and the recipients' budgets held
    assert Counter(verdicts) == {"published": 1, "rejected": 5}
    assert Post.objects.filter(status=PostStatus.PUBLISHED).count() == 2
    per_friend = Counter(
        Delivery.objects.filter(status="delivered").values_list("recipient_id", flat=True)
    )
    assert max(per_friend.values()) == 1


# --- Redis loss and rebuild -------------------------------------------------------------------


def _busy_brand(brand):
    """Three senders with commercial and other posts to overlapping friends."""
    set_policy(brand, enabled_rules=["recipient_daily_cap", "recipient_weekly_cap"])
    friends = CustomerFactory.create_batch(6, brand=brand)
    senders = CustomerFactory.create_batch(3, brand=brand)
    for index, sender in enumerate(senders):
        befriend(sender, friends[index : index + 4])
    return senders, friends


@pytest.mark.django_db
def test_rebuild_after_flushall_restores_the_same_windows(brand, redis):
    # given a few days of posting by three senders
    senders, _ = _busy_brand(brand)
    for day in range(3):
        for index, sender in enumerate(senders):
            at = NOON + timedelta(days=day, minutes=index)
            publish_at(sender, PostFactory(author=sender, commercial=True), at)
            publish_at(sender, PostFactory(author=sender), at + timedelta(minutes=30))
    before = fatigue_state(redis)
    assert before

    # when Redis loses everything and the command rebuilds it
    redis.flushall()
    with time_machine.travel(NOON + timedelta(days=2, hours=1), tick=False):
        call_command("rebuild_fatigue_counters", "--brand", str(brand.pk))

    # then every window holds exactly what it held
    assert fatigue_state(redis) == before


@pytest.mark.django_db
def test_flushall_between_publishes_keeps_every_cap(brand, redis):
    # given a recipient budget of 1 a day and a sender cap of 2 a day
    set_policy(brand, enabled_rules=["recipient_daily_cap", "sender_daily_cap"])
    author, friends = author_with_friends(brand, 5)
    other = CustomerFactory(brand=brand)
    befriend(other, friends)

    # when Redis is flushed before every publish
    answers = []
    for minute, sender in enumerate([other, author, author, author]):
        redis.flushall()
        post = PostFactory(author=sender, commercial=True)
        answers.append(publish_at(sender, post, NOON + timedelta(minutes=minute)))

    # then the state came back each time: budgets and caps held, Redis agrees with PostgreSQL
    assert [a["decision"] for a in answers] == ["published", "published", "published", "rejected"]
    assert answers[1]["suppressed"] == {"recipient_daily_cap": 5}
    assert Delivery.objects.filter(status="delivered").count() == 5
    redis.flushall()
    with time_machine.travel(NOON + timedelta(minutes=5), tick=False):
        preview = post_publish(
            caller=customer_caller(author),
            post=PostFactory(author=author, commercial=True),
            preview=True,
        )
    assert preview["decision"] == "rejected"


@pytest.mark.django_db
def test_rebuild_command_for_every_brand_and_unknown_brands(brand, other_brand, redis):
    call_command("rebuild_fatigue_counters")
    assert redis.exists(f"{{b:{brand.pk}}}:fat:ready")
    assert redis.exists(f"{{b:{other_brand.pk}}}:fat:ready")
    with pytest.raises(CommandError):
        call_command("rebuild_fatigue_counters", "--brand", "999999")


# --- deferred posts ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_deferred_post_publishes_itself_when_due(brand):
    # given a commercial post deferred by quiet hours at 23:30
    set_policy(brand, enabled_rules=["quiet_hours"])
    author, friends = author_with_friends(brand, 3)
    post = PostFactory(author=author, commercial=True)
    answer = publish_at(author, post, NIGHT)
    assert answer["decision"] == "deferred"

    # when the beat task runs just before 08:00, then at 08:00, then again
    with time_machine.travel(MORNING - US, tick=False):
        early = publish_due_posts.apply().get()
    with time_machine.travel(MORNING, tick=False):
        due = publish_due_posts.apply().get()
        again = publish_due_posts.apply().get()

    # then it went out once, at 08:00, and the decision says who decided
    assert early == {} and again == {}
    assert due == {"published": 1}
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED and post.published_at == MORNING
    assert Delivery.objects.filter(post=post, status="delivered").count() == 3
    last = PublishDecision.objects.filter(post=post).latest("created_at")
    assert last.decided_by == "task:publish_due"


@pytest.mark.django_db
def test_a_due_post_is_checked_again_and_may_be_rejected_or_deferred_again(brand):
    # given two deferred posts, a cap of 1 a day, and quiet hours
    set_policy(brand, enabled_rules=["quiet_hours", "sender_daily_cap"], sender_daily_cap=1)
    author, _ = author_with_friends(brand, 2)
    capped = PostFactory(author=author, commercial=True)
    publish_at(author, capped, NIGHT)
    other, _ = author_with_friends(brand, 2)
    later = PostFactory(author=other, commercial=True)
    publish_at(other, later, NIGHT)

    # when the author publishes another post at 08:00, and quiet hours now end at 09:00
    assert publish_at(author, PostFactory(author=author, commercial=True), MORNING)["decision"] == (
        "published"
    )
    set_policy(brand, quiet_hours_end="09:00")
    with time_machine.travel(MORNING + timedelta(minutes=1), tick=False):
        outcome = posts_publish_due(limit=10)

    # then the capped one is rejected and the other deferred again to 09:00
    assert outcome == {"rejected": 1, "deferred": 1}
    capped.refresh_from_db()
    assert capped.status == PostStatus.REJECTED
    assert capped.rejection_reasons[0]["code"] == "sender_daily_cap"
    later.refresh_from_db()
    assert later.status == PostStatus.DEFERRED
    assert later.deferred_until == MORNING + timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_a_post_locked_by_another_run_is_skipped_not_published_twice(brand):
    # given a due deferred post that another worker holds locked
    set_policy(brand, enabled_rules=["quiet_hours"])
    author, _ = author_with_friends(brand, 2)
    post = PostFactory(author=author, commercial=True)
    publish_at(author, post, NIGHT)
    locked, release = threading.Event(), threading.Event()

    def hold():
        try:
            with transaction.atomic():
                Post.objects.select_for_update().get(pk=post.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    locked.wait(10)

    # when the task runs while the row is locked, and after
    with time_machine.travel(MORNING, tick=False):
        while_locked = posts_publish_due(limit=10)
        release.set()
        holder.join()
        after = posts_publish_due(limit=10)

    # then the first run skipped it and the second published it, once
    assert while_locked == {"skipped": 1}
    assert after == {"published": 1}
    assert PublishDecision.objects.filter(post=post, decision="published").count() == 1


@pytest.mark.django_db
def test_customer_sees_a_deferred_answer_over_http(brand):
    set_policy(brand, enabled_rules=["quiet_hours"])
    author, _ = author_with_friends(brand, 1)
    post = PostFactory(author=author, commercial=True)
    client = customer_client_for(author)
    with time_machine.travel(NIGHT, tick=False):
        body = client.post(f"/api/v1/posts/{post.pk}/publish/").json()
    assert body["decision"] == "deferred"
    assert body["deferred_until"].replace("Z", "+00:00") == MORNING.isoformat()


@pytest.mark.django_db
def test_install_publishing_schedule_is_idempotent():
    call_command("install_publishing_schedule")
    call_command("install_publishing_schedule")
    task = PeriodicTask.objects.get(task="campaigns.publish_due_posts")
    assert task.interval.every == settings.SCRM["DEFERRED_PUBLISH_EVERY_MINUTES"]
