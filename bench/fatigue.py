"""Fatigue decision benchmark: rules + one Lua call for a sender with N friends.

    .venv/bin/python bench/fatigue.py [--friends 500] [--decisions 2000] [--raw 20000]

Uses REDIS_URL, or starts a throwaway Redis (scrm.devservers.redis()) when it is not set.
Prints, measured in the same run on the same Redis and connection:
- the baseline: a trivial EVALSHA (``return 1`` on one key), next to a whole decision for a
  single recipient (rules.decide + our script);
- a publish decision for a sender with N friends (rules.decide + counters.run), p50/p99, and
  the per-recipient check rate it implies, next to the raw Lua rate.
Goals: N=500 decision p99 ≤ 10 ms; per-recipient check rate ≥ 0.3 × raw EVALSHA rate.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis

from campaigns.fatigue import rules
from campaigns.fatigue.counters import SCRIPT, FatigueCounters, Ledger

START = datetime(2024, 5, 6, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def raw_rate(client: redis.Redis, calls: int) -> float:
    """Calls/s of a trivial script (``return 1`` on one key): the floor of any Lua call."""
    trivial = client.register_script("return 1")
    trivial(keys=["{b:0}:raw"], args=[])
    client.config_resetstat()
    began = time.perf_counter()
    for _ in range(calls):
        trivial(keys=["{b:0}:raw"], args=[])
    rate = calls / (time.perf_counter() - began)
    return rate, server_usec_per_call(client)


def raw_script_rate(client: redis.Redis, calls: int) -> float:
    """Calls/s of our script itself (EVALSHA, no Python around it) for one recipient."""
    script = client.register_script(SCRIPT)
    day_us = 86_400 * 1_000_000
    client.set("{b:0}:fat:ready", 1)
    client.config_resetstat()
    began = time.perf_counter()
    for i in range(calls):
        now = 1_715_000_000_000_000 + i * day_us
        keys = ["{b:0}:fat:ready", f"{{b:0}}:fat:p:{i}", "{b:0}:s:c", "{b:0}:s:a", "{b:0}:r"]
        args = ["consume", now, i, 1, now - 3_600_000_000, 7 * day_us, 2, 8, -1, -1, 691200000]
        script(keys=keys, args=[*args, bytes((2, 5))])
    rate = calls / (time.perf_counter() - began)
    return rate, server_usec_per_call(client)


def friends(count: int, rnd: random.Random) -> list[rules.RecipientState]:
    out = []
    for rid in range(count):
        negatives = {}
        roll = rnd.random()
        if roll < 0.01:
            negatives = {"block": START - timedelta(days=40)}
        elif roll < 0.03:
            negatives = {"mute_author": START - timedelta(days=10)}
        out.append(
            rules.RecipientState(
                rid,
                strength=rnd.random(),
                negatives=negatives,
                marketing_consent=rnd.random() > 0.05,
            )
        )
    return out


def server_usec_per_call(client: redis.Redis) -> float:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return float(stats.get("usec_per_call", 0.0))


def decisions(
    counters: FatigueCounters,
    policy: rules.FatiguePolicy,
    recipients: list[rules.RecipientState] | rules.RecipientColumns,
    n: int,
    *,
    preview: bool = False,
    post_base: int = 0,
) -> tuple[list[float], list[float], int, int, float]:
    """n decisions of distinct senders, one day apart: total and rules-only latencies,
    delivered and suppressed counts, and Redis's own µs per script call."""
    histories = []
    for i in range(n):
        # two ordinary posts earlier that day, counted like any post (untimed, done first)
        now = START + timedelta(days=i)
        sender_id = f"s{post_base + i}"
        history = []
        for k, hours in enumerate((5, 4)):
            at = now - timedelta(hours=hours)
            plain = rules.decide(policy, at, False, rules.SenderHistory(sender_id), [])
            counters.run(post_id=f"{post_base + i}-{k}", plan=plain.plan)
            history.append((at, False))
        histories.append((now, rules.SenderHistory(sender_id, posts=history)))
    counters.client.config_resetstat()
    total, rules_only = [], []
    delivered = refused = 0
    for i, (now, sender) in enumerate(histories):
        began = time.perf_counter()
        decision = rules.decide(policy, now, True, sender, recipients)
        middle = time.perf_counter()
        result = counters.run(post_id=f"{post_base + i}", plan=decision.plan, preview=preview)
        ended = time.perf_counter()
        assert result.status == "admitted", result
        total.append(ended - began)
        rules_only.append(middle - began)
        delivered += len(result.admitted)
        refused += len(result.refused) + len(decision.exclusions)
    return total, rules_only, delivered, refused, server_usec_per_call(counters.client)


def run(url: str, n_friends: int, n_decisions: int, n_raw: int) -> None:
    client = redis.Redis.from_url(url)
    client.flushdb()
    rnd = random.Random(7)
    policy = rules.FatiguePolicy()
    counters = FatigueCounters(client, brand_id=1)
    counters.rebuild(Ledger([], []), now=START, window=policy.window)

    raw, raw_server = raw_rate(client, n_raw)
    raw_script, raw_script_server = raw_script_rate(client, n_raw // 4)
    # our script with a single recipient (the per-call floor of the real path)
    one = friends(1, rnd)
    single_total, _, _, _, single_server = decisions(
        counters, policy, one, min(n_decisions, 2000), post_base=10**6
    )
    single_rate = len(single_total) / sum(single_total)

    # As the live path hands them over: one set of columns, not one object per friend.
    many = rules.RecipientColumns.from_states(friends(n_friends, rnd))
    decisions(counters, policy, many, 50, post_base=2 * 10**6)  # warm-up
    total, rules_only, delivered, refused, server_us = decisions(
        counters, policy, many, n_decisions, post_base=3 * 10**6
    )
    preview_total, _, _, _, preview_server = decisions(
        counters, policy, many, min(n_decisions, 500), preview=True, post_base=4 * 10**6
    )
    checks_per_s = n_friends * len(total) / sum(total)

    ms = 1000
    server = client.info("server")
    name = f"valkey {server['valkey_version']}" if "valkey_version" in server else "Redis"
    print(f"{name} (redis_version {server.get('redis_version')}) at {url}, load {os.getloadavg()}")
    print(
        f"baseline: trivial EVALSHA                 {raw:10.0f} calls/s   ({n_raw} calls; "
        f"in Redis {raw_server:.1f} µs/call)"
    )
    print(
        f"baseline: our script, 1 recipient         {raw_script:10.0f} calls/s   "
        f"= {raw_script / raw:.2f}x trivial ({n_raw // 4} calls; "
        f"in Redis {raw_script_server:.1f} µs/call)"
    )
    print(
        f"single-recipient decision (rules + Lua)   {single_rate:10.0f} decisions/s "
        f"= {single_rate / raw_script:.2f}x our raw script "
        f"(p50 {statistics.median(single_total) * ms:.3f} ms; in Redis {single_server:.1f} µs)"
    )
    print(
        f"{n_friends}-friend decision (rules + Lua)      p50 "
        f"{statistics.median(total) * ms:.2f} ms  p99 {percentile(total, 99) * ms:.2f} ms  "
        f"max {max(total) * ms:.2f} ms  ({len(total)} decisions; "
        f"in Redis {server_us / 1000:.2f} ms/call)"
    )
    print(
        f"  of which rules.decide                   p50 "
        f"{statistics.median(rules_only) * ms:.2f} ms  p99 {percentile(rules_only, 99) * ms:.2f} ms"
    )
    print(
        f"{n_friends}-friend preview (rules + Lua)       p50 "
        f"{statistics.median(preview_total) * ms:.2f} ms  "
        f"p99 {percentile(preview_total, 99) * ms:.2f} ms  "
        f"(in Redis {preview_server / 1000:.2f} ms)"
    )
    print(
        f"per-recipient check rate                  {checks_per_s:10.0f} checks/s = "
        f"{checks_per_s / raw:.1f}x trivial EVALSHA, "
        f"{checks_per_s / raw_script:.1f}x our raw script   (goal ≥ 0.3x)"
    )
    print(f"delivered {delivered}, suppressed {refused} over the timed decisions")
    p99_ok = percentile(total, 99) * ms <= 10
    print(
        f"goals: p99 ≤ 10 ms {'met' if p99_ok else 'MISSED'}; per-recipient check rate "
        f"≥ 0.3x raw EVALSHA {'met' if checks_per_s >= 0.3 * raw else 'MISSED'}"
    )
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--friends", type=int, default=500)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--raw", type=int, default=20000)
    args = parser.parse_args()
    url = os.environ.get("REDIS_URL")
    with contextlib.ExitStack() as stack:
        if not url:
            from scrm.devservers import redis as dev_redis

            url = stack.enter_context(dev_redis())
        run(url, args.friends, args.decisions, args.raw)


if __name__ == "__main__":
    main()
