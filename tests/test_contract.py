"""The REST contract of SPEC, path by path and method by method, for every caller kind.

``OPERATIONS`` lists each contract operation with the caller kinds that may call it. For each:
no credentials → 401; another brand's staff → 404 on this brand's rows (nothing changed);
another customer's token → 403/404 (nothing changed); a caller kind that may not call it → 403
(nothing changed); each allowed kind succeeds. Bad bodies (malformed JSON, wrong types, unknown
ids, other brands' ids) answer 400 naming the field. The table is checked against the URLconf
and the OpenAPI schema, so a new endpoint cannot be left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.urls import Resolver404, resolve
from django.utils import timezone

from .worlds import Side, build_world, fingerprint

pytestmark = pytest.mark.django_db

ALL = frozenset({"staff", "app", "customer"})
STAFF_APP = frozenset({"staff", "app"})
STAFF = frozenset({"staff"})
STAFF_CUSTOMER = frozenset({"staff", "customer"})  # app keys act through customer tokens

# The table of SPEC's "REST API contract" (paths under /api/v1/).
SPEC_PATHS = {
    "auth/token/": {"post"},
    "auth/customer-token/": {"post"},
    "customers/": {"get", "post"},
    "customers/{id}/": {"get", "patch", "delete"},
    "customers/{id}/friends/": {"get"},
    "customers/{id}/ties/": {"get"},
    "friendships/": {"get", "post"},
    "friendships/{id}/": {"get", "delete"},
    "advocates/": {"get", "post"},
    "advocates/{id}/": {"get", "patch"},
    "advocates/leaderboard/": {"get"},
    "advocates/candidates/": {"get"},
    "posts/": {"get", "post"},
    "posts/{id}/": {"get", "patch", "delete"},
    "posts/{id}/publish/": {"post"},
    "posts/{id}/publish-preview/": {"post"},
    "posts/{id}/withdraw/": {"post"},
    "feed/": {"get"},
    "interactions/": {"get", "post"},
    "interactions/batch/": {"post"},
    "campaigns/": {"get", "post"},
    "campaigns/{id}/": {"get", "patch"},
    "campaigns/{id}/enrollments/": {"get", "post"},
    "campaigns/{id}/report/": {"get"},
    "conversions/": {"get", "post"},
    "fatigue/policy/": {"get", "put"},
    "customers/{id}/export/": {"get"},
    "customers/{id}/erase/": {"post"},
    "audit/": {"get"},
    "wecom/config/": {"get", "put"},
    "wecom/callback/{brand_slug}/": {"get", "post"},
    "churn/": {"get"},
}
# Called without credentials, authenticated otherwise (tested in their own modules).
ANONYMOUS_OPERATIONS = {
    ("post", "auth/token/"),
    ("get", "wecom/callback/{brand_slug}/"),
    ("post", "wecom/callback/{brand_slug}/"),
}


def _now(delta: timedelta = timedelta(0)) -> str:
    return (timezone.now() + delta).isoformat()


def _event(side: Side, suffix: str = "new") -> dict:
    return {
        "event_id": f"contract-{suffix}",
        "type": "message",
        "actor": side.alice.pk,
        "target": side.bob.pk,
        "occurred_at": _now(),
    }


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # under /api/v1/, with {customer}, {draft}, … of the side's rows
    callers: frozenset[str]
    body: object = None  # callable(side) -> JSON body, or None
    row: str | None = None  # the side's row the path names (for other-brand checks)
    staff_query: dict = field(default_factory=dict)  # extra query for staff and app keys

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def url(self, side: Side, kind: str) -> str:
        url = "/api/v1/" + self.path.format(**side.ids())
        if kind != "customer" and self.staff_query:
            query = "&".join(f"{k}={v.format(**side.ids())}" for k, v in self.staff_query.items())
            url += "?" + query
        return url

    def call(self, client, side: Side, kind: str, body=None):
        data = body if body is not None else (self.body(side) if self.body else None)
        request = getattr(client, self.method)
        if self.method in ("get", "delete") and data is None:
            return request(self.url(side, kind))
        return request(self.url(side, kind), data if data is not None else {}, format="json")


OPERATIONS = [
    Op("post", "auth/customer-token/", STAFF_APP, lambda s: {"external_id": s.alice.external_id}),
    Op("get", "customers/", ALL),
    Op("post", "customers/", STAFF_APP, lambda s: {"external_id": "new-1", "display_name": "N"}),
    Op("get", "customers/{customer}/", ALL, row="customer"),
    Op("patch", "customers/{customer}/", STAFF_APP, lambda s: {"display_name": "X"}, "customer"),
    Op("delete", "customers/{stranger}/", STAFF, row="stranger"),
    Op("get", "customers/{customer}/friends/", ALL, row="customer"),
    Op("get", "customers/{customer}/ties/", ALL, row="customer"),
    Op("get", "customers/{customer}/consents/", ALL, row="customer"),
    Op(
        "post",
        "customers/{customer}/consents/",
        ALL,
        lambda s: {"purpose": "mass_messages", "granted": False},
        "customer",
    ),
    Op("get", "customers/{customer}/export/", STAFF_CUSTOMER, row="customer"),
    Op("get", "customers/{customer}/erase/", STAFF_CUSTOMER, row="customer"),
    Op("post", "customers/{customer}/erase/", STAFF_CUSTOMER, lambda s: {}, "customer"),
    Op("get", "audit/", STAFF),
    Op("get", "friendships/", ALL),
    Op("post", "friendships/", STAFF_APP, lambda s: {"customer": s.alice.pk, "friend": s.carol.pk}),
    Op("get", "friendships/{friendship}/", ALL, row="friendship"),
    Op("delete", "friendships/{friendship}/", ALL, row="friendship"),
    Op("get", "advocates/", ALL),
    Op("post", "advocates/", STAFF, lambda s: {"customer": s.carol.pk}),
    Op("get", "advocates/{advocate}/", ALL, row="advocate"),
    Op("patch", "advocates/{advocate}/", STAFF, lambda s: {"status": "paused"}, "advocate"),
    Op("get", "advocates/leaderboard/", STAFF_APP),
    Op("get", "advocates/candidates/", STAFF_APP),
    Op("get", "posts/", ALL),
    Op("post", "posts/", STAFF_CUSTOMER, lambda s: {"author": s.alice.pk, "text": "new post"}),
    Op("get", "posts/{draft}/", ALL, row="draft"),
    Op("patch", "posts/{draft}/", STAFF_CUSTOMER, lambda s: {"text": "changed"}, "draft"),
    Op("delete", "posts/{draft}/", STAFF_CUSTOMER, row="draft"),
    Op("post", "posts/{draft}/publish/", STAFF_CUSTOMER, row="draft"),
    Op("post", "posts/{draft}/publish-preview/", STAFF_CUSTOMER, row="draft"),
    Op("post", "posts/{published}/withdraw/", STAFF_CUSTOMER, row="published"),
    Op("post", "posts/{published}/share-link/", STAFF_CUSTOMER, row="published"),
    Op("get", "feed/", ALL, staff_query={"customer": "{customer}"}),
    Op("get", "interactions/", ALL),
    Op("post", "interactions/", ALL, _event),
    Op("post", "interactions/batch/", ALL, lambda s: {"events": [_event(s)]}),
    Op("get", "campaigns/", STAFF),
    Op(
        "post",
        "campaigns/",
        STAFF,
        lambda s: {"name": "Spring", "starts_at": _now(), "ends_at": _now(timedelta(days=9))},
    ),
    Op("get", "campaigns/{campaign}/", STAFF, row="campaign"),
    Op("patch", "campaigns/{campaign}/", STAFF, lambda s: {"name": "Renamed"}, "campaign"),
    Op("get", "campaigns/{campaign}/enrollments/", STAFF, row="campaign"),
    Op(
        "post",
        "campaigns/{campaign}/enrollments/",
        STAFF,
        lambda s: {"advocate": s.dave_advocate.pk},
        "campaign",
    ),
    Op("get", "campaigns/{campaign}/report/", STAFF, row="campaign"),
    Op(
        "patch",
        "campaigns/{campaign}/samples/{sample}/",
        STAFF,
        lambda s: {"shipped_at": _now()},
        "sample",
    ),
    Op("get", "conversions/", STAFF),
    Op(
        "post",
        "conversions/",
        STAFF_APP,
        lambda s: {
            "order_id": "order-new",
            "amount": "10.00",
            "currency": "CNY",
            "buyer": s.bob.pk,
            "referral_code": s.enrollment.code,
        },
    ),
    Op("get", "conversions/{conversion}/", STAFF, row="conversion"),
    Op("get", "fatigue/policy/", STAFF_APP),
    Op("put", "fatigue/policy/", STAFF, lambda s: {}),
    Op("patch", "fatigue/policy/", STAFF, lambda s: {}),
    Op("get", "wecom/config/", STAFF),
    Op(
        "put",
        "wecom/config/",
        STAFF,
        lambda s: {
            "corp_id": "wwcontract",
            "token": "ContractToken",
            "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        },
    ),
    Op("get", "wecom/events/", STAFF),
    Op("get", "churn/", STAFF),
]
OPS = {op.name: op for op in OPERATIONS}
OBJECT_OPS = [op.name for op in OPERATIONS if op.row]


def _template(op: Op) -> str:
    """``customers/{customer}/`` → ``customers/{id}/`` (the schema's and SPEC's spelling)."""
    path = op.path
    for name in ("customer", "stranger", "friendship", "advocate", "draft", "published"):
        path = path.replace("{" + name + "}", "{id}")
    path = path.replace("{campaign}", "{id}")
    return path.replace("{conversion}", "{id}").replace("{sample}", "{sample_id}")


@pytest.fixture
def world() -> tuple[Side, Side]:
    return build_world()


def assert_error(response, statuses: set[int]) -> dict:
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    return body["error"]


# --- the table is complete ---------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(SPEC_PATHS))
def test_every_spec_path_and_method_is_in_the_table(path):
    listed = {op.method for op in OPERATIONS if _template(op) == path}
    # anonymous by design: tested in tests/tenancy/test_auth.py, tests/wecom/ and below
    listed |= {method for method, anonymous in ANONYMOUS_OPERATIONS if anonymous == path}
    assert SPEC_PATHS[path] <= listed


@pytest.mark.parametrize("path", sorted(SPEC_PATHS))
def test_every_spec_path_is_routed(path):
    url = "/api/v1/" + path.replace("{id}", "1").replace("{brand_slug}", "acme")
    try:
        resolve(url)
    except Resolver404:
        pytest.fail(f"{url} is not routed")


def test_every_schema_operation_is_in_the_table(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    in_schema = {
        (method, path.removeprefix("/api/v1/"))
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    listed = {(op.method, _template(op)) for op in OPERATIONS} | ANONYMOUS_OPERATIONS
    assert in_schema == listed


# --- (a) no credentials -----------------------------------------------------------------------


@pytest.mark.parametrize("name", list(OPS))
def test_no_credentials_is_401_and_changes_nothing(world, anon_client, name):
    a, _ = world
    before = fingerprint(a)
    error = assert_error(OPS[name].call(anon_client, a, "staff"), {401})
    assert error["code"] == "not_authenticated"
    assert fingerprint(a) == before


@pytest.mark.parametrize("name", list(OPS))
def test_a_bad_token_is_401(world, anon_client, name):
    a, _ = world
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer st_forged")
    assert_error(OPS[name].call(anon_client, a, "staff"), {401})


# --- every allowed kind succeeds; every other kind is refused ----------------------------------


@pytest.mark.parametrize(
    ("name", "kind"), [(op.name, kind) for op in OPERATIONS for kind in sorted(op.callers)]
)
def test_each_allowed_caller_kind_succeeds(world, name, kind):
    a, _ = world
    op = OPS[name]
    response = op.call(a.client(kind), a, kind)
    assert 200 <= response.status_code < 300, (response.status_code, response.content[:400])


@pytest.mark.parametrize(
    ("name", "kind"), [(op.name, kind) for op in OPERATIONS for kind in sorted(ALL - op.callers)]
)
def test_a_caller_kind_not_allowed_is_403_and_changes_nothing(world, name, kind):
    a, _ = world
    before = fingerprint(a)
    error = assert_error(OPS[name].call(a.client(kind), a, kind), {403})
    assert error["code"] == "permission_denied"
    assert fingerprint(a) == before


# --- (b) another brand's staff --------------------------------------------------------------


@pytest.mark.parametrize("name", OBJECT_OPS)
def test_another_brands_staff_gets_404_and_changes_nothing(world, name):
    a, b = world
    op = OPS[name]
    before = fingerprint(a)
    # B's owner calls A's row (with B's own body and query, so only the path is foreign)
    url = op.url(a, "staff")
    if op.staff_query:
        url = url.split("?")[0]
    data = op.body(b) if op.body else None
    request = getattr(b.staff, op.method)
    response = request(url, data or {}, format="json") if data is not None else request(url)
    assert_error(response, {404})
    assert fingerprint(a) == before


@pytest.mark.parametrize(
    "name", [op.name for op in OPERATIONS if op.method == "get" and not op.row]
)
def test_another_brands_lists_show_none_of_this_brands_rows(world, name):
    a, b = world
    op = OPS[name]
    kind = "staff"
    response = op.call(b.staff, b, kind)
    assert response.status_code == 200, response.content[:300]
    text = json.dumps(response.json())
    # B sees its own rows, never A's (names and external ids are brand-prefixed)
    assert '"a-' not in text and "Brand a" not in text
    for value in (a.alice.external_id, a.enrollment.code, a.conversion.order_id):
        assert value not in text


def test_feed_of_another_brands_customer_is_400_naming_customer(world):
    a, b = world
    response = b.staff.get(f"/api/v1/feed/?customer={a.alice.pk}")
    assert assert_error(response, {400})["details"].keys() == {"customer"}


def test_customer_token_cannot_be_minted_for_another_brands_customer(world):
    a, b = world
    body = {"external_id": a.alice.external_id}
    assert_error(b.app.post("/api/v1/auth/customer-token/", body, format="json"), {404})


def test_fatigue_policy_writes_change_only_the_callers_brand(world):
    a, b = world
    a.staff.get("/api/v1/fatigue/policy/")
    before = fingerprint(a)
    response = b.staff.put("/api/v1/fatigue/policy/", {}, format="json")
    assert response.status_code == 200
    assert fingerprint(a) == before


# --- (c) another customer's token --------------------------------------------------------------


@pytest.mark.parametrize(
    "name", [op.name for op in OPERATIONS if op.row and "customer" in op.callers]
)
def test_another_customers_token_gets_403_or_404_and_changes_nothing(world, name):
    a, _ = world
    op = OPS[name]
    before = fingerprint(a)
    # carol (same brand, no friend of alice) acts on alice's rows
    assert_error(op.call(a.customer(a.carol), a, "customer"), {403, 404})
    assert fingerprint(a) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("posts/", lambda s: {"author": s.alice.pk, "text": "as alice"}),
        ("interactions/", lambda s: _event(s, "as-alice")),
    ],
)
def test_a_customer_cannot_act_as_another(world, path, body):
    a, _ = world
    before = fingerprint(a)
    response = a.customer(a.carol).post(f"/api/v1/{path}", body(a), format="json")
    assert_error(response, {403})
    assert fingerprint(a) == before


def test_a_customer_batch_as_another_is_rejected_per_event(world):
    a, _ = world
    before = fingerprint(a)
    response = a.customer(a.carol).post(
        "/api/v1/interactions/batch/", {"events": [_event(a, "as-alice")]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["results"][0]["status"] == "rejected"
    assert fingerprint(a) == before


def test_a_customer_reads_only_their_own_feed(world):
    a, _ = world
    response = a.customer(a.carol).get(f"/api/v1/feed/?customer={a.alice.pk}")
    assert_error(response, {403})


@pytest.mark.parametrize("path", ["customers/", "friendships/", "posts/", "interactions/"])
def test_a_customer_lists_only_their_own_rows(world, path):
    a, _ = world
    response = a.customer(a.carol).get(f"/api/v1/{path}")
    assert response.status_code == 200
    text = json.dumps(response.json())
    assert a.alice.external_id not in text
    assert "a published post" not in text and "a draft" not in text


# --- (e) bad input -----------------------------------------------------------------------------

WRITE_OPS = [op.name for op in OPERATIONS if op.method in ("post", "put", "patch") and op.body]


@pytest.mark.parametrize("name", WRITE_OPS)
def test_malformed_json_is_400_and_changes_nothing(world, name):
    a, _ = world
    op = OPS[name]
    kind = "staff"
    before = fingerprint(a)
    response = a.staff.generic(
        op.method.upper(), op.url(a, kind), "{not json", content_type="application/json"
    )
    assert assert_error(response, {400})["code"] == "parse_error"
    assert fingerprint(a) == before


@pytest.mark.parametrize("name", WRITE_OPS)
def test_a_json_array_body_is_400_and_changes_nothing(world, name):
    a, _ = world
    op = OPS[name]
    before = fingerprint(a)
    response = a.staff.generic(
        op.method.upper(), op.url(a, "staff"), "[1, 2]", content_type="application/json"
    )
    assert_error(response, {400})
    assert fingerprint(a) == before


def _other(side: Side, other: Side, name: str) -> int:
    return getattr(other, name).pk


# (operation, field, bad value builder(a, b)); each answers 400 naming the field.
BAD_FIELDS = [
    ("POST auth/customer-token/", "external_id", lambda a, b: {"external_id": ["x"]}),
    ("POST auth/customer-token/", "external_id", lambda a, b: {}),
    ("POST customers/", "external_id", lambda a, b: {"external_id": 12}),
    ("POST customers/", "external_id", lambda a, b: {"display_name": "no id"}),
    ("POST customers/", "kind", lambda a, b: {"external_id": "k", "kind": "robot"}),
    ("POST customers/", "tags", lambda a, b: {"external_id": "t", "tags": "vip"}),
    ("POST customers/", "phone", lambda a, b: {"external_id": "p", "phone": "12"}),
    (
        "POST customers/",
        "marketing_consent",
        lambda a, b: {"external_id": "m", "marketing_consent": "maybe"},
    ),
    ("PATCH customers/{customer}/", "lifecycle_stage", lambda a, b: {"lifecycle_stage": 3}),
    ("POST friendships/", "friend", lambda a, b: {"customer": a.alice.pk}),
    ("POST friendships/", "friend", lambda a, b: {"customer": a.alice.pk, "friend": "x"}),
    ("POST friendships/", "friend", lambda a, b: {"customer": a.alice.pk, "friend": 10**12}),
    ("POST friendships/", "friend", lambda a, b: {"customer": a.alice.pk, "friend": b.bob.pk}),
    ("POST friendships/", "customer", lambda a, b: {"customer": b.alice.pk, "friend": a.bob.pk}),
    ("POST advocates/", "customer", lambda a, b: {"customer": "x"}),
    ("POST advocates/", "customer", lambda a, b: {"customer": 10**12}),
    ("POST advocates/", "customer", lambda a, b: {"customer": b.carol.pk}),
    ("PATCH advocates/{advocate}/", "status", lambda a, b: {"status": "emperor"}),
    ("POST posts/", "author", lambda a, b: {"author": b.alice.pk, "text": "x"}),
    ("POST posts/", "author", lambda a, b: {"author": 10**12, "text": "x"}),
    ("POST posts/", "text", lambda a, b: {"author": a.alice.pk, "text": "x" * 2001}),
    ("POST posts/", "media", lambda a, b: {"author": a.alice.pk, "media": "http://x"}),
    (
        "POST posts/",
        "campaign",
        lambda a, b: {"author": a.alice.pk, "text": "x", "campaign": b.campaign.pk},
    ),
    ("PATCH posts/{draft}/", "commercial", lambda a, b: {"commercial": "perhaps"}),
    ("POST interactions/", "type", lambda a, b: {**_event(a), "type": "poke"}),
    ("POST interactions/", "occurred_at", lambda a, b: {**_event(a), "occurred_at": "soon"}),
    ("POST interactions/", "actor", lambda a, b: {**_event(a), "actor": b.alice.pk}),
    ("POST interactions/", "target", lambda a, b: {**_event(a), "target": b.bob.pk}),
    ("POST interactions/", "target", lambda a, b: {**_event(a), "target": 10**12}),
    (
        "POST interactions/",
        "post",
        lambda a, b: {**_event(a), "type": "like", "post": b.published.pk},
    ),
    ("POST interactions/batch/", "events", lambda a, b: {"events": "all"}),
    ("POST interactions/batch/", "events", lambda a, b: {}),
    ("POST campaigns/", "ends_at", lambda a, b: {"name": "x", "starts_at": _now()}),
    (
        "POST campaigns/",
        "budget",
        lambda a, b: {
            "name": "x",
            "starts_at": _now(),
            "ends_at": _now(timedelta(1)),
            "budget": "lots",
        },
    ),
    ("PATCH campaigns/{campaign}/", "status", lambda a, b: {"status": "exploded"}),
    ("POST campaigns/{campaign}/enrollments/", "advocate", lambda a, b: {"advocate": "x"}),
    ("POST campaigns/{campaign}/enrollments/", "advocate", lambda a, b: {"advocate": 10**12}),
    (
        "POST campaigns/{campaign}/enrollments/",
        "advocate",
        lambda a, b: {"advocate": b.dave_advocate.pk},
    ),
    (
        "PATCH campaigns/{campaign}/samples/{sample}/",
        "shipped_at",
        lambda a, b: {"shipped_at": "yesterday"},
    ),
    (
        "POST conversions/",
        "amount",
        lambda a, b: {"order_id": "o", "amount": "-1", "currency": "CNY"},
    ),
    (
        "POST conversions/",
        "buyer",
        lambda a, b: {"order_id": "o", "amount": "1", "currency": "CNY", "buyer": b.bob.pk},
    ),
    (
        "POST conversions/",
        "referral_code",
        lambda a, b: {
            "order_id": "o",
            "amount": "1",
            "currency": "CNY",
            "buyer": a.bob.pk,
            "referral_code": b.enrollment.code,
        },
    ),
    ("PUT fatigue/policy/", "sender_daily_cap", lambda a, b: {"sender_daily_cap": "two"}),
]


@pytest.mark.parametrize(
    ("name", "field_name", "body"),
    BAD_FIELDS,
    ids=[f"{n}-{f}-{i}" for i, (n, f, _) in enumerate(BAD_FIELDS)],
)
def test_bad_field_is_400_naming_it_and_changes_nothing(world, name, field_name, body):
    a, b = world
    op = OPS[name]
    before = fingerprint(a), fingerprint(b)
    response = op.call(a.staff, a, "staff", body=body(a, b))
    error = assert_error(response, {400})
    assert field_name in error["details"], error
    assert error["message"].startswith(field_name), error
    assert (fingerprint(a), fingerprint(b)) == before


def test_duplicate_external_id_is_409_naming_it(world):
    a, _ = world
    before = fingerprint(a)
    body = {"external_id": a.alice.external_id}
    error = assert_error(a.staff.post("/api/v1/customers/", body, format="json"), {409})
    assert list(error["details"]) == ["external_id"]
    assert fingerprint(a) == before


def test_staff_token_without_credentials_names_the_fields(anon_client, db):
    error = assert_error(anon_client.post("/api/v1/auth/token/", {}, format="json"), {400})
    assert {"username", "password"} <= set(error["details"])


def test_staff_token_with_wrong_types_is_400(anon_client, db):
    body = {"username": ["x"], "password": {"a": 1}}
    error = assert_error(anon_client.post("/api/v1/auth/token/", body, format="json"), {400})
    assert "username" in error["details"]
