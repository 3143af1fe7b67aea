"""A realistic private-domain network for one brand, generated in bulk (``manage.py seed_demo``).

The shape of the network:

- a handful of **brand accounts** (the brand's WeCom advisors), each with thousands of
  contacts at scale; a community (a store's catchment, a group chat) mostly belongs to one
  advisor, and some of their contacts have deleted them again (recorded, not erased);
- **consumers** in communities of heavy-tailed size; friendships follow a degree-corrected
  stochastic block model: every consumer has a power-law "sociability" weight, an edge picks
  its first end by weight and its second end by weight inside the same community most of the
  time, so friend counts are heavy-tailed and friends cluster;
- tags, lifecycle stages, source channels, valid Chinese mobile numbers (E.164), a few per cent
  opted out of marketing, ``since`` dates spread over the past two years, a few unfriends;
- a few hundred **advocates** promoted from the best-connected consumers, with tiers from their
  friend counts and unique referral codes.

Everything is drawn from one seeded generator, computed with numpy and written with
PostgreSQL ``COPY`` inside one transaction: 100k customers take seconds, not minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.db import connection, transaction

from scrm.tenancy.models import Brand

from .models import Advocate, AdvocateStatus, Customer, Friendship, tier_for
from .services import customers_recount_friends, referral_code_generate

# --- Shape parameters (demo data only; the domain's own parameters live in settings.SCRM) ---
MEAN_FRIENDS = 16  # consumer–consumer edge draws per consumer × 2 (before duplicates drop)
DEGREE_EXPONENT = 2.2  # power law of the sociability weight (density ~ w^-2.2)
WITHIN_COMMUNITY = 0.8  # share of a consumer's friendships drawn inside their community
COMMUNITY_MEDIAN_SIZE = 60
CONTACT_SHARE = 0.6  # consumers who are a contact of at least one brand account
SECOND_CONTACT_SHARE = 0.15  # ...and of a second one
CONTACT_FOLLOWS_COMMUNITY = 0.8  # a community's members mostly add its own advisor
DELETED_ACCOUNT_SHARE = 0.05  # contacts that later deleted the brand account
UNFRIEND_SHARE = 0.02  # consumer friendships that ended
OPT_OUT_SHARE = 0.03  # consumers who said no to marketing
PHONE_SHARE = 0.85  # consumers with a known phone number
HISTORY_DAYS = 730  # everything happened within the past two years
CANDIDATE_POOL = 2  # advocates are drawn from the top (CANDIDATE_POOL × wanted) consumers

LIFECYCLE = {"lead": 0.35, "prospect": 0.25, "customer": 0.22, "repeat": 0.10, "churned": 0.08}
SOURCES = {
    "wecom": 0.38,
    "mini_program": 0.22,
    "wechat": 0.15,
    "group": 0.10,
    "store": 0.08,
    "referral": 0.05,
    "import": 0.02,
}
CONSUMER_EDGE_SOURCES = {"wechat": 0.6, "group": 0.25, "referral": 0.15}
ADVOCATE_STATUS = {
    AdvocateStatus.ACTIVE: 0.85,
    AdvocateStatus.PAUSED: 0.07,
    AdvocateStatus.CANDIDATE: 0.05,
    AdvocateStatus.RETIRED: 0.03,
}
PAUSE_REASONS = [
    "Negative feedback above 0.3% of friends reached in 7 days.",
    "Asked for a break.",
    "Disclosure label missing on a commercial post.",
]
CITIES = ["shanghai", "beijing", "guangzhou", "shenzhen", "hangzhou", "chengdu", "wuhan", "xian"]
INTERESTS = [
    "skincare",
    "tea",
    "coffee",
    "fitness",
    "baby",
    "pets",
    "outdoor",
    "cooking",
    "fashion",
    "travel",
]
PERSONAL_TAGS = [
    "vip",
    "price-sensitive",
    "sample-received",
    "new-mom",
    "student",
    "gift-buyer",
    "live-stream-fan",
    "reviewer",
]
# Numbering blocks of Chinese mobile operators (all valid for libphonenumber).
MOBILE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "166", "176", "177", "178", "180", "181", "182", "183", "184", "185",
    "186", "187", "188", "189", "198", "199",
]  # fmt: skip
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力婷雪琳晨宇浩然欣怡")
ADVISOR_TITLES = ["顾问", "小助手", "福利官", "店长"]
OPENID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def default_advocates(customers: int) -> int:
    """A few hundred at scale: 4% of the customers, at least 5, at most 500."""
    return int(min(500, max(5, customers * 0.04)))


def default_brand_accounts(customers: int) -> int:
    """A handful: 3 for a small demo, up to 12 at a million."""
    return int(min(12, max(3, round(customers / 15_000) + 3)))


@dataclass
class DemoResult:
    brand: Brand
    customers: int = 0
    brand_accounts: int = 0
    friendships: int = 0
    ended_friendships: int = 0
    advocates: int = 0
    communities: int = 0
    recounted: int = 0  # friend counts the recount had to fix (0 when the generator is right)
    seconds: dict[str, float] = field(default_factory=dict)

    def lap(self, phase: str, started: float) -> float:
        now = time.perf_counter()
        self.seconds[phase] = round(now - started, 2)
        return now


Progress = Callable[[int], None]


def _pick(rng: np.random.Generator, options: dict, size: int) -> np.ndarray:
    keys = list(options)
    weights = np.array([options[key] for key in keys], dtype=float)
    return np.array(keys, dtype=object)[rng.choice(len(keys), size, p=weights / weights.sum())]


def _strings(rng: np.random.Generator, alphabet: Sequence[str], size: int, length: int):
    chars = np.asarray(alphabet)[rng.integers(0, len(alphabet), (size, length))]
    return chars.astype("<U1").view(f"<U{length}").ravel()


def _timestamps(seconds: np.ndarray) -> list[str]:
    """Unix seconds → ISO-8601 UTC strings PostgreSQL reads in COPY."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return np.char.add(text, "Z").tolist()


def _communities(rng: np.random.Generator, size: int) -> np.ndarray:
    """A community id per consumer; community sizes are log-normal (heavy-tailed)."""
    sizes: list[int] = []
    total = 0
    while total < size:
        drawn = int(max(5, rng.lognormal(np.log(COMMUNITY_MEDIAN_SIZE), 0.9)))
        sizes.append(min(drawn, size - total))
        total += sizes[-1]
    membership = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(membership)
    return membership


def _consumer_edges(
    rng: np.random.Generator, community: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Degree-corrected stochastic block model: (low, high) index pairs, unique, no loops."""
    n = community.size
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    weight = rng.pareto(DEGREE_EXPONENT - 1, n) + 1
    weight = np.minimum(weight, max(1.0, n / (MEAN_FRIENDS * 4)))
    draws = int(n * MEAN_FRIENDS / 2)
    first = rng.choice(n, draws, p=weight / weight.sum())
    second = np.empty(draws, dtype=np.int64)

    # Inside the community: invert the cumulative weight within the community's slice.
    order = np.argsort(community, kind="stable")
    cumulative = np.cumsum(weight[order])
    bounds = np.concatenate([[0], np.cumsum(np.bincount(community))])
    slice_start = np.concatenate([[0.0], cumulative])[bounds[:-1]]
    slice_end = cumulative[bounds[1:] - 1]
    inside = rng.random(draws) < WITHIN_COMMUNITY
    own = community[first[inside]]
    target = slice_start[own] + rng.random(own.size) * (slice_end[own] - slice_start[own])
    position = np.minimum(np.searchsorted(cumulative, target, side="right"), n - 1)
    second[inside] = order[position]
    second[~inside] = rng.choice(n, int((~inside).sum()), p=weight / weight.sum())

    low, high = np.minimum(first, second), np.maximum(first, second)
    keep = low != high
    pairs = np.unique(low[keep] * n + high[keep])
    return pairs // n, pairs % n


def _reserve_ids(table: str, count: int) -> np.ndarray:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)


def _copy(table: str, columns: Sequence[str], rows, progress: Progress, chunk: int = 20_000):
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        done = 0
        for row in rows:
            copy.write_row(row)
            done += 1
            if done == chunk:
                progress(done)
                done = 0
        progress(done)


@transaction.atomic
def demo_network_generate(
    *,
    brand: Brand,
    customers: int,
    advocates: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> DemoResult:
    """Write ``customers`` customers (brand accounts included), their friendships and advocates.

    The brand must have no customers yet. Deterministic for a given ``seed`` (and ``now``).
    """
    progress = progress or (lambda _: None)
    now = (now or datetime.now(tz=UTC)).replace(microsecond=0)
    rng = np.random.default_rng(seed)
    result = DemoResult(brand=brand)
    lap = time.perf_counter()
    now_s = int(now.timestamp())
    history_start = now_s - HISTORY_DAYS * 86_400

    # --- People --------------------------------------------------------------------------
    n_accounts = min(default_brand_accounts(customers), max(customers - 2, 0))
    n_consumers = customers - n_accounts
    n = customers
    ids = _reserve_ids("customers_customer", n)
    is_account = np.zeros(n, dtype=bool)
    is_account[:n_accounts] = True

    external = np.char.add("o", _strings(rng, OPENID_ALPHABET, n, 27)).astype(object)
    external[:n_accounts] = [f"wecom-{brand.slug}-{i + 1:02d}" for i in range(n_accounts)]
    if len(set(external.tolist())) != n:  # 64^27 values: a collision means a broken generator
        raise RuntimeError("external_id collision in demo data")
    names = np.char.add(
        np.asarray(SURNAMES)[rng.integers(0, len(SURNAMES), n)],
        np.where(
            rng.random(n) < 0.6,
            np.char.add(
                np.asarray(GIVEN)[rng.integers(0, len(GIVEN), n)],
                np.asarray(GIVEN)[rng.integers(0, len(GIVEN), n)],
            ),
            np.asarray(GIVEN)[rng.integers(0, len(GIVEN), n)],
        ),
    ).astype(object)
    for i in range(n_accounts):
        title = ADVISOR_TITLES[i % len(ADVISOR_TITLES)]
        names[i] = f"{brand.name} {title} {names[i]}"
    phones = np.char.add(
        np.char.add("+86", np.asarray(MOBILE_PREFIXES)[rng.integers(0, len(MOBILE_PREFIXES), n)]),
        np.char.zfill(rng.integers(0, 100_000_000, n).astype(str), 8),
    ).astype(object)
    phones[(rng.random(n) >= PHONE_SHARE) & ~is_account] = ""

    community = np.full(n, -1, dtype=np.int64)
    community[n_accounts:] = _communities(rng, n_consumers)
    n_communities = int(community.max()) + 1 if n_consumers else 0
    city = rng.integers(0, len(CITIES), max(n_communities, 1))
    interest = rng.integers(0, len(INTERESTS), max(n_communities, 1))
    personal = rng.random((n, len(PERSONAL_TAGS))) < 0.06
    shares_interest = rng.random(n) < 0.7
    tags: list[list[str]] = []
    for i in range(n):
        if is_account[i]:
            tags.append(["brand-account"])
            continue
        row = [f"city:{CITIES[city[community[i]]]}"]
        if shares_interest[i]:
            row.append(f"interest:{INTERESTS[interest[community[i]]]}")
        row.extend(PERSONAL_TAGS[j] for j in np.flatnonzero(personal[i]))
        tags.append(row)

    kind = np.where(is_account, "brand_account", "consumer")
    stage = _pick(rng, LIFECYCLE, n)
    stage[is_account] = "customer"
    source = _pick(rng, SOURCES, n)
    source[is_account] = "wecom"
    consent = (rng.random(n) >= OPT_OUT_SHARE) | is_account
    # Joined over two years, more recently more often (the pool grows).
    created = history_start + (np.sqrt(rng.random(n)) * (now_s - history_start)).astype(np.int64)
    created[is_account] = history_start
    consent_at = created + (rng.random(n) * (now_s - created)).astype(np.int64)
    created_text = _timestamps(created)
    consent_text = _timestamps(consent_at)
    now_text = now.isoformat()

    # --- Friendships -----------------------------------------------------------------------
    low, high = _consumer_edges(rng, community[n_accounts:])
    low, high = low + n_accounts, high + n_accounts
    edge_source = _pick(rng, CONSUMER_EDGE_SOURCES, low.size)
    ended = rng.random(low.size) < UNFRIEND_SHARE
    ended_by = np.where(rng.random(low.size) < 0.5, low, high)
    end_reason = np.full(low.size, "unfriend", dtype=object)

    if n_accounts:
        # Brand-account contacts: a community's members mostly add its own advisor.
        advisor_weight = 1 / np.arange(1, n_accounts + 1)
        advisor_weight /= advisor_weight.sum()
        home_advisor = rng.choice(n_accounts, max(n_communities, 1), p=advisor_weight)
        consumers = np.arange(n_accounts, n)
        is_contact = rng.random(consumers.size) < CONTACT_SHARE
        follows = rng.random(consumers.size) < CONTACT_FOLLOWS_COMMUNITY
        first_advisor = np.where(
            follows,
            home_advisor[community[consumers]],
            rng.choice(n_accounts, consumers.size, p=advisor_weight),
        )
        second = is_contact & (rng.random(consumers.size) < SECOND_CONTACT_SHARE)
        second &= n_accounts > 1  # a second, different advisor needs two
        second_advisor = (first_advisor + rng.integers(1, max(n_accounts, 2), consumers.size)) % (
            n_accounts
        )
        account_side = np.concatenate([first_advisor[is_contact], second_advisor[second]])
        consumer_side = np.concatenate([consumers[is_contact], consumers[second]])
        deleted = rng.random(account_side.size) < DELETED_ACCOUNT_SHARE
        low = np.concatenate([low, account_side])  # accounts have the lowest indexes
        high = np.concatenate([high, consumer_side])
        edge_source = np.concatenate(
            [edge_source, np.full(account_side.size, "wecom", dtype=object)]
        )
        ended = np.concatenate([ended, deleted])
        ended_by = np.concatenate([ended_by, consumer_side])
        end_reason = np.concatenate(
            [end_reason, np.full(account_side.size, "deleted_brand_account", dtype=object)]
        )

    start = np.maximum(created[low], created[high])
    since = start + (rng.random(low.size) * (now_s - start)).astype(np.int64)
    ended_at = since + (rng.random(low.size) * (now_s - since)).astype(np.int64)
    since_text = _timestamps(since)
    ended_text = _timestamps(ended_at)
    low_ids, high_ids, by_ids = ids[low].tolist(), ids[high].tolist(), ids[ended_by].tolist()
    ended_list = ended.tolist()

    # Friend counts are known here; customers_recount_friends below verifies them.
    friends = np.bincount(low[~ended], minlength=n) + np.bincount(high[~ended], minlength=n)
    lap = result.lap("generate", lap)

    id_list, friend_list, consent_list = ids.tolist(), friends.tolist(), consent.tolist()
    kind_list, stage_list, source_list = kind.tolist(), stage.tolist(), source.tolist()

    def customer_rows():
        for i in range(n):
            yield (
                id_list[i],
                brand.pk,
                external[i],
                names[i],
                kind_list[i],
                phones[i],
                tags[i],
                stage_list[i],
                source_list[i],
                consent_list[i],
                None if consent_list[i] else consent_text[i],
                friend_list[i],
                created_text[i],
                now_text,
            )

    _copy(
        Customer._meta.db_table,
        [
            "id",
            "brand_id",
            "external_id",
            "display_name",
            "kind",
            "phone",
            "tags",
            "lifecycle_stage",
            "source_channel",
            "marketing_consent",
            "consent_updated_at",
            "friend_count",
            "created_at",
            "updated_at",
        ],
        customer_rows(),
        progress,
    )
    result.customers, result.brand_accounts, result.communities = n, n_accounts, n_communities
    lap = result.lap("copy customers", lap)

    def friendship_rows():
        for e in range(low.size):
            if ended_list[e]:
                yield (
                    brand.pk,
                    low_ids[e],
                    high_ids[e],
                    since_text[e],
                    edge_source[e],
                    ended_text[e],
                    by_ids[e],
                    end_reason[e],
                )
            else:
                yield (
                    brand.pk,
                    low_ids[e],
                    high_ids[e],
                    since_text[e],
                    edge_source[e],
                    None,
                    None,
                    "",
                )

    _copy(
        Friendship._meta.db_table,
        [
            "brand_id",
            "customer_low_id",
            "customer_high_id",
            "since",
            "source",
            "ended_at",
            "ended_by_id",
            "end_reason",
        ],
        friendship_rows(),
        progress,
    )
    result.friendships = int(low.size)
    result.ended_friendships = int(ended.sum())
    lap = result.lap("copy friendships", lap)
    # The authority for friend_count: it changes nothing unless the generator is wrong.
    result.recounted = customers_recount_friends(brand_id=brand.pk)
    lap = result.lap("recount friends", lap)

    # --- Advocates -------------------------------------------------------------------------
    wanted = default_advocates(customers) if advocates is None else advocates
    result.advocates = _promote_advocates(
        rng=rng, brand=brand, wanted=wanted, now_s=now_s, progress=progress
    )
    result.lap("advocates", lap)
    return result


def _unique_referral_codes(count: int) -> list[str]:
    """Codes from the service's generator, unique among themselves and in the database."""
    codes: set[str] = set()
    while len(codes) < count:
        fresh = {referral_code_generate() for _ in range(count - len(codes))} - codes
        taken = set(
            Advocate.objects.filter(referral_code__in=fresh).values_list("referral_code", flat=True)
        )
        codes |= fresh - taken
    return sorted(codes)


def _promote_advocates(
    *, rng: np.random.Generator, brand: Brand, wanted: int, now_s: int, progress: Progress
) -> int:
    """Promote ``wanted`` of the best-connected consenting consumers (not strictly the top)."""
    if wanted <= 0:
        return 0
    pool = list(
        Customer.objects.filter(brand=brand, kind="consumer", marketing_consent=True)
        .exclude(lifecycle_stage="churned")
        .order_by("-friend_count", "pk")
        .values_list("pk", "friend_count", "created_at")[: wanted * CANDIDATE_POOL]
    )
    if not pool:
        return 0
    chosen = sorted(rng.choice(len(pool), min(wanted, len(pool)), replace=False).tolist())
    statuses = _pick(rng, ADVOCATE_STATUS, len(chosen))
    codes = _unique_referral_codes(len(chosen))
    promoted, promoted_at = [], []
    for index, status, code in zip(chosen, statuses, codes, strict=True):
        pk, friend_count, created_at = pool[index]
        joined = int(created_at.timestamp())
        promoted_s = joined + int(rng.random() * (now_s - joined))
        changed_s = promoted_s + int(rng.random() * (now_s - promoted_s))
        promoted_at.append(datetime.fromtimestamp(promoted_s, tz=UTC))
        promoted.append(
            Advocate(
                brand=brand,
                customer_id=pk,
                status=status,
                status_reason=(
                    PAUSE_REASONS[int(rng.integers(len(PAUSE_REASONS)))]
                    if status == AdvocateStatus.PAUSED
                    else ""
                ),
                tier=tier_for(friend_count),
                referral_code=code,
                status_changed_at=datetime.fromtimestamp(
                    promoted_s if status == AdvocateStatus.ACTIVE else changed_s, tz=UTC
                ),
            )
        )
    created = Advocate.objects.bulk_create(promoted, batch_size=5_000)
    # promoted_at is auto_now_add: move it back to when each advocate was promoted.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE customers_advocate AS a SET promoted_at = v.at
              FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at)
             WHERE a.id = v.id
            """,
            [[a.pk for a in created], promoted_at],
        )
    progress(len(created))
    return len(created)
