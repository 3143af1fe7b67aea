"""advocates/leaderboard/ and advocates/candidates/: ranking, explanation, permissions."""

from __future__ import annotations

import itertools
import math

import pytest
from django.conf import settings
from django.utils import timezone

from customers.models import AdvocateStatus, CustomerKind
from interactions.models import Interaction
from tests.conftest import app_client_for
from tests.factories import AdvocateFactory, CustomerFactory
from tests.graph import author_with_friends, published_post
from tests.ties_helpers import tie_pair

pytestmark = pytest.mark.django_db

LEADERBOARD = "/api/v1/advocates/leaderboard/"
CANDIDATES = "/api/v1/advocates/candidates/"
_events = itertools.count()


def interact(actor, target, type_, post=None):
    now = timezone.now()
    return Interaction.objects.create(
        brand_id=actor.brand_id,
        event_id=f"t-{next(_events)}",
        type=type_,
        actor=actor,
        target=target,
        post=post,
        occurred_at=now,
        received_at=now,
    )


@pytest.fixture
def advocates(brand):
    """star: 4 friends, ties 0.8/0.6/0.5 and none, one post delivered to 4, 3 engaged;
    quiet: 2 friends with ties 0.9, no posts; paused: excluded."""
    star, star_friends = author_with_friends(brand, 4)
    quiet, quiet_friends = author_with_friends(brand, 2)
    paused, _ = author_with_friends(brand, 3)
    AdvocateFactory(customer=star)
    AdvocateFactory(customer=quiet)
    AdvocateFactory(customer=paused, status=AdvocateStatus.PAUSED)
    tie_pair(star, star_friends[0], 0.8)
    tie_pair(star, star_friends[1], 0.6)
    tie_pair(star, star_friends[2], 0.5)
    for friend in quiet_friends:
        tie_pair(quiet, friend, 0.9)
    post = published_post(star)
    for friend in star_friends[:3]:
        interact(friend, star, "like", post)
    interact(star_friends[0], star, "comment", post)  # same (post, person): counted once
    return {"star": star, "quiet": quiet, "paused": paused, "post": post}


def test_leaderboard_ranks_active_advocates_by_explained_influence(staff_client, advocates):
    # When staff read the leaderboard
    response = staff_client.get(LEADERBOARD)

    # Then only active advocates, most influential first
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["customer"] for r in results] == [advocates["star"].pk, advocates["quiet"].pk]

    # And each factor is shown and multiplies to the influence
    m = settings.SCRM["ENGAGEMENT_PRIOR_DELIVERIES"]
    star, quiet = results
    assert star["factors"]["reach"] == 4
    assert star["factors"]["mean_strength"] == pytest.approx((0.8 + 0.6 + 0.5) / 4)
    assert star["details"]["deliveries"] == 4 and star["details"]["engaged"] == 3
    assert star["details"]["prior_rate"] == pytest.approx(3 / 4)  # the brand's own rate
    rate = (3 + m * 0.75) / (4 + m)
    assert star["factors"]["engagement_rate"] == pytest.approx(rate, abs=1e-6)
    assert star["influence"] == pytest.approx(4 * 0.475 * rate, abs=1e-6)
    assert quiet["factors"] == {
        "reach": 2,
        "mean_strength": pytest.approx(0.9),
        "engagement_rate": pytest.approx(0.75),  # no deliveries: the brand's rate
    }
    assert quiet["influence"] == pytest.approx(2 * 0.9 * 0.75, abs=1e-6)
    assert star["details"]["window_days"] == settings.SCRM["INFLUENCE_WINDOW_DAYS"]


def test_leaderboard_pages_forward_and_back(staff_client, brand):
    # Given five active advocates with distinct influence
    for n in range(5):
        advocate, friends = author_with_friends(brand, n + 1)
        AdvocateFactory(customer=advocate)
        for friend in friends:
            tie_pair(advocate, friend, 0.5)

    # When walked one per page, then back from the last page
    seen, url, page = [], LEADERBOARD + "?page_size=2", None
    while url:
        page = staff_client.get(url).json()
        seen += [r["influence"] for r in page["results"]]
        url = page["next"]
    back = staff_client.get(page["previous"]).json()

    # Then every advocate once, best first, and "previous" returns the page before
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    assert [r["influence"] for r in back["results"]] == seen[2:4]


def test_leaderboard_and_candidates_are_closed_to_customer_tokens(customer_client, advocates):
    for url in (LEADERBOARD, CANDIDATES):
        response = customer_client.get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_other_brand_sees_none_of_the_rows(other_staff_client, advocates, brand):
    # Given another brand's staff: they see their own (empty) lists
    for url in (LEADERBOARD, CANDIDATES):
        response = other_staff_client.get(url)
        assert response.status_code == 200
        assert response.json()["results"] == []

    # And the brand's app key sees the brand's
    assert len(app_client_for(brand).get(LEADERBOARD).json()["results"]) == 2


def test_bad_cursor_and_page_size_are_400s_naming_the_field(staff_client):
    response = staff_client.get(LEADERBOARD, {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert "cursor" in response.json()["error"]["details"]
    response = staff_client.get(CANDIDATES, {"page_size": 0})
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["details"]


def test_candidates_rank_consenting_non_advocate_consumers(staff_client, brand, advocates):
    # Given consumers with strong ties, engagement on own posts, purchases through links
    connector, friends = author_with_friends(brand, 3)
    for friend, strength in zip(friends, (0.9, 0.8, 0.7), strict=True):
        tie_pair(connector, friend, strength)
    poster, poster_friends = author_with_friends(brand, 2)
    post = published_post(poster)
    for friend in poster_friends:
        interact(friend, poster, "comment", post)
    seller = CustomerFactory(brand=brand)
    interact(CustomerFactory(brand=brand), seller, "purchase")
    # and people who must not appear: opted out, a brand account, an advocate
    opted_out = CustomerFactory(brand=brand, marketing_consent=False)
    tie_pair(opted_out, CustomerFactory(brand=brand), 1.0)
    account = CustomerFactory(brand=brand, kind=CustomerKind.BRAND_ACCOUNT)
    tie_pair(account, CustomerFactory(brand=brand), 1.0)

    # When staff read the candidates
    response = staff_client.get(CANDIDATES, {"page_size": 100})

    # Then the three come first, explained; the excluded never appear
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    by_id = {r["customer"]: r for r in results}
    excluded = {opted_out.pk, account.pk, advocates["star"].pk, advocates["quiet"].pk}
    assert not excluded & set(by_id)
    top = settings.SCRM["CANDIDATE_TOP_TIES"]
    ties = by_id[connector.pk]["factors"]["ties"]
    assert ties["value"] == pytest.approx(2.4 / top)
    assert ties["counted"] == 3 and ties["strongest"] == 0.9
    assert ties["term"] == pytest.approx(settings.SCRM["CANDIDATE_W_TIES"] * 2.4 / top)
    engagement = by_id[poster.pk]["factors"]["engagement"]
    scale = settings.SCRM["CANDIDATE_ENGAGEMENT_SCALE"]
    assert engagement["value"] == 2
    assert engagement["term"] == pytest.approx(
        settings.SCRM["CANDIDATE_W_ENGAGEMENT"] * (1 - math.exp(-2 / scale)), abs=1e-6
    )
    assert by_id[seller.pk]["factors"]["purchases"]["value"] == 1
    for row in results:
        parts = row["factors"]
        total = parts["ties"]["term"] + parts["engagement"]["term"] + parts["purchases"]["term"]
        assert row["potential"] == pytest.approx(total, abs=1e-5)
    potentials = [r["potential"] for r in results]
    assert potentials == sorted(potentials, reverse=True)


def test_lists_cost_constant_queries(staff_client, brand, django_assert_max_num_queries):
    # Given 20 advocates and 20 candidates with ties
    for _ in range(20):
        advocate, friends = author_with_friends(brand, 2)
        AdvocateFactory(customer=advocate)
        tie_pair(advocate, friends[0], 0.5)
        tie_pair(friends[1], CustomerFactory(brand=brand), 0.4)

    # Then each full page is a bounded number of queries
    for url in (LEADERBOARD, CANDIDATES):
        with django_assert_max_num_queries(4):
            response = staff_client.get(url, {"page_size": 100})
        assert len(response.json()["results"]) >= 20
