"""Redis stopped under a running API (gunicorn) and worker, then back empty.

SPEC: the API answers 503 in the error format (never 500) on the paths that need Redis,
`/readyz` names what is down, ingest either stores events durably or answers 503, and all of
it works again once Redis is back, without restarting the API. Ingest's hand-off to the
broker is lost meanwhile (committed, never enqueued): the outbox sweeper scores those events.
"""

from __future__ import annotations

import pytest

from campaigns.models import FatiguePolicyChange
from campaigns.services.fatigue_policy import fatigue_policy_for
from interactions.models import Interaction, ScoringPending, Tie
from tests.campaigns.factories import PostFactory

from .processes import wait_until
from .world import build_world, events_between

pytestmark = pytest.mark.faults

BATCH = "/api/v1/interactions/batch/"
POLICY = "/api/v1/fatigue/policy/"


def assert_error_format(status: int, body: dict, expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def test_redis_down_is_503_where_needed_ingest_is_durable_and_all_recovers(stack):
    # given the API and a worker serving a brand, ready
    api = stack.start_api()
    world = build_world(senders=1, friends=4, commercial_rules=["recipient_daily_cap"])
    author = world.senders[0]
    assert api.request("GET", "/readyz")[0] == 200

    # when Redis goes away
    stack.redis.stop()

    # then readiness names Redis and the broker, not the database
    status, body, _ = api.request("GET", "/readyz")
    assert status == 503
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "redis": False,
        "broker": False,
    }
    # publishing (fatigue counters live in Redis) and the throttled logins answer 503
    post = PostFactory(author=author, commercial=True)
    answers = {
        "publish": api.request(
            "POST", f"/api/v1/posts/{post.pk}/publish/", auth=world.customer(author)
        ),
        "preview": api.request(
            "POST", f"/api/v1/posts/{post.pk}/publish-preview/", auth=world.customer(author)
        ),
        "login": api.request("POST", "/api/v1/auth/token/", {"username": "x", "password": "y"}),
        "customer token": api.request(
            "POST",
            "/api/v1/auth/customer-token/",
            {"external_id": author.external_id},
            auth=world.app,
        ),
    }
    for status, body, _ in answers.values():
        assert_error_format(status, body, 503, "service_unavailable")
    # and nothing of the refused publish was written
    post.refresh_from_db()
    assert post.status == "draft"
    assert not post.deliveries.exists()
    # reads that need only PostgreSQL still work
    assert api.request("GET", "/api/v1/customers/", auth=world.staff)[0] == 200
    # a longer fatigue window is refused whole (its counters could not follow): not saved
    changes = FatiguePolicyChange.objects.filter(brand=world.brand).count()
    status, body, _ = api.request("PATCH", POLICY, {"window_days": 14}, auth=world.staff)
    assert_error_format(status, body, 503, "service_unavailable")
    assert fatigue_policy_for(brand_id=world.brand.pk).window_days == 7
    assert FatiguePolicyChange.objects.filter(brand=world.brand).count() == changes
    # ingest stores the events durably (their hand-off to the broker is lost)
    events = events_between(world, 40, "down")
    status, body, _ = api.request("POST", BATCH, {"events": events}, auth=world.app)
    assert status == 200, api.service.output()
    assert {r["status"] for r in body["results"]} == {"created"}
    assert Interaction.objects.filter(brand=world.brand).count() == 40
    assert ScoringPending.objects.filter(brand_id=world.brand.pk).count() == 40

    # when Redis comes back, empty (the API is not restarted)
    stack.redis.start()

    # then the API is ready again and publishes, rebuilding fatigue state from PostgreSQL
    assert wait_until(lambda: api.request("GET", "/readyz")[0] == 200, 30)
    # the window change goes through, with the counters rebuilt for it
    status, body, _ = api.request("PATCH", POLICY, {"window_days": 14}, auth=world.staff)
    assert status == 200, body
    assert body["window_days"] == 14
    assert stack.redis.client().exists(f"{{b:{world.brand.pk}}}:fat:ready")
    status, body, _ = api.request(
        "POST", f"/api/v1/posts/{post.pk}/publish/", auth=world.customer(author)
    )
    assert status == 200, body
    assert body["decision"] == "published"
    assert body["delivered"] == 4
    status, body, _ = api.request("POST", "/api/v1/auth/customer-token/",
                                  {"external_id": author.external_id}, auth=world.app)  # fmt: skip
    assert status == 201, body
    # and ingest hands off to the broker again
    status, body, _ = api.request(
        "POST", BATCH, {"events": events_between(world, 10, "back")}, auth=world.app
    )
    assert status == 200, body

    # when a worker runs and the sweeper (beat's task) is queued
    stack.start_worker()
    stack.send_task("interactions.score_unscored", older_than_minutes=0)

    # then every event is scored: those whose hand-off was lost too
    scored = wait_until(
        lambda: not ScoringPending.objects.filter(brand_id=world.brand.pk).exists(), 60
    )
    assert scored, stack.services[-1].output()
    assert Tie.objects.filter(brand=world.brand).exists()
    assert not any("500 " in line for line in api.service.output().splitlines() if "HTTP" in line)
