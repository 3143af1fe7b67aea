"""List endpoints next to a plain keyset SELECT of the same pages, in the same run.

    python -m scrm.devservers [--data DIR] -- .venv/bin/python bench/lists.py
        [--customers 100000] [--events 200000] [--pages 20] [--repeat 3] [--brand SLUG]

Builds a ``seed_demo`` brand of ``--customers`` people (their friendship graph, advocates),
ingests ``--events`` interactions through the ingest service (a fifth of them with one hub
customer, so one person has many ties), recomputes the ties, and publishes 120 posts by one
consumer to their friends (a feed of 120 rows). Then, for each list endpoint — customers
(plain and with each filter), friendships, advocates, interactions, a customer's ties, a
customer's feed — it walks up to ``--pages`` pages of 50 through the endpoint (the Django
test client with a staff token: authentication, filters, the page's queries, serialisation,
JSON rendering; no HTTP socket) following ``next``, and the same number of pages of a plain
keyset SELECT of the table the list is made of (``WHERE brand/owner = … AND key < last
ORDER BY key DESC LIMIT 51``, through Django's connection, rows fetched), best of
``--repeat`` walks each, and prints pages/s of both, their ratio and the endpoint's queries
per page (counted in a walk of its own: Django's query capture is not in the timed walks).

Next to them, the framework floor: the same number of requests to a trivial authenticated
endpoint (one advocate, ``advocates/{id}/``: the staff token, one row by primary key, a
dozen fields) through the same client and token, so the table shows what Django's and DRF's
request cycle alone costs.

``--brand SLUG`` names the brand: built if missing, reused as it is if it exists (with
``python -m scrm.devservers --data DIR`` the cluster outlives the run, so a large brand is
built once and measured by several runs).
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import timedelta

from _setup import django_ready

os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")

PAGE = 50


def build(args):
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from campaigns.models import Post
    from campaigns.services.publish import post_publish
    from customers.models import Customer, Friendship
    from interactions.recompute import ties_recompute
    from interactions.services import interactions_ingest
    from scrm.tenancy.models import Brand
    from scrm.tenancy.services import Caller, CallerKind

    slug = args.brand or f"lists-{int(time.time())}"
    started = time.perf_counter()
    call_command("seed_demo", customers=args.customers, brand=slug, no_progress=True, verbosity=0)
    brand = Brand.objects.get(slug=slug)
    seeded = time.perf_counter() - started
    consumers = list(
        Customer.objects.filter(brand=brand, kind="consumer").values_list("pk", flat=True)
    )
    rng = random.Random(7)
    hub = consumers[0]
    caller = Caller(kind=CallerKind.STAFF, brand_id=brand.pk, user_id=None, role="owner")
    now = timezone.now()
    kinds = ["message", "click", "reply", "purchase"]
    started = time.perf_counter()
    for start in range(0, args.events, 1000):
        events = []
        for i in range(start, min(start + 1000, args.events)):
            actor = hub if i % 5 == 0 else rng.choice(consumers)
            target = rng.choice(consumers)
            if target == actor:
                continue
            events.append(
                {
                    "event_id": f"l{i}",
                    "type": kinds[i % 4],
                    "actor": actor,
                    "target": target,
                    "occurred_at": (now - timedelta(minutes=rng.randrange(43200))).isoformat(),
                }
            )
        interactions_ingest(caller=caller, events=events)
    ingested = time.perf_counter() - started
    started = time.perf_counter()
    ties_recompute(brand_id=brand.pk)
    recomputed = time.perf_counter() - started
    # a consumer with a few dozen friends posts 120 times: one friend's feed has 120 rows
    author = (
        Friendship.objects.filter(brand=brand, ended_at__isnull=True)
        .values("customer_low_id")
        .annotate(n=Count("id"))
        .filter(n__gte=10, n__lte=80, customer_low__kind="consumer")
        .order_by("customer_low_id")
        .values_list("customer_low_id", flat=True)
        .first()
    )
    friend = (
        Friendship.objects.filter(customer_low_id=author, ended_at__isnull=True)
        .values_list("customer_high_id", flat=True)
        .first()
    )
    as_author = Caller(kind=CallerKind.CUSTOMER, brand_id=brand.pk, customer_id=author)
    for i in range(120):
        post_publish(
            caller=as_author,
            post=Post.objects.create(brand=brand, author_id=author, text=f"post {i}"),
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts = {
        "customers": Customer.objects.filter(brand=brand).count(),
        "friendships": Friendship.objects.filter(brand=brand).count(),
    }
    print(
        f"setup: {counts['customers']:,} customers, {counts['friendships']:,} friendships "
        f"(seed_demo {seeded:.0f}s), {args.events:,} events ingested in {ingested:.0f}s, "
        f"ties recomputed in {recomputed:.0f}s"
    )
    return brand, hub, friend


def reuse(slug: str):
    """The brand built by an earlier run: (brand, hub, friend) found as ``build`` chose them,
    or None when there is no such brand."""
    from django.db.models import Count

    from campaigns.models import Post
    from customers.models import Customer, Friendship
    from interactions.models import Tie
    from scrm.tenancy.models import Brand

    brand = Brand.objects.filter(slug=slug).first()
    if brand is None:
        return None
    hub = (
        Tie.objects.filter(brand=brand)
        .values("source_id")
        .annotate(n=Count("target_id"))
        .order_by("-n")
        .values_list("source_id", flat=True)
        .first()
    )
    author = (
        Post.objects.filter(brand=brand)
        .values("author_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("author_id", flat=True)
        .first()
    )
    friend = (
        Friendship.objects.filter(customer_low_id=author, ended_at__isnull=True)
        .values_list("customer_high_id", flat=True)
        .first()
    )
    counts = (
        Customer.objects.filter(brand=brand).count(),
        Friendship.objects.filter(brand=brand).count(),
    )
    print(f"reused brand {slug}: {counts[0]:,} customers, {counts[1]:,} friendships")
    return brand, hub, friend


def staff_client(brand):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from scrm.tenancy import services as tenancy
    from scrm.tenancy.models import Membership, Role

    user, created = get_user_model().objects.get_or_create(username=f"{brand.slug}-bench")
    if created:
        Membership.objects.create(user=user, brand=brand, role=Role.OWNER)
    client = APIClient()
    token = tenancy.staff_token_issue(user=user, brand=brand).token
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def walk_endpoint(client, path: str, pages: int) -> tuple[int, float]:
    """(pages read, seconds)."""
    url = path + ("&" if "?" in path else "?") + f"page_size={PAGE}"
    done = 0
    started = time.perf_counter()
    while url and done < pages:
        response = client.get(url)
        assert response.status_code == 200, (path, response.content[:300])
        url = response.json()["next"]
        done += 1
    return done, time.perf_counter() - started


def queries_per_page(client, path: str, pages: int) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        done, _ = walk_endpoint(client, path, pages)
    return len(captured) / max(done, 1)


def walk_floor(client, path: str, requests: int) -> tuple[int, float]:
    """``requests`` GETs of a trivial authenticated endpoint: the request cycle's floor."""
    started = time.perf_counter()
    for _ in range(requests):
        response = client.get(path)
        assert response.status_code == 200, response.content[:300]
        response.json()
    return requests, time.perf_counter() - started


def walk_raw(sql: str, params: list, key_columns: int, pages: int) -> tuple[int, float]:
    """Keyset pages of ``sql`` (its last ``%s`` placeholders take the previous page's last
    key; the first page passes the largest possible key)."""
    from django.db import connection

    bound = [float("inf"), 2**62][-key_columns:] if key_columns == 2 else [2**62]
    done = 0
    started = time.perf_counter()
    with connection.cursor() as cursor:
        while done < pages:
            cursor.execute(sql, [*params, *bound])
            rows = cursor.fetchall()
            done += 1
            if len(rows) <= PAGE:
                break
            last = rows[PAGE - 1]
            bound = list(last[-key_columns:])
    return done, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--brand", help="brand slug: reused if it exists, else built")
    args = parser.parse_args()
    django_ready()
    found = reuse(args.brand) if args.brand else None
    brand, hub, friend = found or build(args)
    client = staff_client(brand)
    from customers.models import Advocate

    floor = f"/api/v1/advocates/{Advocate.objects.filter(brand=brand).order_by('pk')[0].pk}/"
    b = brand.pk
    limit = f"ORDER BY id DESC LIMIT {PAGE + 1}"
    plain = "SELECT *, id FROM {table} WHERE brand_id = %s {extra} AND id < %s " + limit
    cust = "customers_customer"
    lists = [
        ("customers/", plain.format(table=cust, extra=""), [b]),
        (
            "customers/?tag=vip",
            plain.format(table=cust, extra="AND tags @> ARRAY['vip']::varchar(40)[]"),
            [b],
        ),
        (
            "customers/?lifecycle_stage=customer",
            plain.format(table=cust, extra="AND lifecycle_stage = 'customer'"),
            [b],
        ),
        ("customers/?kind=consumer", plain.format(table=cust, extra="AND kind = 'consumer'"), [b]),
        (
            "customers/?is_advocate=true",
            plain.format(
                table=cust,
                extra="AND EXISTS (SELECT 1 FROM customers_advocate a WHERE a.customer_id = "
                "customers_customer.id)",
            ),
            [b],
        ),
        (
            "customers/?search=王",
            plain.format(
                table=cust, extra="AND (display_name ILIKE '%%王%%' OR external_id ILIKE '%%王%%')"
            ),
            [b],
        ),
        ("friendships/", plain.format(table="customers_friendship", extra=""), [b]),
        ("advocates/", plain.format(table="customers_advocate", extra=""), [b]),
        ("interactions/", plain.format(table="interactions_interaction", extra=""), [b]),
        (
            f"customers/{hub}/ties/",
            "SELECT *, strength, target_id FROM interactions_tie WHERE source_id = %s "
            "AND (strength, target_id) < (%s, %s) "
            f"ORDER BY strength DESC, target_id DESC LIMIT {PAGE + 1}",
            [hub],
        ),
        (
            f"feed/?customer={friend}",
            "SELECT *, id FROM campaigns_delivery WHERE recipient_id = %s "
            "AND status = 'delivered' AND id < %s " + limit,
            [friend],
        ),
    ]
    print(
        f"\n{'list':38} {'pages':>5} {'endpoint p/s':>12} {'raw p/s':>9} {'ratio':>6} "
        f"{'floor p/s':>9} {'floor/raw':>9} {'queries/page':>12}"
    )
    for path, sql, params in lists:
        keys = 2 if "strength" in sql else 1
        best_api = best_raw = best_floor = 0.0
        queries = queries_per_page(client, f"/api/v1/{path}", args.pages)
        for _ in range(args.repeat):
            pages, seconds = walk_endpoint(client, f"/api/v1/{path}", args.pages)
            best_api = max(best_api, pages / seconds)
            raw_pages, raw_seconds = walk_raw(sql, params, keys, pages)
            best_raw = max(best_raw, raw_pages / raw_seconds)
            floor_pages, floor_seconds = walk_floor(client, floor, max(pages, 10))
            best_floor = max(best_floor, floor_pages / floor_seconds)
        print(
            f"{path:38} {pages:>5} {best_api:>12.0f} {best_raw:>9.0f} "
            f"{best_api / best_raw:>6.2f} {best_floor:>9.0f} {best_floor / best_raw:>9.2f} "
            f"{queries:>12.1f}"
        )
    print(f"\nload average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
