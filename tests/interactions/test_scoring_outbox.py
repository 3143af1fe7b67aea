"""The scoring outbox (exactly-once claims) and the build-and-swap recompute of every brand."""

from __future__ import annotations

import itertools
import math
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from interactions import scoring
from interactions.models import Interaction, ScoringPending, Tie
from interactions.recompute import ties_recompute, ties_recompute_all
from interactions.scoring import Event, TieParams
from interactions.scoring_db import ties_score_batch, ties_score_unscored
from interactions.tasks import score_batch
from tests.factories import BrandFactory, CustomerFactory
from tests.graph import befriend, staff_caller

PARAMS = TieParams.from_settings()
MINUTE = timedelta(minutes=1)


def score_at_once(batches: list[list[int]], **kwargs) -> tuple[list[int], list[BaseException]]:
    """Run ``ties_score_batch`` for every batch in threads released together (each thread
    its own connection): the events each claimed, and the errors raised."""
    claimed: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(len(batches))

    def work(batch):
        try:
            start.wait()
            claimed.append(ties_score_batch(interaction_ids=batch, **kwargs).claimed)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return claimed, errors


def messages(actor, target, n: int, prefix: str, start=None) -> list[dict]:
    start = start or timezone.now() - timedelta(days=1)
    return [
        {
            "event_id": f"{prefix}{i}",
            "type": "message",
            "actor": actor.pk,
            "target": target.pk,
            "occurred_at": (start - i * MINUTE).isoformat(),
        }
        for i in range(n)
    ]


def ingest(brand, events):
    from interactions.services import interactions_ingest

    return interactions_ingest(caller=staff_caller(brand.pk), events=events)


def expected_affinity(events: list[dict]) -> float:
    state = scoring.from_events(
        [Event(e["type"], timezone.datetime.fromisoformat(e["occurred_at"])) for e in events],
        PARAMS,
    )
    return state.score


def ids_of(brand) -> list[int]:
    return sorted(Interaction.objects.filter(brand=brand).values_list("id", flat=True))


# --- outbox ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingest_puts_each_new_event_in_the_outbox_once():
    # given a brand and a batch of three events
    brand = BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    events = messages(a, b, 3, "m")

    # when it is ingested twice
    ingest(brand, events)
    again = ingest(brand, events)

    # then the outbox holds the three new ids once, and the duplicates add nothing
    assert [r.status for r in again] == ["duplicate"] * 3
    pending = ScoringPending.objects.filter(brand_id=brand.pk)
    assert sorted(pending.values_list("interaction_id", flat=True)) == ids_of(brand)


@pytest.mark.django_db
def test_outbox_rows_carry_the_pair_of_their_event_in_either_direction():
    # given events a → b, b → a and a → c of one request
    brand = BrandFactory()
    a, b, c = CustomerFactory.create_batch(3, brand=brand)
    events = messages(a, b, 1, "x") + messages(b, a, 1, "y") + messages(a, c, 1, "z")
    results = ingest(brand, events)

    # then each outbox row's pair key is actor + target: the same for both directions
    keys = dict(ScoringPending.objects.values_list("interaction_id", "pair_key"))
    assert [keys[r.id] for r in results] == [a.pk + b.pk, a.pk + b.pk, a.pk + c.pk]


@pytest.mark.django_db
def test_task_fills_its_batch_with_other_pending_events_of_its_brand_only():
    # given two ingest batches of one brand and one of another brand
    brand, other = BrandFactory(), BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    x, y = CustomerFactory.create_batch(2, brand=other)
    first = ingest(brand, messages(a, b, 2, "m"))
    ingest(brand, messages(b, a, 3, "n"))
    ingest(other, messages(x, y, 2, "o"))

    # when the first batch's task runs, then its re-delivery and the second batch's task
    result = score_batch.apply(args=[[r.id for r in first]]).get()
    redelivered = score_batch.apply(args=[[r.id for r in first]]).get()

    # then it applied all five events of its brand in one transaction, none of the other's
    assert result == {"claimed": 5, "pairs": 1}
    assert redelivered == {"claimed": 0, "pairs": 0}
    assert not ScoringPending.objects.filter(brand_id=brand.pk).exists()
    assert ScoringPending.objects.filter(brand_id=other.pk).count() == 2
    assert math.isclose(
        Tie.objects.get(source=b, target=a).c_message,
        3 * sum(2 ** (-i / (PARAMS.half_life_days * 24 * 60)) for i in range(3)),
        rel_tol=1e-12,
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_apply_every_event_exactly_once():
    # given 200 messages a → b, all pending
    brand = BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    events = messages(a, b, 200, "m")
    ingest(brand, events)
    ids = ids_of(brand)

    # when four workers score overlapping batches at the same time (each batch twice)
    batches = [ids[:120], ids[80:], ids[:120], ids[80:]]
    claimed, errors = score_at_once(batches)

    # then each event was claimed by exactly one of them and counted once in the tie
    assert errors == [], [str(e) for e in errors]
    assert sum(claimed) == 200
    assert not ScoringPending.objects.exists()
    tie = Tie.objects.get(source=a, target=b)
    assert math.isclose(tie.affinity, expected_affinity(events), rel_tol=1e-12)


@pytest.mark.django_db
def test_sweeper_applies_events_left_pending():
    # given events whose task was lost, pending for an hour
    brand = BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    events = messages(a, b, 4, "m")
    ingest(brand, events)
    ScoringPending.objects.update(created_at=timezone.now() - timedelta(hours=1))

    # when the sweeper runs
    swept = ties_score_unscored(older_than=timedelta(minutes=10))

    # then they are applied once
    assert swept == 4
    assert not ScoringPending.objects.exists()
    tie = Tie.objects.get(source=a, target=b)
    assert math.isclose(tie.affinity, expected_affinity(events), rel_tol=1e-12)
    assert ties_score_unscored(older_than=timedelta(0)) == 0


# --- build-and-swap recompute of every brand ---------------------------------------------------


def two_brands():
    """Two brands with friends, interactions (scored and still pending) and flags."""
    out = []
    for n in range(2):
        brand = BrandFactory()
        people = CustomerFactory.create_batch(4, brand=brand)
        befriend(people[0], people[1:])
        befriend(people[1], people[2:3])
        t = timezone.now() - timedelta(days=2)
        ingest(brand, messages(people[0], people[1], 3, f"a{n}", t))
        ingest(brand, messages(people[1], people[0], 2, f"b{n}", t))
        ingest(brand, messages(people[2], people[3], 1, f"c{n}", t))
        ties_score_batch(interaction_ids=ids_of(brand))
        ingest(
            brand,
            [
                *messages(people[3], people[0], 1, f"d{n}", t),
                {
                    "event_id": f"blk{n}",
                    "type": "block",
                    "actor": people[3].pk,
                    "target": people[1].pk,
                    "occurred_at": t.isoformat(),
                },
            ],
        )
        out.append((brand, people))
    return out


def state(brand) -> dict:
    return {
        (t.source_id, t.target_id): (
            t.last_event_at,
            round(t.affinity, 9),
            tuple(round(v, 9) for v in t.components.values()),
            tuple(t.flags),
            round(t.strength, 9),
            round(t.intensity, 9),
            round(t.mutual_jaccard, 9),
        )
        for t in Tie.objects.filter(brand=brand)
    }


def table_schema() -> dict:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Tie._meta.db_table)
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Tie._meta.db_table])
        sequence = cursor.fetchone()[0]
        cursor.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid = %s::regclass ORDER BY 1""",
            [Tie._meta.db_table],
        )
        definitions = cursor.fetchall()
        cursor.execute(
            """SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1""",
            [Tie._meta.db_table],
        )
        indexes = cursor.fetchall()
        cursor.execute(
            "SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [Tie._meta.db_table]
        )
        reloptions = cursor.fetchone()[0]
        columns = [
            (c.name, c.type_code, c.null_ok)
            for c in connection.introspection.get_table_description(cursor, Tie._meta.db_table)
        ]
    return {
        "constraints": constraints,
        "definitions": definitions,
        "indexes": indexes,
        "sequence": sequence,
        "reloptions": reloptions,
        "columns": columns,
    }


@pytest.mark.django_db
def test_recompute_all_equals_the_per_brand_recompute_and_keeps_the_schema():
    # given two brands; the per-brand recompute of each as of one time
    worlds = two_brands()
    as_of = timezone.now()
    schema = table_schema()
    for brand, _ in worlds:
        ties_recompute(brand_id=brand.pk, as_of=as_of)
    per_brand = {brand.pk: state(brand) for brand, _ in worlds}

    # when every brand is rebuilt into a new table that is swapped in
    reports = ties_recompute_all(as_of=as_of)

    # then the rows are the same, the flags kept, the schema and its names unchanged
    assert {brand.pk: state(brand) for brand, _ in worlds} == per_brand
    assert [r.brand_id for r in reports] == sorted(brand.pk for brand, _ in worlds)
    for _brand, people in worlds:
        assert Tie.objects.get(source=people[3], target=people[1]).flags == ["blocked"]
    assert table_schema() == schema
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
    # and the swapped table takes writes as before (identity, defaults, unique key)
    brand, people = worlds[0]
    ingest(brand, messages(people[2], people[0], 1, "after"))
    assert ties_score_batch(interaction_ids=ids_of(brand)).claimed == 1


@pytest.mark.django_db
def test_recompute_all_applies_pending_events_and_clears_the_outbox():
    worlds = two_brands()
    as_of = timezone.now()

    ties_recompute_all(as_of=as_of)

    assert not ScoringPending.objects.exists()
    for _brand, people in worlds:
        tie = Tie.objects.get(source=people[3], target=people[0])
        assert math.isclose(tie.c_message, 3.0 * 2 ** (-0.0), rel_tol=1e-12)
    # a later task for those ids changes nothing
    before = {brand.pk: state(brand) for brand, _ in worlds}
    for brand, _ in worlds:
        assert ties_score_batch(interaction_ids=ids_of(brand)).claimed == 0
    assert {brand.pk: state(brand) for brand, _ in worlds} == before


def work_tables() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(r"SELECT relname FROM pg_class WHERE relname LIKE '\_rc%%'")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_recomputes_of_two_brands_run_at_once_and_leave_no_work_tables():
    # given two brands, and the state a recompute of each gives on its own
    worlds = two_brands()
    as_of = timezone.now()
    for brand, _ in worlds:
        ties_recompute(brand_id=brand.pk, as_of=as_of)
    alone = {brand.pk: state(brand) for brand, _ in worlds}
    assert work_tables() == []

    # when both brands are recomputed at the same moment, each in its own connection
    errors: list[BaseException] = []
    start = threading.Barrier(len(worlds))

    def recompute(brand_id: int) -> None:
        try:
            start.wait()
            ties_recompute(brand_id=brand_id, as_of=as_of)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recompute, args=(b.pk,)) for b, _ in worlds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then neither got in the other's way (work tables are per connection), the ties are
    # those of each brand alone, and no work table outlives its transaction
    assert errors == []
    assert {brand.pk: state(brand) for brand, _ in worlds} == alone
    assert work_tables() == []
    ties_recompute_all(as_of=as_of)
    assert work_tables() == []


def mute_in_a_thread(brand, event_id: str, actor, target, errors: list) -> threading.Thread:
    """Start a thread that ingests ``actor`` muting ``target`` on a connection of its own
    (closed after); an error is appended to ``errors``."""

    def mute() -> None:
        try:
            ingest(
                brand,
                [
                    {
                        "event_id": event_id,
                        "type": "mute_author",
                        "actor": actor.pk,
                        "target": target.pk,
                        "occurred_at": timezone.now().isoformat(),
                    }
                ],
            )
        except BaseException as exc:  # reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=mute)
    thread.start()
    return thread


def waiting_on_a_lock(timeout: float = 10.0, backends: int = 1) -> bool:
    """Whether (within ``timeout``) at least ``backends`` connections wait for a lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0] >= backends:
                return True
        time.sleep(0.02)
    return False


@pytest.mark.django_db(transaction=True)
def test_swap_keeps_flags_set_while_building_and_while_swapping():
    # given two brands with ties
    worlds = two_brands()
    brand, people = worlds[0]
    errors: list[BaseException] = []
    blocked: list[threading.Thread] = []

    def on_step(name: str) -> None:
        if name == "build":
            # another request commits a flag while the new table is being built
            mute_in_a_thread(brand, "mute-1", people[2], people[0], errors).join()
        elif name == "swap: flags":
            # and another one tries while the old table is locked for the swap: it waits
            thread = mute_in_a_thread(brand, "mute-2", people[0], people[3], errors)
            assert waiting_on_a_lock()
            blocked.append(thread)

    # when every brand is rebuilt and swapped in meanwhile
    ties_recompute_all(on_step=on_step)
    for thread in blocked:
        thread.join()

    # then both flags are on the live table, next to the older one
    assert errors == [], [str(e) for e in errors]
    assert Tie.objects.get(source=people[2], target=people[0]).flags == ["muted"]
    assert Tie.objects.get(source=people[0], target=people[3]).flags == ["muted"]
    assert Tie.objects.get(source=people[3], target=people[1]).flags == ["blocked"]


@pytest.mark.django_db(transaction=True)
def test_brand_recompute_keeps_flags_written_while_it_runs():
    # given a brand with ties, a flag-only row and events still pending for the pair 3–0
    worlds = two_brands()
    brand, people = worlds[0]
    errors: list[BaseException] = []
    blocked: list[threading.Thread] = []

    def progress(name: str, seconds: float, rows: int) -> None:
        if name == "write":
            # flags on rows the recompute has written (one of them new) wait for it
            for event_id, actor, target in (
                ("mute-1", people[1], people[0]),
                ("mute-2", people[0], people[3]),
            ):
                blocked.append(mute_in_a_thread(brand, event_id, actor, target, errors))
                assert waiting_on_a_lock(backends=len(blocked))

    before = Tie.objects.get(source=people[1], target=people[0])

    # when the brand is recomputed meanwhile
    ties_recompute(brand_id=brand.pk, progress=progress)
    for thread in blocked:
        thread.join()

    # then both flags are on rows that carry the recomputed scores, next to the older flag
    assert errors == [], [str(e) for e in errors]
    waited = Tie.objects.get(source=people[1], target=people[0])
    assert waited.flags == ["muted"] and waited.pk == before.pk
    assert math.isclose(waited.affinity, before.affinity, rel_tol=1e-9) and waited.strength > 0
    inserted = Tie.objects.get(source=people[0], target=people[3])
    assert inserted.flags == ["muted"] and inserted.strength > 0
    assert inserted.strength == Tie.objects.get(source=people[3], target=people[0]).strength
    assert Tie.objects.get(source=people[3], target=people[1]).flags == ["blocked"]


# --- one writer per brand ---------------------------------------------------------------------


def mesh_events(people, n: int, prefix: str, rng) -> list[dict]:
    """``n`` weighted events between random pairs of ``people``, in both directions."""
    now = timezone.now()
    out = []
    for i in range(n):
        a, b = rng.sample(people, 2)
        out.append(
            {
                "event_id": f"{prefix}{i}",
                "type": rng.choice(["message", "reply", "click", "purchase"]),
                "actor": a.pk,
                "target": b.pk,
                "occurred_at": (now - timedelta(minutes=rng.randrange(60 * 24 * 30))).isoformat(),
            }
        )
    return out


def tie_state(brand) -> dict:
    return {
        (t.source_id, t.target_id): (t.last_event_at, t.affinity, t.strength, t.intensity)
        for t in Tie.objects.filter(brand=brand)
    }


@pytest.mark.django_db(transaction=True)
def test_concurrent_tasks_of_one_brand_apply_each_event_once_and_redelivery_changes_nothing():
    # given 600 events over many pairs of 8 customers, ingested in six requests (six tasks)
    import random

    rng = random.Random(3)
    brand = BrandFactory()
    people = CustomerFactory.create_batch(8, brand=brand)
    requests = [ingest(brand, mesh_events(people, 100, f"r{k}-", rng)) for k in range(6)]
    tasks = [[r.id for r in results] for results in requests]

    # when six workers run the six tasks at once (batches filled up to 250 pending events),
    # then every task is delivered again
    claimed, errors = score_at_once(tasks, fill_to=250)
    assert errors == [], [str(e) for e in errors]
    after_first = tie_state(brand)
    redelivered = [score_batch.apply(args=[ids]).get() for ids in tasks]

    # then each event was claimed exactly once, and the ties equal a single batch of them all
    assert sum(claimed) == 600
    assert not ScoringPending.objects.exists()
    assert redelivered == [{"claimed": 0, "pairs": 0}] * 6
    assert tie_state(brand) == after_first
    by_pair: dict[tuple[int, int], list[Event]] = {}
    for results in requests:
        for result in results:
            row = Interaction.objects.get(pk=result.id)
            by_pair.setdefault((row.actor_id, row.target_id), []).append(
                Event(row.type, row.occurred_at)
            )
    for (source, target), events in by_pair.items():
        want = scoring.from_events(events, PARAMS)
        tie = Tie.objects.get(source_id=source, target_id=target)
        assert tie.last_event_at == want.last_at
        assert math.isclose(tie.affinity, want.score, rel_tol=1e-9)
        # and both rows of the pair carry the same strength
        back = Tie.objects.get(source_id=target, target_id=source)
        assert tie.strength == back.strength and tie.strength > 0


@pytest.mark.django_db(transaction=True)
def test_a_task_waiting_for_its_brand_takes_what_was_queued_meanwhile():
    # given a brand whose scoring lock is held (a batch or a recompute in progress)
    from interactions.scoring_db import brand_lock_key

    brand = BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    first = ingest(brand, messages(a, b, 3, "m"))
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [brand_lock_key(brand.pk)])
    results: list[dict] = []
    errors: list[BaseException] = []

    def task():
        try:
            results.append(score_batch.apply(args=[[r.id for r in first]]).get())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    # when the first batch's task waits for the lock while a second batch is ingested
    thread = threading.Thread(target=task)
    thread.start()
    try:
        assert waiting_on_a_lock()
        second = messages(b, a, 2, "n")
        ingest(brand, second)
    finally:
        holder.rollback()
        holder.close()
    thread.join()

    # then once the lock is free, that task applied both batches in one transaction
    assert errors == [], [str(e) for e in errors]
    assert results == [{"claimed": 5, "pairs": 1}]
    assert not ScoringPending.objects.exists()
    assert math.isclose(
        Tie.objects.get(source=b, target=a).affinity, expected_affinity(second), rel_tol=1e-12
    )


@pytest.mark.django_db(transaction=True)
def test_a_task_that_times_out_on_its_brand_lock_is_retried(settings):
    # given a brand whose scoring lock is held longer than a task may wait
    from interactions.scoring_db import brand_lock_key

    settings.SCRM = {**settings.SCRM, "SCORING_LOCK_TIMEOUT_MS": 50}
    brand = BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    first = ingest(brand, messages(a, b, 3, "m"))
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [brand_lock_key(brand.pk)])

        # when the batch runs
        with pytest.raises(Exception) as raised:
            ties_score_batch(interaction_ids=[r.id for r in first])
    finally:
        holder.rollback()
        holder.close()

    # then it failed with an error the task retries, and the events are still pending
    assert isinstance(raised.value, score_batch.autoretry_for)
    assert ScoringPending.objects.filter(brand_id=brand.pk).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_scores_the_partitions_it_can_lock_and_retries_the_busy_one(settings):
    # given two partitions, a pair in each, and a batch holding the first pair's partition
    from interactions.scoring_db import partition_lock_key

    settings.SCRM = {**settings.SCRM, "SCORING_PARTITIONS": 2, "SCORING_LOCK_TIMEOUT_MS": 200}
    brand = BrandFactory()
    people = CustomerFactory.create_batch(4, brand=brand)
    a, b = people[0], people[1]
    c, d = next(
        (x, y)
        for x, y in itertools.combinations(people, 2)
        if (x.pk + y.pk) % 2 != (a.pk + b.pk) % 2
    )
    busy = ingest(brand, messages(a, b, 2, "m"))
    free = ingest(brand, messages(c, d, 3, "n"))
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    try:
        with holder.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [partition_lock_key(brand.pk), (a.pk + b.pk) % 2],
            )

        # when one task's ids span both pairs
        with pytest.raises(Exception) as raised:
            ties_score_batch(interaction_ids=[r.id for r in busy + free])
    finally:
        holder.rollback()
        holder.close()

    # then the free partition's pair was scored and committed, the busy one's events stay
    # pending, and the task is retried for them
    assert isinstance(raised.value, score_batch.autoretry_for)
    pending = set(ScoringPending.objects.values_list("interaction_id", flat=True))
    assert pending == {r.id for r in busy}
    assert Tie.objects.filter(source=c, target=d).exists()
    assert not Tie.objects.filter(source=a, target=b).exists()

    # and the retry scores them
    assert score_batch.apply(args=[[r.id for r in busy + free]]).get() == {
        "claimed": 2,
        "pairs": 1,
    }
    assert math.isclose(
        Tie.objects.get(source=a, target=b).affinity,
        expected_affinity(messages(a, b, 2, "m")),
        rel_tol=1e-12,
    )


# --- referential integrity of tie rows (composite foreign keys, migration 0009) --------------


@pytest.mark.django_db(transaction=True)
def test_a_tie_row_cannot_join_customers_of_another_brand_or_outlive_its_customer():
    from django.db import IntegrityError, transaction

    # given a scored pair a ↔ b and a customer x of another brand
    brand, other = BrandFactory(), BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    x = CustomerFactory(brand=other)
    ingest(brand, messages(a, b, 2, "m"))
    ties_score_batch(interaction_ids=ids_of(brand))
    assert Tie.objects.filter(brand=brand).count() == 2

    # when a tie row of the brand names the other brand's customer, it is refused at commit
    with pytest.raises(IntegrityError), transaction.atomic():
        Tie.objects.create(brand=brand, source=a, target=x)
    # and so is a row naming a customer id that does not exist
    with pytest.raises(IntegrityError), transaction.atomic():
        Tie.objects.create(brand=brand, source=a, target_id=x.pk + 1000)

    # when customer a is deleted behind the ORM's back, the database refuses too
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM customers_customer WHERE id = %s", [a.pk])

    # and deleting it through the ORM takes its tie rows with it
    a.delete()
    assert not Tie.objects.filter(brand=brand).exists()


@pytest.mark.django_db(transaction=True)
def test_swap_does_not_queue_readers_behind_a_vacuum_of_the_old_table():
    # given ties, and a vacuum of the tie table running (a transaction holding its lock)
    two_brands()
    rows_before = Tie.objects.count()
    holding, release = threading.Event(), threading.Event()

    def vacuum_like() -> None:
        try:
            with transaction.atomic(), connections["default"].cursor() as cursor:
                cursor.execute(f"LOCK TABLE {Tie._meta.db_table} IN SHARE UPDATE EXCLUSIVE MODE")
                holding.set()
                release.wait(30)
        finally:
            connections["default"].close()

    holder = threading.Thread(target=vacuum_like)
    holder.start()
    assert holding.wait(10)
    steps: list[str] = []
    read_during_build: list[int] = []

    def on_step(name: str) -> None:
        steps.append(name)
        if name == "build":
            # readers and writers are not held up while the new table is built
            reader = threading.Thread(target=lambda: read_during_build.append(count_ties()))
            reader.start()
            reader.join(10)
            assert not reader.is_alive()
        if name == "wait for a vacuum":
            release.set()  # the vacuum ends; the recompute waited only for it, right here
            holder.join(10)

    # when every brand is rebuilt and swapped in
    ties_recompute_all(on_step=on_step)

    # then the lock was asked for without waiting at the start and waited for before the
    # swap, which found no vacuum in its way
    assert read_during_build == [rows_before]
    assert steps.index("wait for a vacuum") < steps.index("swap: lock")
    rows_after = Tie.objects.count()

    # and with no vacuum running, the lock is held from the start: no wait before the swap
    steps.clear()
    ties_recompute_all(on_step=on_step)
    assert "wait for a vacuum" not in steps and "swap: lock" in steps
    assert Tie.objects.count() == rows_after > rows_before  # the pending events scored too


def count_ties() -> int:
    try:
        return Tie.objects.count()
    finally:
        connections["default"].close()
