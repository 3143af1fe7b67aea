"""friendships/ and customers/{id}/friends/ through the HTTP client, for each caller kind."""

import pytest

from customers import services
from customers.models import Advocate, Customer, Friendship
from tests.conftest import customer_client_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/friendships/"


def friends_url(customer) -> str:
    return f"/api/v1/customers/{customer.pk}/friends/"


def befriend(a, b) -> Friendship:
    return services.friendship_create(brand_id=a.brand_id, customer_id=a.pk, friend_id=b.pk)[0]


def count(customer) -> int:
    return Customer.objects.get(pk=customer.pk).friend_count


@pytest.fixture
def pair(brand):
    return CustomerFactory(brand=brand), CustomerFactory(brand=brand)


# --- create ------------------------------------------------------------------------------------


def test_create_is_idempotent_and_undirected(staff_client, pair):
    a, b = pair

    first = staff_client.post(URL, {"customer": a.pk, "friend": b.pk}, format="json")
    second = staff_client.post(URL, {"customer": b.pk, "friend": a.pk}, format="json")

    assert first.status_code == 201, first.json()
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert {first.json()["customer"], first.json()["friend"]} == {a.pk, b.pk}
    assert first.json()["is_current"] is True
    assert Friendship.objects.count() == 1
    assert count(a) == 1 and count(b) == 1


def test_app_key_can_create_with_source_and_since(app_client, pair):
    a, b = pair

    response = app_client.post(
        URL,
        {"customer": a.pk, "friend": b.pk, "source": "wecom", "since": "2024-05-01T08:00:00Z"},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["source"] == "wecom"
    assert response.json()["since"].startswith("2024-05-01T08:00:00")


def test_self_friendship_is_400(staff_client, customer):
    response = staff_client.post(
        URL, {"customer": customer.pk, "friend": customer.pk}, format="json"
    )

    assert response.status_code == 400
    assert "friend" in response.json()["error"]["details"]
    assert count(customer) == 0


@pytest.mark.parametrize("side", ["customer", "friend"])
def test_other_brand_id_is_400_naming_the_field(staff_client, customer, other_brand, side):
    stranger = CustomerFactory(brand=other_brand)
    body = {"customer": customer.pk, "friend": stranger.pk}
    if side == "customer":
        body = {"customer": stranger.pk, "friend": customer.pk}

    response = staff_client.post(URL, body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert side in error["details"] and side in error["message"]
    assert not Friendship.objects.exists()
    assert count(stranger) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer": 999_999, "friend": "FRIEND"}, "customer"),
        ({"customer": "CUSTOMER", "friend": 999_999}, "friend"),
        ({"customer": "abc", "friend": "FRIEND"}, "customer"),
        ({"customer": "CUSTOMER"}, "friend"),
        ({"customer": "CUSTOMER", "friend": "FRIEND", "source": "carrier-pigeon"}, "source"),
        ({"customer": "CUSTOMER", "friend": "FRIEND", "since": "yesterday"}, "since"),
        ({"customer": 0, "friend": "FRIEND"}, "customer"),
    ],
)
def test_bad_input_is_400_naming_the_field(staff_client, pair, body, field):
    a, b = pair
    body = {k: {"CUSTOMER": a.pk, "FRIEND": b.pk}.get(v, v) for k, v in body.items()}

    response = staff_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
    assert not Friendship.objects.exists()


def test_customer_token_cannot_create(customer_client, customer, brand):
    other = CustomerFactory(brand=brand)

    response = customer_client.post(
        URL, {"customer": customer.pk, "friend": other.pk}, format="json"
    )

    assert response.status_code == 403
    assert not Friendship.objects.exists()


def test_analyst_cannot_create(analyst_client, pair):
    a, b = pair
    response = analyst_client.post(URL, {"customer": a.pk, "friend": b.pk}, format="json")
    assert response.status_code == 403
    assert not Friendship.objects.exists()


# --- end (DELETE) --------------------------------------------------------------------------------


def test_delete_records_the_end_and_refriending_makes_a_new_edge(staff_client, pair):
    a, b = pair
    edge = befriend(a, b)

    ended = staff_client.delete(f"{URL}{edge.pk}/")
    again = staff_client.delete(f"{URL}{edge.pk}/")
    refriended = staff_client.post(URL, {"customer": b.pk, "friend": a.pk}, format="json")

    assert ended.status_code == 200
    assert ended.json()["is_current"] is False and ended.json()["ended_at"]
    assert ended.json()["end_reason"] == "unfriend"
    assert again.status_code == 200  # ending twice changes nothing
    assert refriended.status_code == 201
    assert refriended.json()["id"] != edge.pk
    edge.refresh_from_db()
    assert edge.ended_at is not None  # the row is kept as history
    assert Friendship.objects.count() == 2
    assert Friendship.objects.filter(ended_at__isnull=True).count() == 1
    assert count(a) == 1 and count(b) == 1


def test_friend_count_drops_once_on_delete(staff_client, pair):
    a, b = pair
    edge = befriend(a, b)

    staff_client.delete(f"{URL}{edge.pk}/")
    staff_client.delete(f"{URL}{edge.pk}/")

    assert count(a) == 0 and count(b) == 0


def test_customer_sees_and_ends_only_own_friendships(brand):
    me, friend, x, y = CustomerFactory.create_batch(4, brand=brand)
    mine = befriend(me, friend)
    not_mine = befriend(x, y)
    client = customer_client_for(me)

    listed = [row["id"] for row in client.get(URL).json()["results"]]
    foreign_get = client.get(f"{URL}{not_mine.pk}/")
    foreign_delete = client.delete(f"{URL}{not_mine.pk}/")
    own_delete = client.delete(f"{URL}{mine.pk}/")

    assert listed == [mine.pk]
    assert foreign_get.status_code == 404 and foreign_delete.status_code == 404
    not_mine.refresh_from_db()
    assert not_mine.ended_at is None
    assert own_delete.status_code == 200
    assert own_delete.json()["ended_by"] == me.pk


def test_other_brand_staff_gets_404_and_changes_nothing(other_staff_client, pair):
    a, b = pair
    edge = befriend(a, b)

    assert other_staff_client.get(f"{URL}{edge.pk}/").status_code == 404
    assert other_staff_client.delete(f"{URL}{edge.pk}/").status_code == 404
    assert other_staff_client.get(URL).json()["results"] == []
    created = other_staff_client.post(URL, {"customer": a.pk, "friend": b.pk}, format="json")
    assert created.status_code == 400
    assert "customer" in created.json()["error"]["details"]
    edge.refresh_from_db()
    assert edge.ended_at is None and count(a) == 1


def test_list_filters(staff_client, brand):
    a, b, c = CustomerFactory.create_batch(3, brand=brand)
    ab, ac = befriend(a, b), befriend(a, c)
    services.friendship_end(friendship=ac)

    def ids(query):
        return {row["id"] for row in staff_client.get(URL + query).json()["results"]}

    assert ids(f"?customer={c.pk}") == {ac.pk}
    assert ids("?current=true") == {ab.pk}
    assert ids("?current=false") == {ac.pk}


# --- advocate tiers follow friendships ---------------------------------------------------------


def test_advocate_tier_follows_friendships(staff_client, brand, settings):
    settings.SCRM = {**settings.SCRM, "TIER_MICRO_MIN_FRIENDS": 2, "TIER_MACRO_MIN_FRIENDS": 3}
    koc, x, y, z = CustomerFactory.create_batch(4, brand=brand)
    advocate = services.advocate_promote(brand_id=brand.pk, customer_id=koc.pk)

    def tier():
        return Advocate.objects.get(pk=advocate.pk).tier

    assert tier() == "nano"
    staff_client.post(URL, {"customer": koc.pk, "friend": x.pk}, format="json")
    assert tier() == "nano"
    edge = staff_client.post(URL, {"customer": y.pk, "friend": koc.pk}, format="json").json()
    assert tier() == "micro"
    staff_client.post(URL, {"customer": koc.pk, "friend": z.pk}, format="json")
    assert tier() == "macro"
    staff_client.delete(f"{URL}{edge['id']}/")
    assert tier() == "micro"


# --- customers/{id}/friends/ ----------------------------------------------------------------


def test_friends_lists_current_friends_only(staff_client, brand):
    me, stays, leaves = CustomerFactory.create_batch(3, brand=brand)
    befriend(me, stays)
    services.friendship_end(friendship=befriend(leaves, me))

    rows = staff_client.get(friends_url(me)).json()["results"]

    assert [row["id"] for row in rows] == [stays.pk]
    assert rows[0]["friends_since"] and rows[0]["strength"] == 0.0
    assert rows[0]["is_advocate"] is False


def test_friends_pagination(staff_client, brand, django_assert_max_num_queries):
    me = CustomerFactory(brand=brand)
    for friend in CustomerFactory.create_batch(5, brand=brand):
        befriend(me, friend)

    with django_assert_max_num_queries(8):
        first = staff_client.get(friends_url(me) + "?page_size=2").json()
    second = staff_client.get(first["next"]).json()
    third = staff_client.get(second["next"]).json()
    ids = [row["id"] for page in (first, second, third) for row in page["results"]]

    assert len(first["results"]) == 2 and third["next"] is None
    assert len(ids) == 5 and len(set(ids)) == 5


def test_friends_query_count_does_not_grow_with_friends(
    staff_client, brand, django_assert_max_num_queries
):
    me = CustomerFactory(brand=brand)
    for friend in CustomerFactory.create_batch(30, brand=brand):
        befriend(me, friend)
        services.advocate_promote(brand_id=brand.pk, customer_id=friend.pk)

    with django_assert_max_num_queries(8):
        rows = staff_client.get(friends_url(me) + "?page_size=50").json()["results"]

    assert len(rows) == 30 and all(row["is_advocate"] for row in rows)


def test_friends_tenancy(other_staff_client, brand, customer_client, customer):
    friend = CustomerFactory(brand=brand)
    befriend(customer, friend)

    assert other_staff_client.get(friends_url(customer)).status_code == 404
    assert customer_client.get(friends_url(friend)).status_code == 404
    own = customer_client.get(friends_url(customer))
    assert own.status_code == 200
    assert [row["id"] for row in own.json()["results"]] == [friend.pk]
