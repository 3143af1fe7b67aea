"""Networks for the fatigue simulator: a brand from the database, or one generated in memory.

`network_from_brand` reads what ``seed_demo`` wrote (customers, current friendships, active
advocates) in three queries. `network_generated` builds the same shape with the demo
generator's own pieces (`customers.demo`: community sizes, the degree-corrected block model,
brand-account contacts, opt-outs, advocates from the best-connected consumers) without a
database; it is not row-for-row what ``seed_demo`` writes for that seed (seed_demo also draws
names, phones and tags from the same generator), only the same model.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from campaigns.fatigue.simulator import Network
from customers import demo
from customers.models import Advocate, AdvocateStatus, Customer, CustomerKind, Friendship
from scrm.tenancy.models import Brand


def network_from_brand(brand: Brand, *, now: datetime | None = None) -> Network:
    """The brand's current graph: its customers, current friendships and active advocates."""
    now = now or datetime.now(tz=UTC)
    people = list(
        Customer.objects.filter(brand=brand)
        .order_by("pk")
        .values_list("pk", "kind", "marketing_consent", "consent_mass_messages")
    )
    ids = np.array([row[0] for row in people], dtype=np.int64)
    brand_account = np.array([row[1] == CustomerKind.BRAND_ACCOUNT for row in people], dtype=bool)
    consent = np.array([row[2] for row in people], dtype=bool)
    mass_consent = np.array([row[3] for row in people], dtype=bool)
    edges = list(
        Friendship.objects.filter(brand=brand, ended_at__isnull=True).values_list(
            "customer_low_id", "customer_high_id", "since"
        )
    )
    low = np.searchsorted(ids, np.array([e[0] for e in edges], dtype=np.int64))
    high = np.searchsorted(ids, np.array([e[1] for e in edges], dtype=np.int64))
    days = np.array([max((now - e[2]).total_seconds() / 86_400, 0.0) for e in edges])
    advocates = np.searchsorted(
        ids,
        np.array(
            sorted(
                Advocate.objects.filter(brand=brand, status=AdvocateStatus.ACTIVE).values_list(
                    "customer_id", flat=True
                )
            ),
            dtype=np.int64,
        ),
    )
    return Network(
        brand_account=brand_account,
        consent=consent,
        mass_consent=mass_consent,
        low=low.astype(np.int64),
        high=high.astype(np.int64),
        friend_days=days.astype(float),
        advocates=advocates.astype(np.int64),
        labels=ids,
    )


def network_generated(customers: int, *, seed: int = 0) -> Network:
    """A demo-shaped network of ``customers`` people, in memory (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_accounts = min(demo.default_brand_accounts(customers), max(customers - 2, 0))
    n = customers
    brand_account = np.zeros(n, dtype=bool)
    brand_account[:n_accounts] = True
    community = np.full(n, -1, dtype=np.int64)
    community[n_accounts:] = demo._communities(rng, n - n_accounts)
    n_communities = int(community.max()) + 1 if n > n_accounts else 0
    consent = (rng.random(n) >= demo.OPT_OUT_SHARE) | brand_account
    churned = (rng.random(n) < demo.LIFECYCLE["churned"]) & ~brand_account

    low, high = demo._consumer_edges(rng, community[n_accounts:])
    low, high = low + n_accounts, high + n_accounts
    ended = rng.random(low.size) < demo.UNFRIEND_SHARE
    if n_accounts:
        weight = 1 / np.arange(1, n_accounts + 1)
        weight /= weight.sum()
        home = rng.choice(n_accounts, max(n_communities, 1), p=weight)
        consumers = np.arange(n_accounts, n)
        contact = rng.random(consumers.size) < demo.CONTACT_SHARE
        follows = rng.random(consumers.size) < demo.CONTACT_FOLLOWS_COMMUNITY
        first = np.where(
            follows, home[community[consumers]], rng.choice(n_accounts, consumers.size, p=weight)
        )
        second = contact & (rng.random(consumers.size) < demo.SECOND_CONTACT_SHARE)
        second &= n_accounts > 1
        other = (first + rng.integers(1, max(n_accounts, 2), consumers.size)) % n_accounts
        account_side = np.concatenate([first[contact], other[second]])
        consumer_side = np.concatenate([consumers[contact], consumers[second]])
        low = np.concatenate([low, account_side])
        high = np.concatenate([high, consumer_side])
        ended = np.concatenate([ended, rng.random(account_side.size) < demo.DELETED_ACCOUNT_SHARE])
    low, high = low[~ended], high[~ended]
    # Friends for up to two years, more recent more often (the pool grows).
    days = demo.HISTORY_DAYS * (1 - np.sqrt(rng.random(low.size)))

    degree = np.bincount(low, minlength=n) + np.bincount(high, minlength=n)
    wanted = demo.default_advocates(customers)
    eligible = np.flatnonzero(~brand_account & consent & ~churned)
    pool = eligible[np.lexsort((eligible, -degree[eligible]))][: wanted * demo.CANDIDATE_POOL]
    chosen = np.sort(rng.choice(pool, min(wanted, pool.size), replace=False)) if pool.size else pool
    statuses = list(demo.ADVOCATE_STATUS)
    shares = np.array([demo.ADVOCATE_STATUS[s] for s in statuses])
    status = rng.choice(len(statuses), chosen.size, p=shares / shares.sum())
    active = chosen[np.array([statuses[i] == AdvocateStatus.ACTIVE for i in status], dtype=bool)]
    return Network(
        brand_account=brand_account,
        consent=consent,
        low=low.astype(np.int64),
        high=high.astype(np.int64),
        friend_days=days,
        advocates=active.astype(np.int64),
    )
