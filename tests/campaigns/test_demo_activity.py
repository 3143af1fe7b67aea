"""manage.py seed_demo_activity: history through the production services, for one brand only."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db.models import Sum

from campaigns.demo_activity import CAMPAIGN_NAME
from campaigns.models import Campaign, Conversion, Delivery, Post, PostStatus, PublishDecision
from interactions.models import Interaction, ScoringPending, Tie
from scrm.tenancy.models import Brand
from tests.conftest import staff_client_for


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


ACTIVITY_ENDS = datetime(2026, 11, 18, 6, 30, tzinfo=UTC)  # 14:30 in the brand's Shanghai


@pytest.mark.django_db
def test_demo_activity_through_the_production_services():
    # given two seeded brands; when the demo brand gets four weeks of activity (seeding once
    # costs seconds, so one test runs the checks below on the same history). The history ends
    # "now" and its schedule meets quiet hours and day edges by the clock, so the clock is set:
    # the same seeds then give the same history whatever the time of day the suite runs.
    with time_machine.travel(ACTIVITY_ENDS, tick=True):
        run("seed_demo", "--no-progress", "--customers", "600", "--seed", "2")
        run("seed_demo", "--no-progress", "--customers", "200", "--brand", "other", "--seed", "3")
        run("seed_demo_activity", "--weeks", "4", "--seed", "1", "--advocates", "30")
        seeded = Brand.objects.get(slug="demo"), Brand.objects.get(slug="other")

        check_posts_are_published_through_the_fatigue_decision_to_friends(seeded)
        check_events_respect_delivery_and_are_all_scored(seeded)
        check_the_campaign_report_adds_up_its_orders(seeded)
        check_advocates_are_ranked_by_real_influence(seeded)
        check_other_brands_are_left_alone_and_it_never_runs_twice(seeded)


def check_posts_are_published_through_the_fatigue_decision_to_friends(seeded):
    demo, _ = seeded
    posts = Post.objects.filter(brand=demo)

    assert posts.count() > 20
    # every post was decided exactly once, and only published posts have deliveries
    assert PublishDecision.objects.filter(post__brand=demo).count() == posts.count()
    published = posts.filter(status=PostStatus.PUBLISHED)
    assert published.exists()
    assert not Delivery.objects.filter(post__in=posts.exclude(status=PostStatus.PUBLISHED)).exists()
    delivered = Delivery.objects.filter(post__in=published, status="delivered")
    assert delivered.count() > 500
    # the fan-out reached friends only, and each commercial post carries the disclosure label
    assert not delivered.exclude(recipient__brand=demo).exists()
    for post in published.filter(campaign__isnull=False)[:5]:
        assert post.commercial and "#ad" in post.text


def check_events_respect_delivery_and_are_all_scored(seeded):
    demo, _ = seeded
    events = Interaction.objects.filter(brand=demo)

    assert events.filter(type="like").exists() and events.filter(type="message").exists()
    liked = events.filter(type__in=["like", "comment", "forward"], chain_depth=0)
    delivered = set(
        Delivery.objects.filter(post__brand=demo, status="delivered").values_list(
            "post_id", "recipient_id"
        )
    )
    assert set(liked.values_list("post_id", "actor_id")) <= delivered
    assert not ScoringPending.objects.filter(brand_id=demo.pk).exists()
    assert Tie.objects.filter(brand=demo, strength__gt=0).count() > 100


def check_the_campaign_report_adds_up_its_orders(seeded):
    demo, _ = seeded
    campaign = Campaign.objects.get(brand=demo, name=CAMPAIGN_NAME)
    credited = Conversion.objects.filter(campaign=campaign)

    assert credited.count() > 0
    assert credited.filter(source="store_coupon").exists()
    # orders come after the history that built the ties: the buyers' tie strength is recorded
    assert credited.filter(tie_strength_at_purchase__gt=0).exists()
    answer = staff_client_for(demo).get(f"/api/v1/campaigns/{campaign.pk}/report/")

    assert answer.status_code == 200, answer.content
    totals = answer.json()["totals"]
    assert totals["conversions"] == credited.count()
    assert Decimal(str(totals["revenue"])) == credited.aggregate(s=Sum("amount"))["s"]


def check_advocates_are_ranked_by_real_influence(seeded):
    demo, _ = seeded
    answer = staff_client_for(demo).get("/api/v1/advocates/leaderboard/?page_size=5")

    assert answer.status_code == 200, answer.content
    top = answer.json()["results"]
    assert top and top[0]["influence"] > 0
    assert [row["influence"] for row in top] == sorted((r["influence"] for r in top), reverse=True)


def check_other_brands_are_left_alone_and_it_never_runs_twice(seeded):
    demo, other = seeded
    counts = (Post.objects.count(), Interaction.objects.count(), Conversion.objects.count())

    assert not Post.objects.filter(brand=other).exists()
    assert not Interaction.objects.filter(brand=other).exists()
    with pytest.raises(CommandError, match="already has posts"):
        run("seed_demo_activity")
    assert "nothing to do" in run("seed_demo_activity", "--if-empty")
    assert (Post.objects.count(), Interaction.objects.count(), Conversion.objects.count()) == counts


@pytest.mark.django_db
def test_demo_activity_refuses_an_unseeded_brand_and_bad_sizes():
    with pytest.raises(CommandError, match="run seed_demo first"):
        run("seed_demo_activity", "--brand", "nobody")
    with pytest.raises(CommandError, match="--weeks"):
        run("seed_demo_activity", "--weeks", "0")
