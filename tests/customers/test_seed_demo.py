"""manage.py seed_demo: shape, consistency and safety of the generated network."""

from __future__ import annotations

import io
import statistics
from datetime import timedelta

import phonenumbers
import pytest
from django.core.management import CommandError, call_command
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.test import APIClient

from customers import demo
from customers.models import Advocate, Customer, Friendship, tier_for
from customers.services import customers_recount_friends
from scrm.tenancy.models import AppKey, Brand, Membership, Role


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--no-progress", *args, stdout=out)
    return out.getvalue()


def edges_by_external_id(slug: str) -> set[tuple[str, str]]:
    rows = Friendship.objects.filter(brand__slug=slug).values_list(
        "customer_low__external_id", "customer_high__external_id"
    )
    prefix = f"wecom-{slug}-"  # brand accounts are named after their brand
    return {(low.replace(prefix, "wecom-"), high.replace(prefix, "wecom-")) for low, high in rows}


@pytest.mark.django_db
def test_seed_demo_builds_a_consistent_heavy_tailed_clustered_network():
    # given an empty database
    # when a 3,000-person demo brand is seeded
    output = seed("--customers", "3000", "--seed", "5")

    # then the counts add up and the output says what was made
    brand = Brand.objects.get(slug="demo")
    people = Customer.objects.filter(brand=brand)
    assert people.count() == 3000
    assert "3000 customers" in output
    accounts = people.filter(kind="brand_account")
    assert accounts.count() == demo.default_brand_accounts(3000)
    consumers = people.filter(kind="consumer")

    # friend counts are exactly what the friendship table says
    assert customers_recount_friends(brand_id=brand.pk) == 0
    current = Friendship.objects.filter(brand=brand, ended_at__isnull=True)
    assert sum(people.values_list("friend_count", flat=True)) == 2 * current.count()

    # brand accounts are hubs: each has hundreds of contacts (thousands at scale)
    assert min(accounts.values_list("friend_count", flat=True)) >= 100
    # consumer friend counts are heavy-tailed
    degrees = sorted(consumers.values_list("friend_count", flat=True))
    assert degrees[-1] >= 8 * statistics.median(degrees)
    # friends cluster: most consumer–consumer edges join people of one community (city tag)
    city = {pk: tags[0] for pk, tags in consumers.values_list("pk", "tags")}
    pairs = [
        (low, high)
        for low, high in current.values_list("customer_low_id", "customer_high_id")
        if low in city and high in city
    ]
    same_city = sum(city[low] == city[high] for low, high in pairs) / len(pairs)
    assert same_city > 0.6  # random pairs would share one of 8 cities ~1/8 of the time

    # unfriends and deleted brand accounts are recorded, not erased
    ended = Friendship.objects.filter(brand=brand, ended_at__isnull=False)
    assert ended.filter(end_reason="deleted_brand_account").exists()
    assert ended.filter(end_reason="unfriend").exists()
    assert not ended.filter(ended_at__lt=timezone.now() - timedelta(days=731)).exists()
    assert not ended.exclude(
        Q(ended_by_id=F("customer_low_id")) | Q(ended_by_id=F("customer_high_id"))
    ).exists()

    # friendships began within the past two years, after both people joined
    now = timezone.now()
    oldest = Friendship.objects.filter(brand=brand).order_by("since").first()
    assert oldest.since >= now - timedelta(days=731)
    assert not Friendship.objects.filter(brand=brand, since__gt=now).exists()


@pytest.mark.django_db
def test_seed_demo_people_have_valid_phones_tags_stages_and_a_few_opt_outs():
    # given / when
    seed("--customers", "2000", "--seed", "11")
    people = Customer.objects.filter(brand__slug="demo")

    # then every phone is a valid Chinese mobile number in E.164, most people have one
    phones = [p for p in people.values_list("phone", flat=True) if p]
    assert len(phones) > 0.75 * 2000
    for phone in phones:
        parsed = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == phone
    # external ids look like openids and are unique
    consumer_ids = list(people.filter(kind="consumer").values_list("external_id", flat=True))
    assert all(len(value) == 28 and value.startswith("o") for value in consumer_ids)
    # a few per cent opted out of marketing, with the time they did
    opted_out = people.filter(marketing_consent=False)
    assert 0.01 * 2000 <= opted_out.count() <= 0.06 * 2000
    assert not opted_out.filter(consent_updated_at__isnull=True).exists()
    # every lifecycle stage and several sources and tags occur
    assert set(people.values_list("lifecycle_stage", flat=True)) == set(demo.LIFECYCLE)
    assert len(set(people.values_list("source_channel", flat=True))) >= 5
    assert people.filter(tags__contains=["vip"]).exists()


@pytest.mark.django_db
def test_seed_demo_promotes_well_connected_consumers_with_tiers_and_unique_codes():
    # given / when
    seed("--customers", "2500", "--advocates", "60", "--seed", "3")
    brand = Brand.objects.get(slug="demo")

    # then 60 advocates, all consenting consumers, among the best connected
    advocates = list(Advocate.objects.filter(brand=brand).select_related("customer"))
    assert len(advocates) == 60
    assert {a.customer.kind for a in advocates} == {"consumer"}
    assert all(a.customer.marketing_consent for a in advocates)
    median = statistics.median(
        Customer.objects.filter(brand=brand, kind="consumer").values_list("friend_count", flat=True)
    )
    assert min(a.customer.friend_count for a in advocates) > median
    assert all(a.tier == tier_for(a.customer.friend_count) for a in advocates)
    codes = [a.referral_code for a in advocates]
    assert len(set(codes)) == 60
    assert all(len(code) == 10 for code in codes)
    assert "active" in {a.status for a in advocates}
    assert all(a.promoted_at <= a.status_changed_at for a in advocates)
    assert all(a.status_reason for a in advocates if a.status == "paused")


@pytest.mark.django_db
def test_seed_demo_is_reproducible_for_a_seed():
    # given two brands seeded with the same seed and one with another
    seed("--customers", "600", "--brand", "one", "--seed", "9")
    seed("--customers", "600", "--brand", "two", "--seed", "9")
    seed("--customers", "600", "--brand", "three", "--seed", "10")

    # then the same seed gives the same people and friendships, another seed does not
    assert edges_by_external_id("one") == edges_by_external_id("two")
    assert edges_by_external_id("one") != edges_by_external_id("three")
    names = {
        slug: list(
            Customer.objects.filter(brand__slug=slug, kind="consumer")
            .order_by("external_id")
            .values_list("external_id", "display_name", "phone", "tags", "lifecycle_stage")
        )
        for slug in ("one", "two")
    }
    assert names["one"] == names["two"]


@pytest.mark.django_db
def test_seed_demo_refuses_a_brand_with_customers_unless_told_what_to_do():
    # given a seeded demo brand
    seed("--customers", "300")
    first_ids = set(Customer.objects.values_list("external_id", flat=True))

    # when seeded again without a flag, then it fails clearly and changes nothing
    with pytest.raises(CommandError, match="already has 300 customers.*--reset.*--if-empty"):
        seed("--customers", "500")
    assert Customer.objects.count() == 300

    # when seeded with --if-empty, then nothing is written
    output = seed("--customers", "500", "--if-empty")
    assert "not seeding" in output
    assert set(Customer.objects.values_list("external_id", flat=True)) == first_ids

    # when seeded with --reset, then the brand's people are replaced
    seed("--customers", "400", "--reset", "--seed", "1")
    assert Customer.objects.count() == 400
    consumers = set(Customer.objects.filter(kind="consumer").values_list("external_id", flat=True))
    assert not consumers & first_ids
    assert customers_recount_friends(brand_id=Brand.objects.get(slug="demo").pk) == 0


@pytest.mark.django_db
def test_seed_demo_reset_leaves_other_brands_alone():
    # given two seeded brands
    seed("--customers", "300", "--brand", "keep", "--seed", "1")
    seed("--customers", "300", "--brand", "demo", "--seed", "2")
    kept = edges_by_external_id("keep")

    # when the demo brand is reset
    seed("--customers", "200", "--brand", "demo", "--reset")

    # then the other brand is untouched
    assert Customer.objects.filter(brand__slug="keep").count() == 300
    assert edges_by_external_id("keep") == kept
    assert customers_recount_friends(brand_id=Brand.objects.get(slug="keep").pk) == 0


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_login_and_a_working_app_key():
    # given / when (test settings set SCRM_DEMO_LOGIN)
    output = seed("--customers", "200")

    # then demo / demo is the brand's owner and can mint a staff token
    membership = Membership.objects.get(user__username="demo", brand__slug="demo")
    assert membership.role == Role.OWNER
    client = APIClient()
    answer = client.post(
        "/api/v1/auth/token/", {"username": "demo", "password": "demo"}, format="json"
    )
    assert answer.status_code == 201, answer.content

    # and the printed app key mints a customer token
    raw_key = output.split("shown once): ", 1)[1].split()[0]
    external_id = Customer.objects.filter(kind="consumer").first().external_id
    app = APIClient()
    app.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    minted = app.post("/api/v1/auth/customer-token/", {"external_id": external_id}, format="json")
    assert minted.status_code == 201, minted.content


@pytest.mark.django_db
def test_seed_demo_app_key_option_rotates_the_named_key_on_every_run():
    # given a seeded brand whose start-up key was printed once
    first = seed("--customers", "200", "--app-key", "make run")
    first_key = first.split("(make run, shown once): ", 1)[1].split()[0]

    # when the brand is started again (nothing re-seeded)
    second = seed("--customers", "200", "--if-empty", "--app-key", "make run")
    second_key = second.split("(make run, shown once): ", 1)[1].split()[0]

    # then only the newest "make run" key works
    assert first_key != second_key
    keys = AppKey.objects.filter(name="make run")
    assert keys.count() == 2
    assert keys.filter(revoked_at__isnull=True).count() == 1
    statuses = []
    for raw in (first_key, second_key):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
        statuses.append(client.get("/api/v1/customers/?page_size=1").status_code)
    assert statuses == [401, 200]


@pytest.mark.django_db
def test_seed_demo_rejects_bad_sizes():
    with pytest.raises(CommandError, match="--customers"):
        seed("--customers", "0")
    with pytest.raises(CommandError, match="--advocates"):
        seed("--customers", "10", "--advocates", "-1")
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_seed_demo_handles_tiny_brands():
    # given / when: fewer people than the usual number of brand accounts
    for size in ("1", "2", "3", "5"):
        seed("--customers", size, "--brand", f"tiny-{size}")

    # then it still writes exactly that many people, with consistent counts
    for size in (1, 2, 3, 5):
        brand = Brand.objects.get(slug=f"tiny-{size}")
        assert Customer.objects.filter(brand=brand).count() == size
        assert customers_recount_friends(brand_id=brand.pk) == 0
