"""After erasure: the customer's tokens stop working, none is minted, and ingest refuses new
events about them (actor or target), each with the reason."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from interactions.models import Interaction
from privacy import services
from privacy.audit import Actor
from privacy.tasks import erase_customer
from tests.conftest import app_client_for, customer_client_for
from tests.factories import CustomerFactory
from tests.graph import author_with_friends

pytestmark = pytest.mark.django_db

ONE = "/api/v1/interactions/"
BATCH = "/api/v1/interactions/batch/"
MINT = "/api/v1/auth/customer-token/"


def erase(customer: Customer) -> None:
    request, _ = services.erasure_request(customer=customer, actor=Actor.system())
    erase_customer.apply(args=[request.pk]).get()


def message(event_id: str, actor: Customer, target: Customer) -> dict:
    return {
        "event_id": event_id,
        "type": "message",
        "actor": actor.pk,
        "target": target.pk,
        "occurred_at": (timezone.now() - timedelta(seconds=1)).isoformat(),
    }


def test_a_token_minted_before_erasure_stops_working_at_once(brand):
    # given a customer with a token that works
    customer = CustomerFactory(brand=brand)
    client = customer_client_for(customer)
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 200

    # when the customer is erased
    erase(customer)

    # then the same token is refused (401, in the error format, naming the erasure)
    refused = client.get(f"/api/v1/customers/{customer.pk}/")
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["code"] == "customer_erased"
    assert "erased" in error["message"]
    assert client.post(ONE, message("t-1", customer, customer), format="json").status_code == 401
    # and another customer's token still works
    other = CustomerFactory(brand=brand)
    assert customer_client_for(other).get(f"/api/v1/customers/{other.pk}/").status_code == 200


def test_no_token_is_minted_for_an_erased_customer(brand):
    # given a customer known by an external id, then erased
    customer = CustomerFactory(brand=brand, external_id="u-erase-1")
    app = app_client_for(brand)
    assert app.post(MINT, {"external_id": "u-erase-1"}, format="json").status_code == 201
    erase(customer)
    customer.refresh_from_db()
    count = Customer.objects.count()

    # when a token is asked for by the old external id: nothing is found (nor created)
    old = app.post(MINT, {"external_id": "u-erase-1"}, format="json")
    assert old.status_code == 404
    assert old.json()["error"]["code"] == "not_found"
    assert Customer.objects.count() == count

    # when a token is asked for by the pseudonym: refused, naming the erasure
    pseudonym = app.post(MINT, {"external_id": customer.external_id}, format="json")
    assert pseudonym.status_code == 409
    assert pseudonym.json()["error"]["code"] == "customer_erased"
    assert "erased" in pseudonym.json()["error"]["message"]


def test_ingest_rejects_events_whose_actor_or_target_was_erased(brand, app_client):
    # given an author with friends, one of whom is erased
    author, friends = author_with_friends(brand, 3)
    gone = friends[0]
    erase(gone)

    # when a batch mixes events from, to and not involving the erased customer
    events = [
        message("g-1", gone, author),
        message("g-2", author, gone),
        message("g-3", friends[1], author),
    ]
    batched = app_client.post(BATCH, {"events": events}, format="json")

    # then each event about the erased customer is rejected naming the field, others pass
    assert batched.status_code == 200
    results = batched.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected", "created"]
    assert results[0]["error"]["field"] == "actor"
    assert results[0]["error"]["code"] == "customer_erased"
    assert results[1]["error"]["field"] == "target"
    assert results[1]["error"]["code"] == "customer_erased"
    assert f"Customer {gone.pk} was erased" in results[1]["error"]["message"]
    assert list(Interaction.objects.values_list("event_id", flat=True)) == ["g-3"]

    # and the one-event endpoint answers 400 naming the field
    single = app_client.post(ONE, message("g-4", author, gone), format="json")
    assert single.status_code == 400
    assert "target" in single.json()["error"]["details"]


def test_the_erased_check_adds_no_query_to_a_batch(brand, app_client):
    # given two batches of the same size, the second with events about an erased customer
    author, friends = author_with_friends(brand, 4)
    erase(friends[0])
    app_client.post(BATCH, {"events": [message("warm", friends[1], author)]}, format="json")
    clean = [message(f"a-{i}", friends[1 + i % 3], author) for i in range(40)]
    mixed = [message(f"b-{i}", friends[i % 4], author) for i in range(40)]

    # then both take the same number of Django queries: the erased flag comes back with the
    # batch's one customer lookup (a raw statement of ``interactions.services._lookup``,
    # which the capture does not see), so an erased customer costs no query of its own
    with CaptureQueriesContext(connection) as first:
        assert app_client.post(BATCH, {"events": clean}, format="json").status_code == 200
    with CaptureQueriesContext(connection) as second:
        response = app_client.post(BATCH, {"events": mixed}, format="json")
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses.count("rejected") == 10 and statuses.count("created") == 30
    assert len(second.captured_queries) == len(first.captured_queries)
