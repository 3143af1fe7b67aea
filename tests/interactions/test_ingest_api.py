import json
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.services.posts import post_withdraw
from customers.models import Customer, Friendship
from interactions.models import Interaction, Tie
from tests.campaigns.factories import PostFactory
from tests.conftest import customer_client_for
from tests.factories import CustomerFactory
from tests.graph import author_with_friends, customer_caller, published_post

pytestmark = pytest.mark.django_db

ONE = "/api/v1/interactions/"
BATCH = "/api/v1/interactions/batch/"


def now_iso(**delta) -> str:
    return (timezone.now() + timedelta(**delta)).isoformat()


@pytest.fixture
def graph(brand):
    """An author with 3 friends and a published post delivered to them."""
    author, friends = author_with_friends(brand, 3)
    post = published_post(author)
    return author, friends, post


def like(event_id, actor, post, **extra):
    return {
        "event_id": event_id,
        "type": "like",
        "actor": actor.pk,
        "post": post.pk,
        "occurred_at": now_iso(),
        **extra,
    }


def test_one_event_then_its_repeat_counts_once(app_client, graph):
    author, friends, post = graph
    event = like("e1", friends[0], post)

    first = app_client.post(ONE, event, format="json")
    again = app_client.post(ONE, event, format="json")

    assert first.status_code == 201, first.json()
    assert first.json()["status"] == "created"
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    stored = Interaction.objects.get()
    assert stored.target_id == author.pk  # defaulted from the post
    assert stored.event_id == "e1"


def test_mixed_batch_answers_in_order_and_a_retry_changes_nothing(app_client, graph):
    author, friends, post = graph
    events = [
        like("a", friends[0], post),
        {"event_id": "b", "type": "like", "actor": friends[1].pk, "occurred_at": now_iso()},
        like("c", friends[1], post),
        like("a", friends[2], post),  # same event_id as the first: a duplicate
        {"event_id": "d", "type": "teleport", "actor": friends[1].pk, "occurred_at": now_iso()},
        {
            "event_id": "e",
            "type": "message",
            "actor": friends[2].pk,
            "target": author.pk,
            "occurred_at": now_iso(),
            "payload": {"text": "hi"},
        },
    ]

    first = app_client.post(BATCH, {"events": events}, format="json")
    retry = app_client.post(BATCH, {"events": events}, format="json")

    assert first.status_code == 200
    assert [(r["event_id"], r["status"]) for r in first.json()["results"]] == [
        ("a", "created"),
        ("b", "rejected"),
        ("c", "created"),
        ("a", "duplicate"),
        ("d", "rejected"),
        ("e", "created"),
    ]
    assert first.json()["results"][1]["error"]["field"] == "post"
    assert first.json()["results"][4]["error"]["field"] == "type"
    assert [r["status"] for r in retry.json()["results"]] == [
        "duplicate",
        "rejected",
        "duplicate",
        "duplicate",
        "rejected",
        "duplicate",
    ]
    assert Interaction.objects.count() == 3
    assert Interaction.objects.get(event_id="e").payload == {"text": "hi"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_id": ""}, "event_id"),
        ({"event_id": 12}, "event_id"),
        ({"event_id": "x" * 65}, "event_id"),
        ({"type": "poke"}, "type"),
        ({"type": {"like": 1}}, "type"),
        ({"type": ["like"]}, "type"),
        ({"actor": "me"}, "actor"),
        ({"actor": 99999999}, "actor"),
        ({"target": "nobody"}, "target"),
        ({"target": 99999999}, "target"),
        ({"post": 99999999}, "post"),
        ({"post": None}, "post"),  # a like needs a post
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2024-01-01T10:00:00"}, "occurred_at"),  # no offset
        ({"occurred_at": None}, "occurred_at"),
        ("future", "occurred_at"),
        ({"payload": [1, 2]}, "payload"),
        ({"payload": {"blob": "x" * 5000}}, "payload"),
        ({"forwarded_from": "no-such-forward"}, "forwarded_from"),
        ("self", "target"),
        # PostgreSQL cannot store these: a clear 400, never a database error
        ({"event_id": "a\x00b"}, "event_id"),
        ({"forwarded_from": "f\x00"}, "forwarded_from"),
        ({"actor": 2**63}, "actor"),
        ({"post": 2**64 - 1}, "post"),
        ({"payload": {"note": "nul \x00 inside"}}, "payload"),
        ({"payload": {"deep": [{"k\x00": 1}]}}, "payload"),
    ],
)
def test_each_validation_rule_is_a_400_naming_the_field(app_client, graph, change, field):
    author, friends, post = graph
    event = like("v1", friends[0], post)
    if change == "future":
        event["occurred_at"] = now_iso(minutes=10)
    elif change == "self":
        event = {**event, "type": "message", "post": None, "target": friends[0].pk}
    else:
        event.update(change)

    response = app_client.post(ONE, event, format="json")
    batched = app_client.post(BATCH, {"events": [event]}, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"]
    assert batched.json()["results"][0]["status"] == "rejected"
    assert batched.json()["results"][0]["error"]["field"] == field
    assert not Interaction.objects.exists()


def test_a_few_minutes_of_clock_skew_is_accepted(app_client, graph):
    _, friends, post = graph
    event = like("skew", friends[0], post, occurred_at=now_iso(minutes=4))
    assert app_client.post(ONE, event, format="json").status_code == 201


def test_post_must_be_published_and_delivered_to_the_actor(app_client, brand, graph):
    author, friends, post = graph
    stranger = CustomerFactory(brand=brand)
    draft = PostFactory(author=author)

    not_delivered = app_client.post(ONE, like("n1", stranger, post), format="json")
    on_draft = app_client.post(ONE, like("n2", friends[0], draft), format="json")
    post_withdraw(caller=customer_caller(author), post=post)
    withdrawn = app_client.post(ONE, like("n3", friends[0], post), format="json")

    for response in (not_delivered, on_draft, withdrawn):
        assert response.status_code == 400
        assert "post" in response.json()["error"]["details"]
    assert not Interaction.objects.exists()


def test_suppressed_delivery_gives_no_access(app_client, brand):
    author, friends = author_with_friends(brand, 2)
    Tie.objects.create(brand=brand, source=friends[0], target=author, muted_at=timezone.now())
    post = published_post(author)

    response = app_client.post(ONE, like("s1", friends[0], post), format="json")

    assert response.status_code == 400


def test_unlike_needs_a_prior_like_in_the_db_or_earlier_in_the_batch(app_client, graph):
    _, friends, post = graph
    unlike = {**like("u0", friends[0], post), "type": "unlike"}
    alone = app_client.post(ONE, unlike, format="json")
    batch = app_client.post(
        BATCH,
        {
            "events": [
                like("l1", friends[0], post),
                {**unlike, "event_id": "u1"},
                {**unlike, "event_id": "u2"},  # nothing left to unlike
                like("l2", friends[0], post),
                like("l3", friends[0], post),  # already liked
            ]
        },
        format="json",
    )
    later = app_client.post(ONE, {**unlike, "event_id": "u3"}, format="json")

    assert alone.status_code == 400
    assert "type" in alone.json()["error"]["details"]
    assert [r["status"] for r in batch.json()["results"]] == [
        "created",
        "created",
        "rejected",
        "created",
        "rejected",
    ]
    assert later.status_code == 201


def test_customer_token_sends_only_its_own_events(graph):
    author, friends, post = graph
    client = customer_client_for(friends[0])

    own = client.post(ONE, {**like("c1", friends[0], post), "actor": None}, format="json")
    impersonated = client.post(ONE, like("c2", friends[1], post), format="json")
    batched = client.post(BATCH, {"events": [like("c3", friends[1], post)]}, format="json")

    assert own.status_code == 201
    assert Interaction.objects.get(event_id="c1").actor_id == friends[0].pk
    assert impersonated.status_code == 403
    assert batched.json()["results"][0]["status"] == "rejected"
    assert batched.json()["results"][0]["error"]["code"] == "permission_denied"
    assert Interaction.objects.count() == 1


def test_other_brand_staff_cannot_ingest_for_or_read_this_brand(
    other_staff_client, app_client, graph
):
    _, friends, post = graph
    app_client.post(ONE, like("mine", friends[0], post), format="json")

    foreign = other_staff_client.post(ONE, like("theirs", friends[1], post), format="json")
    listed = other_staff_client.get(ONE).json()["results"]

    assert foreign.status_code == 400
    assert "actor" in foreign.json()["error"]["details"]
    assert listed == []
    assert Interaction.objects.count() == 1


def test_other_customer_cannot_read_my_events(app_client, other_customer_client, graph):
    _, friends, post = graph
    app_client.post(ONE, like("mine", friends[0], post), format="json")
    assert other_customer_client.get(ONE).json()["results"] == []
    assert customer_client_for(friends[0]).get(ONE).json()["results"][0]["event_id"] == "mine"


def test_analyst_cannot_ingest(analyst_client, graph):
    _, friends, post = graph
    assert analyst_client.post(ONE, like("x", friends[0], post), format="json").status_code == 403


@pytest.mark.parametrize(
    "body",
    [{}, {"events": "nope"}, {"events": []}, [1, 2], {"events": [{}] * 1001}],
)
def test_bad_batch_envelopes_are_400(app_client, body):
    response = app_client.post(BATCH, body, format="json")
    assert response.status_code == 400
    assert "events" in response.json()["error"]["details"] or response.json()["error"]


def test_non_object_events_are_rejected_alone(app_client, graph):
    _, friends, post = graph
    response = app_client.post(BATCH, {"events": [7, like("ok", friends[0], post)]}, format="json")
    assert [r["status"] for r in response.json()["results"]] == ["rejected", "created"]


def test_oversized_batch_body_is_413(app_client, settings):
    limit = settings.SCRM["BODY_LIMITS_BY_PATH_SUFFIX"]["/interactions/batch/"]
    body = json.dumps({"events": [{"payload": "x" * (limit + 10)}]})
    response = app_client.generic("POST", BATCH, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("body", ["{", '{"events": [{"n": NaN}]}', '{"events": ["\\ud800"]}'])
def test_malformed_json_is_400(app_client, body):
    response = app_client.generic("POST", BATCH, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_payload_text_that_only_looks_like_an_escaped_nul_is_stored(app_client, graph):
    _, friends, post = graph
    payload = {"text": "a backslash then u0000: \\u0000", "n": 2**63, "nested": {"ok": [1.5]}}
    event = like("lit", friends[0], post, payload=payload)

    response = app_client.post(BATCH, {"events": [event]}, format="json")

    assert response.json()["results"][0]["status"] == "created"
    assert Interaction.objects.get(event_id="lit").payload == payload


def test_negative_signals_set_pair_flags_and_unfriend_ends_the_friendship(app_client, graph):
    author, friends, post = graph
    when = now_iso(minutes=-1)
    events = [
        {
            "event_id": "h",
            "type": "hide_post",
            "actor": friends[0].pk,
            "post": post.pk,
            "occurred_at": when,
        },
        {
            "event_id": "m",
            "type": "mute_author",
            "actor": friends[0].pk,
            "target": author.pk,
            "occurred_at": when,
        },
        {
            "event_id": "b",
            "type": "block",
            "actor": friends[1].pk,
            "target": author.pk,
            "occurred_at": when,
        },
        {
            "event_id": "r",
            "type": "report",
            "actor": friends[1].pk,
            "target": author.pk,
            "post": post.pk,
            "occurred_at": when,
        },
        {
            "event_id": "u",
            "type": "unfriend",
            "actor": friends[2].pk,
            "target": author.pk,
            "occurred_at": when,
        },
    ]

    results = app_client.post(BATCH, {"events": events}, format="json").json()["results"]
    app_client.post(BATCH, {"events": events}, format="json")  # a retry changes nothing

    assert {r["status"] for r in results} == {"created"}
    first = Tie.objects.get(source=friends[0], target=author)
    assert first.flags == ["muted", "hidden"]
    assert Tie.objects.get(source=friends[1], target=author).flags == ["blocked", "reported"]
    assert Tie.objects.get(source=friends[2], target=author).flags == ["unfriended"]
    edge = Friendship.objects.get(
        customer_low_id=min(author.pk, friends[2].pk),
        customer_high_id=max(author.pk, friends[2].pk),
    )
    assert edge.ended_at is not None
    assert edge.ended_by_id == friends[2].pk
    assert edge.end_reason == "unfriend"
    assert Customer.objects.get(pk=author.pk).friend_count == 2
    assert Customer.objects.get(pk=friends[2].pk).friend_count == 0


def test_forward_chain_reaches_non_friends_and_is_recorded(app_client, brand, graph):
    author, friends, post = graph
    reader, reader2 = CustomerFactory.create_batch(2, brand=brand)
    events = [
        {
            "event_id": "f1",
            "type": "forward",
            "actor": friends[0].pk,
            "post": post.pk,
            "occurred_at": now_iso(),
        },
        {
            "event_id": "f2",
            "type": "forward",
            "actor": reader.pk,
            "post": post.pk,
            "forwarded_from": "f1",
            "occurred_at": now_iso(),
        },
        like("l2", reader2, post, forwarded_from="f2"),
        like("l3", reader2, post),  # not through a forward: no access
    ]

    results = app_client.post(BATCH, {"events": events}, format="json").json()["results"]
    later = app_client.post(ONE, like("l4", reader, post, forwarded_from="f1"), format="json")

    assert [r["status"] for r in results] == ["created", "created", "created", "rejected"]
    depths = dict(Interaction.objects.values_list("event_id", "chain_depth"))
    assert depths == {"f1": 0, "f2": 1, "l2": 2, "l4": 1}
    assert later.status_code == 201
    assert Interaction.objects.get(event_id="l2").forwarded_from == "f2"
    assert Interaction.objects.get(event_id="l2").target_id == author.pk


def test_author_may_reply_on_own_post(app_client, graph):
    author, friends, post = graph
    reply = {
        "event_id": "r1",
        "type": "reply",
        "actor": author.pk,
        "target": friends[0].pk,
        "post": post.pk,
        "occurred_at": now_iso(),
    }
    assert app_client.post(ONE, reply, format="json").status_code == 201


def test_ingest_query_count_is_constant_per_batch(app_client, brand, django_assert_max_num_queries):
    author, friends = author_with_friends(brand, 60)
    post = published_post(author)
    events = [like(f"q{i}", friend, post) for i, friend in enumerate(friends)]
    events += [{**e, "event_id": e["event_id"] + "u", "type": "unlike"} for e in events[:20]]
    with django_assert_max_num_queries(12):
        response = app_client.post(BATCH, {"events": events}, format="json")
    assert {r["status"] for r in response.json()["results"]} == {"created"}


def test_a_stored_event_stays_a_duplicate_after_its_post_is_withdrawn(app_client, graph):
    author, friends, post = graph
    event = like("w1", friends[0], post)
    assert app_client.post(ONE, event, format="json").status_code == 201
    post_withdraw(caller=customer_caller(author), post=post)

    retried = app_client.post(BATCH, {"events": [event]}, format="json").json()["results"]

    assert retried == [{"event_id": "w1", "status": "duplicate", "error": None}]
