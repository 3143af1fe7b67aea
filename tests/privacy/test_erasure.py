"""customers/{id}/erase/: personal data removed, aggregates kept, done by a Celery task."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from campaigns.fatigue.rules import ALL_RULES
from campaigns.models import Conversion, Delivery, Post
from campaigns.services.fatigue_live import counters_for
from campaigns.services.publish import post_publish
from customers.models import Advocate, ConsentRecord, Customer, Friendship
from interactions.models import Interaction, Tie
from interactions.recompute import ties_recompute
from interactions.scoring_db import brand_lock_key, ties_score_batch
from interactions.services import interactions_ingest
from privacy import services
from privacy.audit import Actor
from privacy.models import AuditEntry, ErasureRequest
from privacy.tasks import erase_customer
from scrm.tenancy.models import Role
from tests.campaigns.factories import PostFactory
from tests.campaigns.test_campaigns_report import Built
from tests.conftest import app_client_for, customer_client_for, staff_client_for
from tests.factories import CustomerFactory
from tests.graph import author_with_friends, befriend, customer_caller, set_policy, staff_caller

pytestmark = pytest.mark.django_db


def erase(customer: Customer) -> ErasureRequest:
    request, _ = services.erasure_request(customer=customer, actor=Actor.system())
    erase_customer.apply(args=[request.pk]).get()
    request.refresh_from_db()
    return request


# --- the API ----------------------------------------------------------------------------------


def test_erase_is_queued_idempotent_and_reported_done(brand, customer):
    manager = staff_client_for(brand, Role.MANAGER)
    url = f"/api/v1/customers/{customer.pk}/erase/"

    # when a manager asks for erasure, twice
    first = manager.post(url, {"reason": "customer asked by phone"}, format="json")
    second = manager.post(url, {}, format="json")

    # then one request is queued, and the second call answers it
    assert first.status_code == 202, first.content
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "queued"
    assert (
        AuditEntry.objects.filter(action="erasure_requested", customer_id=customer.pk).count() == 1
    )

    # when the task runs (twice: a re-delivered task)
    erase_customer.apply(args=[first.json()["id"]]).get()
    erase_customer.apply(args=[first.json()["id"]]).get()

    # then the request is done with what each step changed, and asking again answers it
    listed = manager.get(url).json()["results"]
    assert [row["status"] for row in listed] == ["done"]
    assert listed[0]["progress"]["phase"] == "done"
    assert "customer" in listed[0]["progress"]["steps"]
    assert manager.post(url, {}, format="json").json()["id"] == first.json()["id"]
    assert AuditEntry.objects.filter(action="erasure_done", customer_id=customer.pk).count() == 1


def test_erase_roles_and_tenancy(brand, other_brand, customer):
    url = f"/api/v1/customers/{customer.pk}/erase/"
    for role in (Role.OPERATOR, Role.ANALYST):
        response = staff_client_for(brand, role).post(url, {}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert app_client_for(brand).post(url, {}, format="json").status_code == 403
    assert staff_client_for(other_brand, Role.OWNER).post(url, {}, format="json").status_code == 404
    assert staff_client_for(other_brand, Role.OWNER).get(url).status_code == 404
    stranger = customer_client_for(CustomerFactory(brand=brand))
    assert stranger.post(url, {}, format="json").status_code == 404
    assert stranger.get(url).status_code == 404
    assert not ErasureRequest.objects.exists()

    # a brand account is not a person: 409
    account = CustomerFactory(brand=brand, kind="brand_account")
    refused = staff_client_for(brand, Role.MANAGER).post(
        f"/api/v1/customers/{account.pk}/erase/", {}, format="json"
    )
    assert refused.status_code == 409
    assert not ErasureRequest.objects.exists()

    # the customer's own request is queued like a manager's
    own = customer_client_for(customer).post(url, {}, format="json")
    assert own.status_code == 202
    assert own.json()["requested_by_kind"] == "customer"
    assert customer_client_for(customer).get(url).json()["results"][0]["id"] == own.json()["id"]


# --- what erasure does ------------------------------------------------------------------------


def test_personal_data_is_removed_and_the_row_stays_a_pseudonym(brand, staff_client):
    # given a customer with a friend, an advocate record, a post, a comment and an order
    alice, friends = author_with_friends(brand, 2)
    Advocate.objects.create(brand=brand, customer=alice, referral_code="ERASEME01", notes="vip")
    post = PostFactory(author=alice, text="my holiday photos")
    draft = PostFactory(author=alice, text="a draft")
    Post.objects.filter(pk=post.pk).update(status="published", published_at=timezone.now())
    interactions_ingest(
        caller=staff_caller(brand.pk),
        events=[
            {
                "event_id": "c-1",
                "type": "message",
                "actor": alice.pk,
                "target": friends[0].pk,
                "occurred_at": timezone.now().isoformat(),
                "payload": {"text": "call me on 138..."},
            }
        ],
    )
    Conversion.objects.create(
        brand=brand,
        order_id="o-1",
        amount="10.00",
        currency="CNY",
        buyer=alice,
        buyer_external_id=alice.external_id,
        source="none",
        occurred_at=timezone.now(),
    )

    # when she is erased
    request = erase(alice)

    # then her row is a pseudonym with every purpose withdrawn
    assert request.status == "done"
    alice.refresh_from_db()
    assert alice.erased_at is not None
    assert alice.external_id.startswith("erased-")
    assert (alice.display_name, alice.phone, alice.tags) == ("", "", [])
    assert not (alice.marketing_consent or alice.consent_mass_messages or alice.consent_profiling)
    assert set(
        ConsentRecord.objects.filter(customer=alice, source="erasure").values_list(
            "purpose", flat=True
        )
    ) == {"commercial_posts", "mass_messages", "profiling"}
    # her friendships ended (kept as history), her friends' counts follow
    assert not Friendship.objects.filter(ended_at__isnull=True, customer_low=alice).exists()
    assert not Friendship.objects.filter(ended_at__isnull=True, customer_high=alice).exists()
    assert Friendship.objects.filter(end_reason="erased").count() == 2
    friends[0].refresh_from_db()
    assert friends[0].friend_count == 0
    # the advocate is retired, her content gone, her events and orders kept without it
    assert Advocate.objects.get(customer=alice).status == "retired"
    post.refresh_from_db()
    assert (post.text, post.media, post.status) == ("", [], "withdrawn")
    assert not Post.objects.filter(pk=draft.pk).exists()
    assert Interaction.objects.get(event_id="c-1").payload == {}
    assert Conversion.objects.get(order_id="o-1").buyer_external_id == ""
    # her export holds only the pseudonym
    document = b"".join(
        staff_client_for(brand, Role.OWNER)
        .get(f"/api/v1/customers/{alice.pk}/export/")
        .streaming_content
    )
    assert b"holiday" not in document and b"138..." not in document
    # and the record cannot be changed any more
    response = staff_client.patch(
        f"/api/v1/customers/{alice.pk}/", {"display_name": "Alice"}, format="json"
    )
    assert response.status_code == 409


def test_campaign_report_totals_are_equal_before_and_after_erasure(brand):
    # given the hand-built campaign of the report tests
    built = Built(brand)
    analyst = staff_client_for(brand, Role.ANALYST)
    url = f"/api/v1/campaigns/{built.campaign.pk}/report/"
    ann = built.a.advocate.customer
    first_post = Post.objects.filter(author=ann).order_by("pk").first()
    engaged = Delivery.objects.filter(post=first_post).order_by("recipient_id")[0].recipient

    def numbers() -> dict:
        body = analyst.get(url).json()
        body.pop("generated_at")
        for row in body["by_advocate"]:
            row.pop("name")  # a display name is personal data: erased
        return body

    before = numbers()
    assert before["totals"]["engagements"] == 6

    # when an advocate and a recipient who engaged are erased
    assert erase(ann).status == "done"
    assert erase(engaged).status == "done"

    # then every number of the report is the same
    assert numbers() == before


def _messages(brand, pairs, at):
    events = [
        {
            "event_id": f"m-{a.pk}-{b.pk}-{n}",
            "type": "message",
            "actor": a.pk,
            "target": b.pk,
            "occurred_at": (at - timedelta(minutes=n)).isoformat(),
        }
        for n, (a, b) in enumerate(pairs)
    ]
    return [r.id for r in interactions_ingest(caller=staff_caller(brand.pk), events=events)]


def test_ties_of_the_erased_are_removed_and_others_stay_consistent(brand):
    # given scored ties among alice, bob and carol, and a block flag involving alice
    alice, bob, carol = CustomerFactory.create_batch(3, brand=brand)
    befriend(alice, [bob, carol])
    befriend(bob, [carol])
    now = timezone.now()
    pairs = [(alice, bob), (bob, alice), (alice, carol), (bob, carol), (carol, bob)]
    ties_score_batch(interaction_ids=_messages(brand, pairs, now), as_of=now)
    Tie.objects.filter(source=carol, target=alice).update(blocked_at=now)
    others = {
        (t.source_id, t.target_id): t.affinity for t in Tie.objects.filter(source__in=[bob, carol])
    }

    # when alice is erased
    erase(alice)

    # then none of her ties is left, flags included, and the others' totals are unchanged
    assert not Tie.objects.filter(source=alice).exists()
    assert not Tie.objects.filter(target=alice).exists()
    kept = {(t.source_id, t.target_id): t.affinity for t in Tie.objects.all()}
    assert kept == {key: value for key, value in others.items() if alice.pk not in key}
    # and a full recompute from the log (her events are still in it) agrees
    ties_recompute(brand_id=brand.pk, as_of=now)
    again = {(t.source_id, t.target_id): t.affinity for t in Tie.objects.all()}
    assert again.keys() == kept.keys()
    for key, value in kept.items():
        assert again[key] == pytest.approx(value, rel=1e-9)


@time_machine.travel(datetime(2024, 5, 15, 4, 0, tzinfo=UTC), tick=False)
def test_fatigue_state_in_redis_is_removed(brand):
    # given a commercial post delivered to bob: Redis holds his exposure window
    set_policy(brand, enabled_rules=sorted(ALL_RULES - {"sender_commercial_share"}))
    author, (bob,) = author_with_friends(brand, 1)
    post = PostFactory(author=author, commercial=True)
    assert post_publish(caller=customer_caller(author), post=post)["delivered"] == 1
    counters = counters_for(brand_id=brand.pk)
    assert counters.client.exists(counters.recipient_key(bob.pk))
    assert counters.client.exists(counters.sender_keys(author.pk)[0])

    # when bob and the author are erased
    erase(bob)
    erase(author)

    # then their windows are gone
    assert not counters.client.exists(counters.recipient_key(bob.pk))
    assert not any(counters.client.exists(key) for key in counters.sender_keys(author.pk))


# --- erasure while the scoring lock is held ----------------------------------------------------


class LockHolder:
    """Holds a brand's scoring lock (as a running recompute does) from another connection."""

    def __init__(self, brand_id: int):
        self.brand_id = brand_id
        self.taken, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [brand_lock_key(self.brand_id)])
                self.taken.set()
                self.release.wait(30)
        finally:
            connections.close_all()

    def __enter__(self):
        self.thread.start()
        assert self.taken.wait(10)
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(10)


def test_erasure_waits_for_a_recompute_and_never_half_erases(brand, settings):
    settings.SCRM = {**settings.SCRM, "SCORING_LOCK_TIMEOUT_MS": 200}
    alice, (bob,) = author_with_friends(brand, 1)
    request, _ = services.erasure_request(customer=alice, actor=Actor.system())
    external_id = alice.external_id

    # while a recompute holds the brand's scoring lock, a run gives up with nothing changed
    with LockHolder(brand.pk):
        with pytest.raises(OperationalError):
            services.erasure_run(request_id=request.pk)
        alice.refresh_from_db()
        assert (alice.external_id, alice.erased_at) == (external_id, None)
        assert Friendship.objects.filter(ended_at__isnull=True).count() == 1
        request.refresh_from_db()
        assert request.status == "running"

    # once it is released, the task (retrying) finishes the erasure
    assert erase_customer.apply(args=[request.pk]).get()["status"] == "done"
    alice.refresh_from_db()
    assert alice.erased_at is not None


def test_the_task_retries_until_the_lock_is_free(brand, settings):
    settings.SCRM = {**settings.SCRM, "SCORING_LOCK_TIMEOUT_MS": 100}
    alice = CustomerFactory(brand=brand)
    request, _ = services.erasure_request(customer=alice, actor=Actor.system())
    holder = LockHolder(brand.pk)
    with holder:
        threading.Timer(0.5, holder.release.set).start()
        result = erase_customer.apply(args=[request.pk]).get()
    request.refresh_from_db()
    assert result["status"] == "done"
    assert request.status == "done" and request.attempts >= 2
