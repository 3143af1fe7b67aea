"""Helpers that build friendship graphs and published posts for campaigns/interactions tests."""

from __future__ import annotations

from django.utils import timezone

from campaigns.services.publish import post_publish
from customers.models import Customer, Friendship
from customers.services import customers_recount_friends
from scrm.tenancy.services import Caller, CallerKind
from tests.campaigns.factories import PostFactory
from tests.factories import CustomerFactory


def befriend(author: Customer, friends: list[Customer]) -> None:
    """Current friendships author–friend, written in bulk, counts recomputed."""
    Friendship.objects.bulk_create(
        Friendship(
            brand_id=author.brand_id,
            customer_low_id=min(author.pk, friend.pk),
            customer_high_id=max(author.pk, friend.pk),
            since=timezone.now(),
        )
        for friend in friends
    )
    customers_recount_friends(brand_id=author.brand_id)


def customer_caller(customer: Customer) -> Caller:
    return Caller(kind=CallerKind.CUSTOMER, brand_id=customer.brand_id, customer_id=customer.pk)


def staff_caller(brand_id: int) -> Caller:
    return Caller(kind=CallerKind.STAFF, brand_id=brand_id, user_id=None, role="manager")


def author_with_friends(brand, n: int, **author_fields) -> tuple[Customer, list[Customer]]:
    author = CustomerFactory(brand=brand, **author_fields)
    friends = CustomerFactory.create_batch(n, brand=brand)
    befriend(author, friends)
    return author, friends


def published_post(author: Customer, **fields):
    post = PostFactory(author=author, brand=author.brand, **fields)
    answer = post_publish(caller=customer_caller(author), post=post)
    assert answer["decision"] == "published", answer
    post.refresh_from_db()
    return post


def set_policy(brand, **fields):
    """Change fields of the brand's fatigue policy (through the audited service)."""
    from campaigns.services.fatigue_policy import fatigue_policy_update

    return fatigue_policy_update(brand_id=brand.pk, data=fields, partial=True)
