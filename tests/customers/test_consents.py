"""Consent per purpose: history, the legacy marketing_consent flag, and every path that must
honour a withdrawal (publish, preview, simulator; tie scoring and recompute)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import time_machine
from django.utils import timezone

from campaigns.fatigue import rules, simulator
from campaigns.fatigue.rules import ALL_RULES, FatiguePolicy
from campaigns.fatigue.simnet import network_from_brand
from campaigns.models import Delivery
from campaigns.services.publish import post_publish
from customers import services
from customers.models import ConsentRecord, Customer
from interactions.models import Tie
from interactions.recompute import ties_recompute
from interactions.scoring_db import ties_score_batch
from interactions.services import interactions_ingest
from privacy.models import AuditEntry
from tests.campaigns.factories import PostFactory
from tests.conftest import customer_client_for
from tests.factories import CustomerFactory
from tests.graph import author_with_friends, befriend, customer_caller, set_policy, staff_caller
from tests.ties_helpers import tie_pair

pytestmark = pytest.mark.django_db

NOON_SHANGHAI = datetime(2024, 5, 15, 4, 0, tzinfo=UTC)


def withdraw(customer: Customer, purpose: str) -> None:
    services.customer_consent_set(
        customer=customer, purpose=purpose, granted=False, source="mini_program"
    )


# --- recording consent ------------------------------------------------------------------------


def test_patching_marketing_consent_records_the_commercial_purpose(staff_client, customer):
    # when staff turn the legacy flag off
    response = staff_client.patch(
        f"/api/v1/customers/{customer.pk}/", {"marketing_consent": False}, format="json"
    )

    # then the answer shows it as the commercial purpose, and the history has one withdrawal
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["marketing_consent"] is False
    assert body["consents"] == {
        "commercial_posts": False,
        "mass_messages": True,
        "profiling": True,
    }
    record = ConsentRecord.objects.get(customer=customer)
    assert (record.purpose, record.granted, record.source) == ("commercial_posts", False, "api")
    assert AuditEntry.objects.filter(action="consent_change", customer_id=customer.pk).exists()
    # and patching the same value again records nothing more
    staff_client.patch(
        f"/api/v1/customers/{customer.pk}/", {"marketing_consent": False}, format="json"
    )
    assert ConsentRecord.objects.filter(customer=customer).count() == 1


def test_a_customer_records_consent_for_themself_with_text_version(customer_client, customer):
    # when the customer withdraws profiling through the mini-program, then grants it again
    url = f"/api/v1/customers/{customer.pk}/consents/"
    first = customer_client.post(
        url,
        {"purpose": "profiling", "granted": False, "text_version": "2026-11", "source": "store"},
        format="json",
    )
    second = customer_client.post(url, {"purpose": "profiling", "granted": True}, format="json")

    # then both are recorded with the customer as source, newest first in the history
    assert first.status_code == 201, first.content
    assert first.json()["source"] == "customer"
    assert first.json()["text_version"] == "2026-11"
    history = customer_client.get(url).json()["results"]
    assert [(r["purpose"], r["granted"]) for r in history] == [
        ("profiling", True),
        ("profiling", False),
    ]
    assert second.status_code == 201
    customer.refresh_from_db()
    assert customer.consent_profiling is True


def test_app_key_and_staff_sources_default_and_bad_input_names_the_field(
    app_client, staff_client, customer
):
    url = f"/api/v1/customers/{customer.pk}/consents/"
    by_app = app_client.post(url, {"purpose": "mass_messages", "granted": False}, format="json")
    by_staff = staff_client.post(
        url, {"purpose": "mass_messages", "granted": True, "source": "wecom"}, format="json"
    )
    bad = staff_client.post(url, {"purpose": "telepathy", "granted": True}, format="json")
    erasure = staff_client.post(
        url, {"purpose": "profiling", "granted": False, "source": "erasure"}, format="json"
    )

    assert by_app.json()["source"] == "mini_program"
    assert by_staff.json()["source"] == "wecom"
    assert bad.status_code == 400 and "purpose" in bad.json()["error"]["details"]
    assert erasure.status_code == 400 and "source" in erasure.json()["error"]["details"]


def test_consents_tenancy_and_roles(
    customer, other_customer_client, other_staff_client, analyst_client, operator_client
):
    url = f"/api/v1/customers/{customer.pk}/consents/"
    body = {"purpose": "profiling", "granted": False}
    # another customer and another brand do not see the row
    assert other_customer_client.get(url).status_code == 404
    assert other_customer_client.post(url, body, format="json").status_code == 404
    assert other_staff_client.get(url).status_code == 404
    assert other_staff_client.post(url, body, format="json").status_code == 404
    # an analyst reads but may not change; an operator may
    assert analyst_client.get(url).status_code == 200
    assert analyst_client.post(url, body, format="json").status_code == 403
    assert ConsentRecord.objects.count() == 0
    assert operator_client.post(url, body, format="json").status_code == 201


# --- commercial exposure withdrawn: publish, preview, simulator ------------------------------


@time_machine.travel(NOON_SHANGHAI, tick=False)
def test_withdrawn_commercial_consent_is_suppressed_in_preview_and_publish(brand):
    set_policy(brand, enabled_rules=sorted(ALL_RULES - {"sender_commercial_share"}))
    author, friends = author_with_friends(brand, 5)
    withdraw(friends[0], "commercial_posts")
    post = PostFactory(author=author, commercial=True)

    preview = post_publish(caller=customer_caller(author), post=post, preview=True)
    answer = post_publish(caller=customer_caller(author), post=post)

    for decision in (preview, answer):
        assert decision["suppressed"] == {"consent": 1}
        assert decision["delivered"] == 4
    row = Delivery.objects.get(post=post, recipient=friends[0])
    assert (row.status, row.reason) == ("suppressed", "consent")
    # a non-commercial post still reaches them
    plain = PostFactory(author=author, commercial=False)
    assert post_publish(caller=customer_caller(author), post=plain)["delivered"] == 5


@time_machine.travel(NOON_SHANGHAI, tick=False)
def test_withdrawn_mass_messages_suppresses_brand_account_posts_only(brand):
    set_policy(brand, enabled_rules=sorted(ALL_RULES - {"sender_commercial_share"}))
    account, friends = author_with_friends(brand, 3, kind="brand_account")
    advocate = CustomerFactory(brand=brand)
    befriend(advocate, friends)
    withdraw(friends[0], "mass_messages")

    from_advocate = post_publish(
        caller=customer_caller(advocate), post=PostFactory(author=advocate, commercial=True)
    )
    from_account = post_publish(
        caller=staff_caller(brand.pk), post=PostFactory(author=account, commercial=True)
    )

    assert from_advocate["suppressed"] == {}
    assert from_advocate["delivered"] == 3
    assert from_account["suppressed"].get("consent") == 1
    assert Delivery.objects.get(post__author=account, recipient=friends[0]).reason == "consent"


def test_simulator_honours_both_commercial_purposes(brand):
    # given a brand account with friends, one without commercial consent, one without mass
    # messages consent
    account, friends = author_with_friends(brand, 4, kind="brand_account")
    withdraw(friends[0], "commercial_posts")
    withdraw(friends[1], "mass_messages")
    network = network_from_brand(brand)
    index = {int(label): i for i, label in enumerate(network.labels)}
    assert not network.consent[index[friends[0].pk]]
    assert not network.mass_consent[index[friends[1].pk]]

    # when the simulator runs with every rule off
    policy = simulator.policy_off(FatiguePolicy.from_settings())
    result = simulator.simulate(network, policy, weeks=1, seed=2)

    # then the commercial posts reach only the two consenting friends: twice the
    # suppressions of a run where everyone consents to mass messages
    assert result.suppressed[rules.NO_CONSENT] > 0
    everyone = simulator.Network(**{**network.__dict__, "mass_consent": np.ones(5, dtype=bool)})
    again = simulator.simulate(everyone, policy, weeks=1, seed=2)
    assert result.suppressed[rules.NO_CONSENT] == 2 * again.suppressed[rules.NO_CONSENT]
    assert again.totals["commercial_deliveries"] > result.totals["commercial_deliveries"]


# --- profiling withdrawn: no tie scores ------------------------------------------------------


def _messages(brand, pairs, at):
    events = [
        {
            "event_id": f"m-{a.pk}-{b.pk}-{n}",
            "type": "message",
            "actor": a.pk,
            "target": b.pk,
            "occurred_at": (at + timedelta(minutes=n)).isoformat(),
        }
        for n, (a, b) in enumerate(pairs)
    ]
    results = interactions_ingest(caller=staff_caller(brand.pk), events=events)
    return [r.id for r in results]


def test_withdrawn_profiling_removes_scores_and_keeps_them_away(brand):
    # given three friends with scored ties, and a block flag from carol on alice
    alice, bob, carol = CustomerFactory.create_batch(3, brand=brand)
    befriend(alice, [bob, carol])
    now = timezone.now()
    ids = _messages(brand, [(alice, bob), (bob, alice), (alice, carol), (carol, bob)], now)
    ties_score_batch(interaction_ids=ids, as_of=now + timedelta(hours=1))
    Tie.objects.filter(source=carol, target=alice).update(blocked_at=now)
    assert Tie.objects.filter(source=alice).exclude(strength=0).exists()

    # when alice withdraws profiling
    withdraw(alice, "profiling")

    # then no tie of hers has a score; the block flag stays (publishing honours it)
    mine = Tie.objects.filter(source=alice) | Tie.objects.filter(target=alice)
    assert list(mine.values_list("source_id", "target_id", "strength", "affinity")) == [
        (carol.pk, alice.pk, 0.0, 0.0)
    ]
    assert Tie.objects.get(source=carol, target=alice).blocked_at is not None
    # and others' ties are untouched
    assert Tie.objects.get(source=carol, target=bob).affinity > 0

    # when new events arrive and are scored, and then the recompute runs
    later = _messages(brand, [(bob, alice), (alice, carol), (bob, carol)], now)
    ties_score_batch(interaction_ids=later, as_of=now + timedelta(hours=2))
    scored = Tie.objects.filter(strength__gt=0)
    assert not scored.filter(source=alice).exists() and not scored.filter(target=alice).exists()
    assert scored.filter(source=bob, target=carol).exists()
    ties_recompute(brand_id=brand.pk, as_of=now + timedelta(hours=2))
    scored = Tie.objects.filter(affinity__gt=0)
    assert not scored.filter(source=alice).exists() and not scored.filter(target=alice).exists()
    assert scored.filter(source=bob, target=carol).exists()


def test_ties_api_of_a_customer_without_profiling_is_empty(brand, staff_client):
    alice, bob = CustomerFactory.create_batch(2, brand=brand)
    befriend(alice, [bob])
    now = timezone.now()
    ties_score_batch(interaction_ids=_messages(brand, [(alice, bob)], now), as_of=now)
    client = customer_client_for(alice)
    client.post(
        f"/api/v1/customers/{alice.pk}/consents/",
        {"purpose": "profiling", "granted": False},
        format="json",
    )
    assert staff_client.get(f"/api/v1/customers/{alice.pk}/ties/").json()["results"] == []
    assert staff_client.get(f"/api/v1/customers/{bob.pk}/ties/").json()["results"] == []


def test_koc_discovery_leaves_out_customers_without_profiling(brand, staff_client):
    alice, bob, carol = CustomerFactory.create_batch(3, brand=brand)
    befriend(bob, [alice, carol])
    tie_pair(alice, bob, 0.6)
    tie_pair(bob, carol, 0.4)

    def candidates() -> set[int]:
        response = staff_client.get("/api/v1/advocates/candidates/")
        return {row["customer"] for row in response.json()["results"]}

    assert alice.pk in candidates()
    withdraw(alice, "profiling")
    assert alice.pk not in candidates() and bob.pk in candidates()
