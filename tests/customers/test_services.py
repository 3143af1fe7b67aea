import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from customers import services
from customers.models import Customer, Friendship
from scrm.api.errors import Conflict
from tests.factories import CustomerFactory


@pytest.mark.django_db
def test_friendship_is_undirected_and_idempotent(brand):
    a, b = CustomerFactory.create_batch(2, brand=brand)

    first, created_first = services.friendship_create(
        brand_id=brand.pk, customer_id=b.pk, friend_id=a.pk
    )
    again, created_again = services.friendship_create(
        brand_id=brand.pk, customer_id=a.pk, friend_id=b.pk
    )

    assert created_first and not created_again
    assert first.pk == again.pk
    assert (first.customer_low_id, first.customer_high_id) == (min(a.pk, b.pk), max(a.pk, b.pk))
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.friend_count, b.friend_count) == (1, 1)


@pytest.mark.django_db
def test_no_self_friendship_and_no_cross_brand_edge(brand, other_brand):
    a = CustomerFactory(brand=brand)
    stranger = CustomerFactory(brand=other_brand)

    with pytest.raises(ValidationError) as self_edge:
        services.friendship_create(brand_id=brand.pk, customer_id=a.pk, friend_id=a.pk)
    with pytest.raises(ValidationError) as cross:
        services.friendship_create(brand_id=brand.pk, customer_id=a.pk, friend_id=stranger.pk)

    assert "friend" in self_edge.value.message_dict
    assert "friend" in cross.value.message_dict
    assert not Friendship.objects.exists()


@pytest.mark.django_db
def test_ending_is_recorded_not_erased_and_refriending_opens_a_new_edge(brand):
    a, b = CustomerFactory.create_batch(2, brand=brand)
    edge, _ = services.friendship_create(brand_id=brand.pk, customer_id=a.pk, friend_id=b.pk)

    services.friendship_end(friendship=edge, ended_by_id=a.pk)
    services.friendship_end(friendship=edge, ended_by_id=a.pk)  # twice changes nothing
    renewed, created = services.friendship_create(
        brand_id=brand.pk, customer_id=a.pk, friend_id=b.pk
    )

    edge.refresh_from_db()
    assert edge.ended_at is not None and edge.ended_by_id == a.pk
    assert created and renewed.pk != edge.pk
    assert Friendship.objects.count() == 2
    assert Customer.objects.get(pk=a.pk).friend_count == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_befriending_creates_one_edge(brand):
    a, b = CustomerFactory.create_batch(2, brand=brand)
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def befriend(x: int, y: int) -> None:
        try:
            barrier.wait()
            services.friendship_create(brand_id=brand.pk, customer_id=x, friend_id=y)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=befriend, args=pair) for pair in [(a.pk, b.pk), (b.pk, a.pk)] * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Friendship.objects.filter(ended_at__isnull=True).count() == 1
    assert Customer.objects.get(pk=a.pk).friend_count == 1
    assert Customer.objects.get(pk=b.pk).friend_count == 1


@pytest.mark.django_db
def test_recount_friends_repairs_counts(brand):
    a, b, c = CustomerFactory.create_batch(3, brand=brand)
    services.friendship_create(brand_id=brand.pk, customer_id=a.pk, friend_id=b.pk)
    services.friendship_create(brand_id=brand.pk, customer_id=a.pk, friend_id=c.pk)
    Customer.objects.update(friend_count=99)

    services.customers_recount_friends(brand_id=brand.pk)

    counts = dict(Customer.objects.values_list("pk", "friend_count"))
    assert counts == {a.pk: 2, b.pk: 1, c.pk: 1}


@pytest.mark.django_db
def test_customer_delete_lowers_friends_counts(brand):
    a, b = CustomerFactory.create_batch(2, brand=brand)
    services.friendship_create(brand_id=brand.pk, customer_id=a.pk, friend_id=b.pk)

    services.customer_delete(customer=a)

    assert Customer.objects.get(pk=b.pk).friend_count == 0


@pytest.mark.django_db
def test_advocate_tier_from_friend_count_and_codes_unique(brand, settings):
    settings.SCRM = {**settings.SCRM, "TIER_MICRO_MIN_FRIENDS": 2, "TIER_MACRO_MIN_FRIENDS": 3}
    hub, *others = CustomerFactory.create_batch(4, brand=brand)
    for other in others[:2]:
        services.friendship_create(brand_id=brand.pk, customer_id=hub.pk, friend_id=other.pk)

    hub_advocate = services.advocate_promote(brand_id=brand.pk, customer_id=hub.pk)
    loner = services.advocate_promote(brand_id=brand.pk, customer_id=others[2].pk)

    assert (hub_advocate.tier, loner.tier) == ("micro", "nano")
    assert hub_advocate.referral_code != loner.referral_code
    assert len(hub_advocate.referral_code) == services.REFERRAL_CODE_LENGTH
    with pytest.raises(Conflict):
        services.advocate_promote(brand_id=brand.pk, customer_id=hub.pk)


@pytest.mark.django_db
def test_brand_account_cannot_be_promoted(brand):
    account = CustomerFactory(brand=brand, kind="brand_account")
    with pytest.raises(ValidationError):
        services.advocate_promote(brand_id=brand.pk, customer_id=account.pk)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("+86 138-1234-5678", "+8613812345678"),
        ("+1 415 555 2671", "+14155552671"),
        ("", ""),
    ],
)
def test_phone_normalize(raw, expected):
    assert services.phone_normalize(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "12", "+86 1"])
def test_phone_normalize_rejects_garbage(raw):
    with pytest.raises(ValidationError) as error:
        services.phone_normalize(raw)
    assert "phone" in error.value.message_dict
