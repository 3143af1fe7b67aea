"""Admin for customers, friendships and advocates, used by a non-superuser staff member."""

import pytest
from django.contrib.auth import get_user_model

from customers import services
from customers.models import Advocate, AdvocateStatus, Customer, Friendship
from scrm.tenancy.models import Role
from tests.conftest import admin_client_for
from tests.factories import AdvocateFactory, CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/admin/customers/customer/"
FRIENDSHIPS = "/admin/customers/friendship/"
ADVOCATES = "/admin/customers/advocate/"


def befriend(a, b):
    return services.friendship_create(brand_id=a.brand_id, customer_id=a.pk, friend_id=b.pk)[0]


@pytest.fixture
def two_brands(brand, other_brand):
    """Two customers, a friendship and an advocate in each brand."""
    rows = {}
    for key, owner in (("a", brand), ("b", other_brand)):
        one = CustomerFactory(brand=owner, display_name=f"Person {key.upper()}1")
        two = CustomerFactory(brand=owner, display_name=f"Person {key.upper()}2")
        rows[key] = {
            "one": one,
            "two": two,
            "friendship": befriend(one, two),
            "advocate": services.advocate_promote(brand_id=owner.pk, customer_id=one.pk),
        }
    return rows


def changelist_ids(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def run_action(client, url, action, ids):
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in ids]})


# --- scoping ---------------------------------------------------------------------------------


def test_changelists_show_only_own_brand_rows(brand_admin_client, two_brands):
    a = two_brands["a"]

    customers = changelist_ids(brand_admin_client, CUSTOMERS)
    friendships = changelist_ids(brand_admin_client, FRIENDSHIPS)
    advocates = changelist_ids(brand_admin_client, ADVOCATES)
    page = brand_admin_client.get(CUSTOMERS).content.decode()

    assert customers == {a["one"].pk, a["two"].pk}
    assert friendships == {a["friendship"].pk}
    assert advocates == {a["advocate"].pk}
    assert "Person B1" not in page and "Rival Coffee" not in page


def test_search_and_filters_stay_inside_the_brand(brand_admin_client, two_brands):
    assert changelist_ids(brand_admin_client, CUSTOMERS, q="Person B1") == set()
    assert changelist_ids(brand_admin_client, CUSTOMERS, q="Person A1") == {
        two_brands["a"]["one"].pk
    }
    assert changelist_ids(brand_admin_client, CUSTOMERS, is_advocate="yes") == {
        two_brands["a"]["one"].pk
    }
    # The brand filter of another brand's id shows nothing, not that brand's rows.
    other_id = two_brands["b"]["one"].brand_id
    assert changelist_ids(brand_admin_client, CUSTOMERS, brand=other_id) == set()


@pytest.mark.parametrize(
    ("url", "key"),
    [(CUSTOMERS, "one"), (FRIENDSHIPS, "friendship"), (ADVOCATES, "advocate")],
)
def test_other_brand_object_pages_are_not_reachable(brand_admin_client, two_brands, url, key):
    foreign = two_brands["b"][key]

    page = brand_admin_client.get(f"{url}{foreign.pk}/change/")
    history = brand_admin_client.get(f"{url}{foreign.pk}/history/")

    assert page.status_code == 302 and page.url == "/admin/"  # "does not exist" redirect
    assert history.status_code in (302, 404)


def test_posting_a_change_to_another_brands_customer_changes_nothing(
    brand_admin_client, two_brands
):
    foreign = two_brands["b"]["one"]

    response = brand_admin_client.post(
        f"{CUSTOMERS}{foreign.pk}/change/",
        {"external_id": "stolen", "display_name": "Hacked", "kind": "consumer"},
    )

    assert response.status_code == 302
    foreign.refresh_from_db()
    assert foreign.display_name == "Person B1"


def test_fk_choices_exclude_other_brands(brand_admin_client, two_brands, brand):
    a = two_brands["a"]

    friendship_form = brand_admin_client.get(f"{FRIENDSHIPS}add/").context["adminform"].form
    advocate_form = brand_admin_client.get(f"{ADVOCATES}add/").context["adminform"].form
    customer_form = brand_admin_client.get(f"{CUSTOMERS}add/").context["adminform"].form

    for name in ("customer_low", "customer_high"):
        assert set(friendship_form.fields[name].queryset) == {a["one"], a["two"]}
    assert set(advocate_form.fields["customer"].queryset) == {a["one"], a["two"]}
    assert list(customer_form.fields["brand"].queryset) == [brand]
    assert customer_form.fields["brand"].initial == brand.pk


def test_autocomplete_offers_only_own_brand_customers(brand_admin_client, two_brands):
    response = brand_admin_client.get(
        "/admin/autocomplete/",
        {
            "term": "Person",
            "app_label": "customers",
            "model_name": "friendship",
            "field_name": "customer_low",
        },
    )

    assert response.status_code == 200
    ids = {int(row["id"]) for row in response.json()["results"]}
    assert ids == {two_brands["a"]["one"].pk, two_brands["a"]["two"].pk}


def test_forged_foreign_customer_in_friendship_form_is_rejected(brand_admin_client, two_brands):
    mine, theirs = two_brands["a"]["two"], two_brands["b"]["two"]

    response = brand_admin_client.post(
        f"{FRIENDSHIPS}add/",
        {"customer_low": mine.pk, "customer_high": theirs.pk, "source": "api"},
    )

    assert response.status_code == 200  # form redisplayed with an error
    assert "customer_high" in response.context["adminform"].form.errors
    assert Friendship.objects.count() == 2


def test_superuser_sees_every_brand(two_brands):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    from django.test import Client

    client = Client()
    client.force_login(user)

    assert len(changelist_ids(client, CUSTOMERS)) == 4
    assert len(changelist_ids(client, ADVOCATES)) == 2


# --- roles -----------------------------------------------------------------------------------


def test_analyst_reads_but_cannot_change(brand, two_brands):
    client = admin_client_for(brand, Role.ANALYST)
    mine = two_brands["a"]["two"]

    assert changelist_ids(client, CUSTOMERS) == {two_brands["a"]["one"].pk, mine.pk}
    assert client.get(f"{CUSTOMERS}add/").status_code == 403
    response = client.post(
        f"{CUSTOMERS}{mine.pk}/change/",
        {"external_id": mine.external_id, "display_name": "Changed", "kind": "consumer"},
    )
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.display_name == "Person A2"
    assert client.get("/admin/tenancy/appkey/").status_code == 403


def test_operator_edits_customers_but_not_advocates(brand, two_brands):
    client = admin_client_for(brand, Role.OPERATOR)

    assert client.get(f"{CUSTOMERS}add/").status_code == 200
    assert client.get(f"{ADVOCATES}add/").status_code == 403
    response = run_action(client, ADVOCATES, "pause", [two_brands["a"]["advocate"].pk])
    assert Advocate.objects.get(pk=two_brands["a"]["advocate"].pk).status == "active"
    assert response.status_code in (200, 302)


def test_role_is_per_brand(brand, other_brand, two_brands):
    # Owner of A, analyst of B: sees both brands, changes only A.
    client = admin_client_for(brand, Role.OWNER)
    from tests.factories import MembershipFactory

    MembershipFactory(user=client.user, brand=other_brand, role=Role.ANALYST)

    ids = changelist_ids(client, ADVOCATES)
    run_action(client, ADVOCATES, "pause", ids)

    assert ids == {two_brands["a"]["advocate"].pk, two_brands["b"]["advocate"].pk}
    assert Advocate.objects.get(pk=two_brands["a"]["advocate"].pk).status == "paused"
    assert Advocate.objects.get(pk=two_brands["b"]["advocate"].pk).status == "active"
    page = client.get(f"{ADVOCATES}{two_brands['b']['advocate'].pk}/change/")
    assert page.status_code == 200 and not page.context["has_change_permission"]


# --- actions and forms call the services -----------------------------------------------------


def test_promote_action_acts_only_on_own_brand(brand_admin_client, two_brands):
    mine, theirs = two_brands["a"]["two"], two_brands["b"]["two"]

    run_action(brand_admin_client, CUSTOMERS, "promote_to_advocate", [mine.pk, theirs.pk])

    assert Advocate.objects.filter(customer=mine).exists()
    assert not Advocate.objects.filter(customer=theirs).exists()


def test_promote_action_reports_refusals(brand_admin_client, brand):
    account = CustomerFactory(brand=brand, kind="brand_account", display_name="Store")

    response = run_action(brand_admin_client, CUSTOMERS, "promote_to_advocate", [account.pk])

    assert not Advocate.objects.filter(customer=account).exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("Only consumers" in m for m in messages)


def test_advocate_actions_pause_resume_retire_only_own_brand(brand_admin_client, two_brands):
    mine, theirs = two_brands["a"]["advocate"], two_brands["b"]["advocate"]

    run_action(brand_admin_client, ADVOCATES, "pause", [mine.pk, theirs.pk])
    assert Advocate.objects.get(pk=mine.pk).status == AdvocateStatus.PAUSED
    run_action(brand_admin_client, ADVOCATES, "resume", [mine.pk, theirs.pk])
    assert Advocate.objects.get(pk=mine.pk).status == AdvocateStatus.ACTIVE
    run_action(brand_admin_client, ADVOCATES, "retire", [mine.pk, theirs.pk])
    assert Advocate.objects.get(pk=mine.pk).status == AdvocateStatus.RETIRED
    assert Advocate.objects.get(pk=theirs.pk).status == AdvocateStatus.ACTIVE


def test_retired_advocate_cannot_be_paused(brand_admin_client, brand):
    advocate = AdvocateFactory(customer__brand=brand, status=AdvocateStatus.RETIRED)

    response = run_action(brand_admin_client, ADVOCATES, "pause", [advocate.pk])

    advocate.refresh_from_db()
    assert advocate.status == AdvocateStatus.RETIRED
    assert any("cannot go from retired" in str(m) for m in response.wsgi_request._messages)


def test_end_friendship_action_records_the_end(brand_admin_client, two_brands):
    mine, theirs = two_brands["a"]["friendship"], two_brands["b"]["friendship"]

    run_action(brand_admin_client, FRIENDSHIPS, "end_friendships", [mine.pk, theirs.pk])

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.ended_at is not None and mine.end_reason == "staff"
    assert theirs.ended_at is None
    assert Customer.objects.get(pk=two_brands["a"]["one"].pk).friend_count == 0
    assert Customer.objects.get(pk=two_brands["b"]["one"].pk).friend_count == 1


def test_friendships_cannot_be_deleted(brand_admin_client, two_brands):
    mine = two_brands["a"]["friendship"]
    assert brand_admin_client.get(f"{FRIENDSHIPS}{mine.pk}/delete/").status_code == 403


def test_add_friendship_in_admin_uses_the_service(brand_admin_client, brand):
    a, b = CustomerFactory(brand=brand), CustomerFactory(brand=brand)

    response = brand_admin_client.post(
        f"{FRIENDSHIPS}add/", {"customer_low": b.pk, "customer_high": a.pk, "source": "wecom"}
    )

    assert response.status_code == 302
    edge = Friendship.objects.get()
    assert (edge.customer_low_id, edge.customer_high_id) == (min(a.pk, b.pk), max(a.pk, b.pk))
    assert edge.brand_id == brand.pk and edge.source == "wecom"
    a.refresh_from_db()
    assert a.friend_count == 1


def test_add_customer_normalises_like_the_api(brand_admin_client, brand):
    response = brand_admin_client.post(
        f"{CUSTOMERS}add/",
        {
            "brand": brand.pk,
            "external_id": "admin-1",
            "display_name": "Zhou",
            "kind": "consumer",
            "phone": "138 1234 5678",
            "tags": "vip, vip ,tea",
            "lifecycle_stage": "lead",
            "source_channel": "store",
            "marketing_consent": "on",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    customer = Customer.objects.get(external_id="admin-1")
    assert customer.brand == brand
    assert customer.phone == "+8613812345678"
    assert customer.tags == ["vip", "tea"]


def test_add_customer_with_bad_phone_shows_the_error(brand_admin_client, brand):
    response = brand_admin_client.post(
        f"{CUSTOMERS}add/",
        {
            "brand": brand.pk,
            "external_id": "admin-2",
            "kind": "consumer",
            "phone": "call me",
            "lifecycle_stage": "lead",
            "source_channel": "store",
        },
    )

    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    assert not Customer.objects.filter(external_id="admin-2").exists()


def test_add_customer_into_another_brand_is_refused(brand_admin_client, other_brand):
    response = brand_admin_client.post(
        f"{CUSTOMERS}add/",
        {
            "brand": other_brand.pk,
            "external_id": "sneaky",
            "kind": "consumer",
            "lifecycle_stage": "lead",
            "source_channel": "store",
        },
    )

    assert response.status_code == 200
    assert "brand" in response.context["adminform"].form.errors
    assert not Customer.objects.filter(external_id="sneaky").exists()


def test_advocate_kind_change_is_refused(brand_admin_client, two_brands):
    advocate_customer = two_brands["a"]["one"]

    response = brand_admin_client.post(
        f"{CUSTOMERS}{advocate_customer.pk}/change/",
        {
            "external_id": advocate_customer.external_id,
            "kind": "brand_account",
            "lifecycle_stage": "lead",
            "source_channel": "other",
        },
    )

    assert response.status_code == 200
    assert "kind" in response.context["adminform"].form.errors


def test_delete_customer_in_admin_drops_friend_counts(brand_admin_client, two_brands):
    gone, stays = two_brands["a"]["two"], two_brands["a"]["one"]

    response = brand_admin_client.post(f"{CUSTOMERS}{gone.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    stays.refresh_from_db()
    assert stays.friend_count == 0


def test_promote_in_add_form_and_status_change_in_change_form(brand_admin_client, brand):
    customer = CustomerFactory(brand=brand)

    brand_admin_client.post(f"{ADVOCATES}add/", {"customer": customer.pk, "notes": "great"})
    advocate = Advocate.objects.get(customer=customer)
    bad = brand_admin_client.post(
        f"{ADVOCATES}{advocate.pk}/change/",
        {"status": "candidate", "status_reason": "", "notes": "great"},
    )
    good = brand_admin_client.post(
        f"{ADVOCATES}{advocate.pk}/change/",
        {"status": "paused", "status_reason": "holiday", "notes": "great"},
    )

    assert len(advocate.referral_code) == 10 and advocate.notes == "great"
    assert "status" in bad.context["adminform"].form.errors
    assert good.status_code == 302
    advocate.refresh_from_db()
    assert advocate.status == "paused" and advocate.status_reason == "holiday"


@pytest.mark.parametrize("url", [CUSTOMERS, FRIENDSHIPS, ADVOCATES])
def test_changelist_query_count_is_constant(
    brand_admin_client, brand, url, django_assert_max_num_queries
):
    people = CustomerFactory.create_batch(31, brand=brand)
    for friend in people[1:]:
        befriend(people[0], friend)
        services.advocate_promote(brand_id=brand.pk, customer_id=friend.pk)

    with django_assert_max_num_queries(12):
        response = brand_admin_client.get(url)

    expected = 31 if url == CUSTOMERS else 30
    assert len(response.context["cl"].result_list) == expected


def test_search_by_phone_as_typed_stays_in_brand(brand_admin_client, brand, other_brand):
    mine = CustomerFactory(brand=brand, phone="+8613812345678")
    CustomerFactory(brand=other_brand, phone="+8613812345678")

    assert changelist_ids(brand_admin_client, CUSTOMERS, q="138 1234 5678") == {mine.pk}
