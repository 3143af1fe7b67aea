"""customers/{id}/ties/ and customers/{id}/friends/ with tie strength."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Friendship
from interactions.models import Tie, TieStats
from tests.conftest import app_client_for, customer_client_for
from tests.factories import CustomerFactory
from tests.graph import befriend
from tests.ties_helpers import tie_pair, tie_row

pytestmark = pytest.mark.django_db

HALF_LIFE = timedelta(days=14)


def ties_url(customer_id: int) -> str:
    return f"/api/v1/customers/{customer_id}/ties/"


@pytest.fixture
def graph(brand, customer):
    """customer u with: v1 (0.8, liked twice 14 days ago), v2 (0.3, u muted v2),
    v3 (0.5, only v3→u exists: v3 blocked u), and an unrelated pair elsewhere."""
    now = timezone.now()
    v1, v2, v3, x, y = CustomerFactory.create_batch(5, brand=brand)
    Friendship.objects.create(
        brand=brand,
        customer_low_id=min(customer.pk, v1.pk),
        customer_high_id=max(customer.pk, v1.pk),
        since=now - timedelta(days=10),
    )
    tie_pair(
        customer,
        v1,
        0.8,
        at=now - HALF_LIFE,
        out={"affinity": 2.0, "c_like": 2.0, "mutual_jaccard": 0.25},
        back={"affinity": 3.0, "c_comment": 3.0, "mutual_jaccard": 0.25},
    )
    tie_pair(customer, v2, 0.3, out={"affinity": 1.0, "c_like": 1.0, "muted_at": now})
    tie_row(v3, customer, strength=0.5, affinity=6.0, c_reply=6.0, blocked_at=now)
    tie_pair(x, y, 0.99)
    TieStats.objects.create(brand=brand, kappa=2.0, computed_at=now)
    return {"v1": v1, "v2": v2, "v3": v3, "x": x}


def test_ties_strongest_first_with_components_and_flags(staff_client, customer, graph):
    # Given the graph; when staff read the customer's ties
    response = staff_client.get(ties_url(customer.pk))

    # Then strongest first, the unrelated pair absent, the reverse-only tie included
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["customer"] for r in results] == [graph["v1"].pk, graph["v3"].pk, graph["v2"].pk]
    assert [r["strength"] for r in results] == [0.8, 0.5, 0.3]

    # And the parts of v1's strength are decayed one half-life to now
    parts = results[0]["components"]
    assert parts["affinity_out"] == pytest.approx(1.0, abs=1e-3)
    assert parts["affinity_in"] == pytest.approx(1.5, abs=1e-3)
    assert parts["reciprocity"] == pytest.approx(0.8 + 0.2 * 1.0 / 1.5, abs=1e-3)
    intensity = 2.5 * (0.8 + 0.2 / 1.5)
    assert parts["intensity"] == pytest.approx(intensity, abs=1e-3)
    assert parts["kappa"] == 2.0

    # strength = 1 − 1/√(1 + 3E/κ), E = I·duration factor·mutual factor, attributed in order
    def saturated(evidence):
        return 1 - 1 / math.sqrt(1 + 3 * evidence / 2)

    duration = 1 + 0.25 * (1 - math.exp(-10 / 180))
    assert parts["intensity_term"] == pytest.approx(saturated(intensity), abs=1e-3)
    assert parts["friend_days"] == pytest.approx(10, abs=1e-3)
    assert parts["duration_factor"] == pytest.approx(duration, abs=1e-4)
    assert parts["duration_term"] == pytest.approx(
        saturated(intensity * duration) - saturated(intensity), abs=1e-3
    )
    assert parts["jaccard"] == 0.25
    assert parts["mutual_factor"] == pytest.approx(2.0)
    assert parts["evidence"] == pytest.approx(intensity * duration * 2.0, abs=1e-3)
    assert parts["mutual_term"] == pytest.approx(
        saturated(intensity * duration * 2) - saturated(intensity * duration), abs=1e-3
    )
    assert parts["strength_now"] == pytest.approx(
        parts["intensity_term"] + parts["duration_term"] + parts["mutual_term"], abs=1e-3
    )
    assert parts["by_type"]["like"] == pytest.approx(1.0, abs=1e-3)
    assert parts["by_type"]["comment"] == pytest.approx(1.5, abs=1e-3)
    assert parts["by_type_out"] == {"like": pytest.approx(1.0, abs=1e-3)} | {
        name: 0.0 for name in Tie.COMPONENT_TYPES if name != "like"
    }
    assert results[0]["flags"] == []

    # And flags name who did it, seen from the customer of the path
    assert results[1]["flags"] == ["blocked_by_them"]
    assert results[1]["components"]["affinity_out"] == 0.0
    assert results[1]["components"]["friend_days"] == 0.0
    assert results[2]["flags"] == ["muted_by_you"]


def test_ties_flags_of_the_other_side(staff_client, customer, graph):
    # Given v3's view of the same pair: v3 blocked the customer
    response = staff_client.get(ties_url(graph["v3"].pk))

    # Then the flag is v3's own
    assert response.status_code == 200
    assert [(r["customer"], r["flags"]) for r in response.json()["results"]] == [
        (customer.pk, ["blocked_by_you"])
    ]


def test_ties_pages_keep_the_order(staff_client, customer, graph):
    # Given three ties; when read two per page
    first = staff_client.get(ties_url(customer.pk), {"page_size": 2}).json()
    second = staff_client.get(first["next"]).json()

    # Then the pages continue the strongest-first order
    ids = [r["customer"] for r in first["results"] + second["results"]]
    assert ids == [graph["v1"].pk, graph["v3"].pk, graph["v2"].pk]
    assert second["next"] is None


def test_ties_pages_forward_and_back_with_equal_strengths(staff_client, brand, customer):
    # Given five ties, three of them equally strong, and one row in only one direction
    a, b, c, d, e = CustomerFactory.create_batch(5, brand=brand)
    tie_pair(customer, a, 0.9)
    for other in (c, b, d):
        tie_pair(customer, other, 0.5)
    tie_row(e, customer, strength=0.7)  # only e→customer

    # When read two per page forward, then back from the last page
    pages = [staff_client.get(ties_url(customer.pk), {"page_size": 2}).json()]
    while pages[-1]["next"]:
        pages.append(staff_client.get(pages[-1]["next"]).json())
    back = staff_client.get(pages[-1]["previous"]).json()

    # Then strongest first, equal strengths by customer id, each tie once
    ids = [row["customer"] for page in pages for row in page["results"]]
    assert ids == [a.pk, e.pk, *sorted([b.pk, c.pk, d.pk])]
    assert [row["strength"] for page in pages for row in page["results"]][:2] == [0.9, 0.7]
    assert len(pages) == 3 and pages[0]["previous"] is None
    # And the previous page of the last is the middle one, with links both ways
    assert [row["customer"] for row in back["results"]] == ids[2:4]
    assert back["next"] and back["previous"]


def test_customer_token_reads_only_own_ties(customer_client, customer, graph):
    # When the customer reads their own ties: allowed
    assert customer_client.get(ties_url(customer.pk)).status_code == 200

    # When they read someone else's: 404 in the one error format
    response = customer_client.get(ties_url(graph["v1"].pk))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_ties_other_brand_staff_get_404_app_key_reads(other_staff_client, brand, customer, graph):
    # Given another brand's staff: the customer does not exist for them
    assert other_staff_client.get(ties_url(customer.pk)).status_code == 404

    # And the brand's app key reads them
    response = app_client_for(brand).get(ties_url(customer.pk))
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_ties_query_count_does_not_grow_with_ties(
    staff_client, brand, customer, django_assert_max_num_queries
):
    # Given 40 ties, each with a friendship and flags
    others = CustomerFactory.create_batch(40, brand=brand)
    befriend(customer, others)
    for n, other in enumerate(others):
        tie_pair(customer, other, n / 40, out={"affinity": 1.0, "c_like": 1.0})

    # Then one page of 40 costs a bounded number of queries
    with django_assert_max_num_queries(10):
        response = staff_client.get(ties_url(customer.pk), {"page_size": 40})
    assert len(response.json()["results"]) == 40


def test_friends_carry_strength_and_order_by_it(staff_client, brand, customer):
    # Given three friends, two with ties
    weak, strong, none = CustomerFactory.create_batch(3, brand=brand)
    befriend(customer, [weak, strong, none])
    tie_pair(customer, weak, 0.2)
    tie_row(strong, customer, strength=0.7)  # only the reverse row

    # When listed by strength
    response = staff_client.get(
        f"/api/v1/customers/{customer.pk}/friends/", {"ordering": "-strength"}
    )

    # Then strongest first, 0 for a friend without a tie
    assert response.status_code == 200, response.json()
    assert [(r["id"], r["strength"]) for r in response.json()["results"]] == [
        (strong.pk, 0.7),
        (weak.pk, 0.2),
        (none.pk, 0.0),
    ]


def test_friends_strength_in_one_query(
    staff_client, brand, customer, django_assert_max_num_queries
):
    # Given 30 friends with ties
    friends = CustomerFactory.create_batch(30, brand=brand)
    befriend(customer, friends)
    for n, friend in enumerate(friends):
        tie_pair(customer, friend, n / 30)

    # Then the page costs a bounded number of queries
    with django_assert_max_num_queries(6):
        response = staff_client.get(
            f"/api/v1/customers/{customer.pk}/friends/", {"ordering": "-strength"}
        )
    strengths = [r["strength"] for r in response.json()["results"]]
    assert strengths == sorted(strengths, reverse=True) and strengths[0] == 29 / 30


def test_friends_bad_ordering_is_a_400_naming_the_field(staff_client, customer):
    response = staff_client.get(
        f"/api/v1/customers/{customer.pk}/friends/", {"ordering": "display_name"}
    )
    assert response.status_code == 400
    assert "ordering" in response.json()["error"]["details"]


def test_customer_token_cannot_read_anothers_friends(customer_client, brand):
    other = CustomerFactory(brand=brand)
    assert customer_client.get(f"/api/v1/customers/{other.pk}/friends/").status_code == 404
    assert (
        customer_client_for(other).get(f"/api/v1/customers/{other.pk}/friends/").status_code == 200
    )
