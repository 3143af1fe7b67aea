"""Retention: raw interactions older than a brand's period are folded into per-pair
aggregates that the recompute reads, so its result does not change."""

import random
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from interactions.models import Interaction, ScoringPending, Tie
from interactions.recompute import ties_recompute
from privacy.models import FoldedPair, RetentionPolicy
from privacy.retention import interactions_fold, retention_apply, retention_policy_set
from privacy.tasks import fold_interactions
from tests.campaigns.factories import CampaignFactory, PostFactory
from tests.factories import CustomerFactory
from tests.graph import befriend

pytestmark = pytest.mark.django_db

TYPES = ["view", "click", "like", "comment", "reply", "forward", "message", "purchase"]


def scattered_log(brand, people, now, n=300, seed=7):
    """n events among ``people`` over the last 500 days, likes later taken back by unlikes,
    a few negative signals; all already scored (nothing in the outbox)."""
    rnd = random.Random(seed)
    rows = []
    for k in range(n):
        actor, target = rnd.sample(people, 2)
        at = now - timedelta(days=rnd.uniform(0, 500))
        kind = rnd.choice(TYPES)
        rows.append((actor, target, kind, at, None))
        if kind == "like" and rnd.random() < 0.3:
            rows.append((actor, target, "unlike", at + timedelta(days=rnd.uniform(0, 40)), at))
        if k % 50 == 0:
            rows.append((actor, target, "mute_author", at, None))
    Interaction.objects.bulk_create(
        Interaction(
            brand=brand,
            event_id=f"ev-{i}",
            type=kind,
            actor=actor,
            target=target,
            occurred_at=min(at, now),
            received_at=now,
            cancels_at=cancels,
        )
        for i, (actor, target, kind, at, cancels) in enumerate(rows)
    )


def ties_now(brand) -> dict:
    return {
        (t.source_id, t.target_id): (t.affinity, t.strength, t.last_event_at)
        for t in Tie.objects.filter(brand=brand)
    }


def assert_same_ties(before: dict, after: dict) -> None:
    assert after.keys() == before.keys()
    for key, (affinity, strength, last) in before.items():
        assert after[key][0] == pytest.approx(affinity, rel=1e-9, abs=1e-12), key
        assert after[key][1] == pytest.approx(strength, rel=1e-9, abs=1e-12), key
        assert after[key][2] == last, key


def test_recompute_after_folding_equals_recompute_before(brand):
    # given five friends with 500 days of events, scored by a recompute
    people = CustomerFactory.create_batch(5, brand=brand)
    befriend(people[0], people[1:])
    now = timezone.now()
    scattered_log(brand, people, now)
    ties_recompute(brand_id=brand.pk, as_of=now)
    before = ties_now(brand)
    assert len(before) >= 8
    raw = Interaction.objects.filter(brand=brand).count()

    # when events older than 300 days, then older than 180 days, are folded
    first = interactions_fold(brand_id=brand.pk, before=now - timedelta(days=300))
    second = interactions_fold(brand_id=brand.pk, before=now - timedelta(days=180))
    again = interactions_fold(brand_id=brand.pk, before=now - timedelta(days=180))

    # then the raw log holds only the last 180 days, the rest is in per-pair aggregates
    assert first.deleted > 0 and second.deleted > 0 and again.deleted == 0
    assert Interaction.objects.filter(brand=brand).count() == raw - first.deleted - second.deleted
    assert not Interaction.objects.filter(occurred_at__lt=now - timedelta(days=180)).exists()
    assert FoldedPair.objects.filter(brand=brand).count() > 0
    # and a recompute gives the same ties as before
    ties_recompute(brand_id=brand.pk, as_of=now)
    assert_same_ties(before, ties_now(brand))
    # (which it would not be without the aggregates)
    FoldedPair.objects.all().delete()
    ties_recompute(brand_id=brand.pk, as_of=now)
    without = ties_now(brand)
    assert any(
        without.get(key, (0,))[0] != pytest.approx(value[0], rel=1e-6)
        for key, value in before.items()
    )


def test_campaign_posts_pending_events_and_other_brands_are_kept(brand, other_brand):
    alice, bob = CustomerFactory.create_batch(2, brand=brand)
    post = PostFactory(author=alice, campaign=CampaignFactory(brand=brand), commercial=True)
    rival = CustomerFactory.create_batch(2, brand=other_brand)
    old = timezone.now() - timedelta(days=400)

    def event(event_id, actor, target, kind, **extra):
        return Interaction.objects.create(
            brand=actor.brand,
            event_id=event_id,
            type=kind,
            actor=actor,
            target=target,
            occurred_at=old,
            received_at=old,
            **extra,
        )

    on_campaign = event("c", bob, alice, "like", post=post)
    pending = event("p", bob, alice, "message")
    ScoringPending.objects.create(
        interaction_id=pending.pk,
        brand_id=brand.pk,
        pair_key=alice.pk + bob.pk,
        created_at=old,
    )
    elsewhere = event("x", rival[0], rival[1], "message")
    folded = event("f", alice, bob, "message")
    negative = event("n", alice, bob, "block")

    report = interactions_fold(brand_id=brand.pk, before=timezone.now() - timedelta(days=180))

    assert report.deleted == 2
    left = set(Interaction.objects.values_list("pk", flat=True))
    assert {on_campaign.pk, pending.pk, elsewhere.pk} <= left
    assert folded.pk not in left and negative.pk not in left
    row = FoldedPair.objects.get()
    assert (row.source_id, row.target_id, row.events) == (alice.pk, bob.pk, 2)
    assert row.d_message > 0 and row.last_at == old


def test_policy_default_keeps_everything_and_the_task_applies_it(brand):
    alice, bob = CustomerFactory.create_batch(2, brand=brand)
    old = timezone.now() - timedelta(days=400)
    Interaction.objects.create(
        brand=brand,
        event_id="e",
        type="message",
        actor=alice,
        target=bob,
        occurred_at=old,
        received_at=old,
    )
    # no policy, or a policy that keeps everything: nothing is folded
    assert retention_apply(brand_id=brand.pk).deleted == 0
    retention_policy_set(brand=brand, raw_interaction_days=None)
    assert fold_interactions.apply().get() == []
    assert Interaction.objects.count() == 1
    # a period shorter than the minimum is refused
    with pytest.raises(ValidationError):
        retention_policy_set(brand=brand, raw_interaction_days=30)

    # with a period of one year, the beat task folds the event
    retention_policy_set(brand=brand, raw_interaction_days=365)
    (report,) = fold_interactions.apply().get()
    assert report["deleted"] == 1
    assert Interaction.objects.count() == 0
    assert RetentionPolicy.objects.get(brand=brand).last_fold["deleted"] == 1


def test_owners_set_the_period_in_the_admin_managers_only_see_it(brand):
    from django.urls import reverse

    from scrm.tenancy.models import Role
    from tests.conftest import admin_client_for

    owner = admin_client_for(brand, Role.OWNER)
    add = reverse("admin:privacy_retentionpolicy_add")
    short = owner.post(add, {"brand": brand.pk, "raw_interaction_days": 30})
    assert short.status_code == 200 and b"At least 180 days" in short.content
    saved = owner.post(add, {"brand": brand.pk, "raw_interaction_days": 400})
    assert saved.status_code == 302, saved.content[:500]
    policy = RetentionPolicy.objects.get(brand=brand)
    assert policy.raw_interaction_days == 400

    manager = admin_client_for(brand, Role.MANAGER)
    change = reverse("admin:privacy_retentionpolicy_change", args=[policy.pk])
    assert manager.get(change).status_code == 200
    manager.post(change, {"brand": brand.pk, "raw_interaction_days": ""})
    policy.refresh_from_db()
    assert policy.raw_interaction_days == 400
