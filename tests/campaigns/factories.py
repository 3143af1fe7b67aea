from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Delivery, Enrollment, Post, PostStatus


class PostFactory(factory.django.DjangoModelFactory):
    """A draft; publish it through ``campaigns.services.publish.post_publish``."""

    class Meta:
        model = Post

    author = factory.SubFactory("tests.factories.CustomerFactory")
    brand = factory.SelfAttribute("author.brand")
    text = factory.Faker("sentence")


class CampaignFactory(factory.django.DjangoModelFactory):
    """An active campaign that started yesterday and runs for 30 days."""

    class Meta:
        model = Campaign

    brand = factory.SubFactory("tests.factories.BrandFactory")
    name = factory.Sequence(lambda n: f"Campaign {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
    budget = Decimal("10000.00")
    currency = "CNY"
    status = CampaignStatus.ACTIVE


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    campaign = factory.SubFactory(CampaignFactory)
    brand = factory.SelfAttribute("campaign.brand")
    advocate = factory.SubFactory(
        "tests.factories.AdvocateFactory",
        customer__brand=factory.SelfAttribute("...campaign.brand"),
    )
    code = factory.Sequence(lambda n: f"ENR{n:09d}")
    fee = Decimal("0")
    tier = "nano"


def hand_published(author, recipients, campaign=None, **fields) -> Post:
    """A published post with delivered rows to ``recipients``, written directly (no fatigue)."""
    post = PostFactory(
        author=author,
        brand=author.brand,
        campaign=campaign,
        commercial=campaign is not None,
        status=PostStatus.PUBLISHED,
        published_at=timezone.now(),
        **fields,
    )
    Delivery.objects.bulk_create(
        Delivery(brand_id=author.brand_id, post=post, recipient=r, status="delivered")
        for r in recipients
    )
    return post
