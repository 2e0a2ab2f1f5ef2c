"""Ranks, differences to the random baseline with Welch's t-test, and Pareto fronts."""
from __future__ import annotations

import math

from .model import Entry, Group

RANDOM_METHOD = "random"


def welch_p(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test (unequal variances), the same number as
    `scipy.stats.ttest_ind(a, b, equal_var=False).pvalue` (a test checks it) but through
    `scipy.special.stdtr`, which imports in a fraction of the time. None when either side
    has fewer than two seeds or neither has any spread (the test is undefined there)."""
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return None
    m1, m2 = sum(a) / n1, sum(b) / n2
    v1 = sum((x - m1) ** 2 for x in a) / (n1 - 1) / n1
    v2 = sum((x - m2) ** 2 for x in b) / (n2 - 1) / n2
    se2 = v1 + v2
    if se2 == 0:
        return None
    from scipy.special import stdtr

    t = (m1 - m2) / math.sqrt(se2)
    df = se2 ** 2 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
    p = float(2.0 * stdtr(df, -abs(t)))
    return None if math.isnan(p) else min(1.0, p)


def pick_baseline(group: Group) -> tuple[Entry | None, str]:
    """The group's random baseline (kind baseline, method random) and a note for the page."""
    candidates = [e for e in group.entries if e.kind == "baseline" and e.method.strip().lower() == RANDOM_METHOD]
    where = f"{group.dataset}, IPC {group.ipc}, {group.label_regime} labels, {group.protocol_label}"
    if not candidates:
        return None, (f"No random baseline at {where}: differences to random cannot be computed. "
                      f"Evaluate one (condensebench baseline random --dataset {group.dataset} --ipc {group.ipc}, "
                      "then condensebench evaluate) to fill this column.")
    complete = [e for e in candidates if e.complete] or candidates
    best = sorted(complete, key=lambda e: (-e.n, e.date, e.submission_id))[0]
    note = f"Differences are to the random baseline {best.submission_id} ({best.n} seeds)."
    if len(candidates) > 1:
        others = ", ".join(e.submission_id for e in candidates if e is not best)
        note += f" Other random entries in this table ({others}) are ranked like any entry."
    if not best.complete:
        note += f" It has fewer seeds than the protocol asks for ({best.n} of {best.seeds_required})."
    return best, note


def pareto_front(entries: list[Entry]) -> list[Entry]:
    """Entries no other entry beats on both construction cost (lower) and mean accuracy (higher)."""
    pts = sorted((e for e in entries if e.cost_hours is not None and e.complete),
                 key=lambda e: (e.cost_hours, -e.mean))
    front, best = [], -math.inf
    for e in pts:
        if e.mean > best:
            front.append(e)
            best = e.mean
    return front


def analyse(group: Group) -> Group:
    """Rank (complete entries by mean, ties share a rank), differences to random, Pareto."""
    ranked = sorted(group.entries, key=lambda e: (not e.complete, -e.mean, e.method.lower(), e.submission_id))
    rank, last = 0, None
    for i, e in enumerate(ranked, 1):
        if not e.complete:
            e.rank = None
            continue
        if e.mean != last:
            rank, last = i, e.mean
        e.rank = rank
    group.entries = ranked
    base, note = pick_baseline(group)
    group.baseline, group.baseline_note = base, note
    for e in ranked:
        e.is_reference = e is base
        if base is not None and e is not base:
            e.delta = e.mean - base.mean
            e.p_value = welch_p(e.accuracies, base.accuracies)
        else:
            e.delta = e.p_value = None
    front = {id(e) for e in pareto_front(ranked)}
    for e in ranked:
        e.pareto = id(e) in front
    return group
