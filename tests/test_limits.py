"""Production limits on bad or abusive input: the ingest rate per app key (429 with
Retry-After), JSON nesting depth (400 naming the limit), in the one error format."""

from __future__ import annotations

import json

import pytest

from interactions.models import Interaction
from scrm.api.parsers import too_deep
from scrm.api.throttling import IngestRateThrottle
from tests.conftest import app_client_for
from tests.factories import CustomerFactory
from tests.test_ops import assert_error

pytestmark = pytest.mark.django_db

ONE = "/api/v1/interactions/"
BATCH = "/api/v1/interactions/batch/"


@pytest.fixture
def ingest_rate(monkeypatch):
    def set_rate(rate: str) -> None:
        rates = {**IngestRateThrottle.THROTTLE_RATES, "ingest": rate}
        monkeypatch.setattr(IngestRateThrottle, "THROTTLE_RATES", rates)

    return set_rate


def message(event_id: str, actor, target) -> dict:
    return {
        "event_id": event_id,
        "type": "message",
        "actor": actor.pk,
        "target": target.pk,
        "occurred_at": "2026-11-01T10:00:00+00:00",
    }


def test_ingest_over_the_app_keys_rate_is_429_with_retry_after(brand, ingest_rate):
    # given a rate of 2 requests a minute and a mini-program's app key
    ingest_rate("2/min")
    client = app_client_for(brand)
    a, b = CustomerFactory.create_batch(2, brand=brand)

    # when it sends a single event, a batch, and then one more batch
    answers = [
        client.post(ONE, message("e1", a, b), format="json"),
        client.post(BATCH, {"events": [message("e2", a, b)]}, format="json"),
        client.post(BATCH, {"events": [message("e3", a, b)]}, format="json"),
    ]

    # then the third is refused in the error format, saying when to come back
    assert [r.status_code for r in answers[:2]] == [201, 200]
    error = assert_error(answers[2], 429, "throttled")
    assert "seconds" in error["message"]
    assert 0 < int(answers[2]["Retry-After"]) <= 60
    # and the refused batch stored nothing
    assert set(Interaction.objects.values_list("event_id", flat=True)) == {"e1", "e2"}


def test_each_app_key_has_its_own_ingest_budget_and_reads_are_not_counted(
    brand, other_brand, ingest_rate, staff_client
):
    ingest_rate("1/min")
    first, second = app_client_for(brand), app_client_for(brand)
    a, b = CustomerFactory.create_batch(2, brand=brand)

    assert first.post(ONE, message("k1", a, b), format="json").status_code == 201
    assert second.post(ONE, message("k2", a, b), format="json").status_code == 201
    assert first.post(ONE, message("k3", a, b), format="json").status_code == 429
    # listing the log is not ingest
    for _ in range(3):
        assert first.get(ONE).status_code == 200


def test_ingest_rate_is_documented_as_429_in_the_schema(staff_client):
    schema = staff_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    paths = schema.json()["paths"]
    assert "429" in paths["/api/v1/interactions/batch/"]["post"]["responses"]


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


@pytest.mark.parametrize("path", [ONE, BATCH], ids=["one", "batch"])
def test_payload_nested_deeper_than_the_limit_is_400_naming_it(brand, path):
    client = app_client_for(brand)
    a, b = CustomerFactory.create_batch(2, brand=brand)
    event = {**message("deep", a, b), "payload": nested(40)}
    body = event if path == ONE else {"events": [event]}

    response = client.post(path, body, format="json")

    error = assert_error(response, 400, "parse_error")
    assert "32 levels" in error["message"]
    assert error["details"] == {"max_depth": 32}
    assert not Interaction.objects.exists()


def test_absurdly_deep_json_is_400_not_a_crash(staff_client, brand):
    # 100,000 nested arrays: the standard library's parser would hit the recursion limit
    body = "[" * 100_000 + "]" * 100_000
    for path in ("/api/v1/customers/", BATCH):
        response = staff_client.post(path, data=body, content_type="application/json")
        assert_error(response, 400, "parse_error")


def test_nesting_within_the_limit_is_accepted(brand):
    client = app_client_for(brand)
    a, b = CustomerFactory.create_batch(2, brand=brand)
    event = {**message("ok", a, b), "payload": nested(8)}
    response = client.post(BATCH, {"events": [event]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["results"][0]["status"] == "created"
    assert Interaction.objects.get().payload == nested(8)


def test_depth_check_counts_levels_of_objects_and_arrays():
    assert not too_deep({"a": [1, {"b": 2}]}, 3)
    assert too_deep({"a": [1, {"b": []}]}, 3)
    assert not too_deep("scalar", 0)
    assert too_deep(json.loads("[" * 50 + "]" * 50), 49)
