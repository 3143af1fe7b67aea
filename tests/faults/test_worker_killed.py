"""A scoring worker killed with SIGKILL in the middle of a batch.

The batch is caught mid-transaction for certain: the test holds row locks on the brand's
ties, so the worker's batch — outbox rows already claimed (deleted) in its transaction —
waits on them; then the pool process (the OOM killer's choice) or the whole worker (a host
crash) is killed. After the restart (the redelivered task, or the sweeper for a message left
unacknowledged) every event is applied exactly once: the ties equal a full recompute from
the log, and equal the pure formula over each pair's events.
"""

from __future__ import annotations

import math
import os
import signal

import psycopg
import pytest

from interactions import scoring
from interactions.models import Interaction, ScoringPending, Tie
from interactions.recompute import ties_recompute
from interactions.scoring import Event, TieParams

from .processes import alive, wait_until
from .world import build_world, events_between

pytestmark = pytest.mark.faults

BATCH = "/api/v1/interactions/batch/"


def ingest(api, world, events) -> None:
    for start in range(0, len(events), 500):
        status, body, _ = api.request(
            "POST", BATCH, {"events": events[start : start + 500]}, auth=world.app
        )
        assert status == 200, body
        assert {r["status"] for r in body["results"]} == {"created"}


def pending(world) -> int:
    return ScoringPending.objects.filter(brand_id=world.brand.pk).count()


def tie_state(world) -> dict:
    return {
        (t.source_id, t.target_id): (t.last_event_at, t.affinity)
        for t in Tie.objects.filter(brand=world.brand)
    }


def assert_same_state(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for pair, (last_at, affinity) in want.items():
        assert got[pair][0] == last_at, pair
        assert math.isclose(got[pair][1], affinity, rel_tol=1e-9, abs_tol=1e-12), pair


@pytest.mark.parametrize("victim", ["pool process", "whole worker"])
def test_scoring_worker_killed_mid_batch_scores_every_event_exactly_once(stack, victim):
    # given a worker that has scored a first batch (so the pairs' ties exist)
    api = stack.start_api()
    world = build_world(senders=2, friends=6)
    worker = stack.start_worker()
    ingest(api, world, events_between(world, 200, "first"))
    assert wait_until(lambda: pending(world) == 0, 60), worker.output()

    # and a batch held mid-transaction: the test locks every tie row of the brand
    dsn = stack.postgres.url(stack.database).replace("postgres://", "postgresql://")
    holder = psycopg.connect(dsn)
    holder.execute(
        f"SELECT 1 FROM {Tie._meta.db_table} WHERE brand_id = %s FOR UPDATE", [world.brand.pk]
    )
    ingest(api, world, events_between(world, 1000, "second"))

    def batch_waiting_on_our_locks():
        rows = holder.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchall()
        return [row[0] for row in rows]

    assert wait_until(batch_waiting_on_our_locks, 60), worker.output()
    # (its claim of the outbox rows is not committed: they are all still pending)
    assert pending(world) == 1000

    # when the worker is killed with SIGKILL, then our locks are released
    if victim == "pool process":
        children = worker.children()
        assert children
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        assert wait_until(lambda: not any(alive(pid) for pid in children))
    else:
        worker.kill()
    holder.rollback()
    holder.close()

    # then after the restart every event is applied
    if victim == "whole worker":
        # its message stays unacknowledged until the broker's visibility timeout: the sweeper
        # (beat, every few minutes) applies what the lost batch left pending
        stack.start_worker()
        stack.send_task("interactions.score_unscored", older_than_minutes=0)
    # (a killed pool process: the worker requeues the task — late ack, reject on worker lost)
    assert wait_until(lambda: pending(world) == 0, 120), stack.services[-1].output()
    assert Interaction.objects.filter(brand=world.brand).count() == 1200

    # and exactly once: the pure formula over each pair's events from the log …
    params = TieParams.from_settings()
    by_pair: dict[tuple[int, int], list[Event]] = {}
    for row in Interaction.objects.filter(brand=world.brand):
        by_pair.setdefault((row.actor_id, row.target_id), []).append(
            Event(row.type, row.occurred_at)
        )
    incremental = tie_state(world)
    for pair, events in by_pair.items():
        want = scoring.from_events(events, params)
        assert incremental[pair][0] == want.last_at, pair
        assert math.isclose(incremental[pair][1], want.score, rel_tol=1e-9), pair
    # … and a full recompute of the brand from the log
    ties_recompute(brand_id=world.brand.pk)
    assert_same_state(tie_state(world), incremental)
