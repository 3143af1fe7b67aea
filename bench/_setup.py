"""Shared bench plumbing: Django against the PostgreSQL of ``scrm.devservers``.

Run a bench as ``python -m scrm.devservers -- python bench/<name>.py``: the servers are
throwaway, so the bench migrates a fresh database itself.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scrm.settings.local")
os.environ.setdefault("DEBUG", "0")


def django_ready() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def make_graph(*, brand_name: str, authors: int, friends_per_author: int):
    """A brand with ``authors`` authors each befriended by their own ``friends_per_author``.

    Bulk writes only. Returns (brand, author ids, {author id: [friend ids]}).
    """
    from django.utils import timezone

    from customers.models import Customer, Friendship
    from customers.services import customers_recount_friends
    from scrm.tenancy.services import brand_create

    brand = brand_create(name=brand_name)
    people = Customer.objects.bulk_create(
        Customer(brand=brand, external_id=f"{brand.slug}-{i}", display_name=f"c{i}")
        for i in range(authors * (friends_per_author + 1))
    )
    author_ids, friends = [], {}
    now = timezone.now()
    edges = []
    for a in range(authors):
        block = people[a * (friends_per_author + 1) : (a + 1) * (friends_per_author + 1)]
        author, circle = block[0], block[1:]
        author_ids.append(author.pk)
        friends[author.pk] = [c.pk for c in circle]
        edges += [
            Friendship(
                brand=brand,
                customer_low_id=min(author.pk, c.pk),
                customer_high_id=max(author.pk, c.pk),
                since=now,
            )
            for c in circle
        ]
    Friendship.objects.bulk_create(edges, batch_size=5_000)
    customers_recount_friends(brand_id=brand.pk)
    return brand, author_ids, friends
