"""The numbers of a report: runs grouped by strategy x method x context, seeds as repetitions;
seconds to reach a level of full supervision, area under the curve, savings against random,
and the per-round and per-run rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from al_loop.core.config import run_identity
from al_loop.core.errors import ConfigError
from al_loop.reports.runs import RunResult, metric_label

LEVELS = (0.8, 0.9, 0.95)  # fractions of full-supervision mIoU reported in the tables
BASELINE = "random"  # savings are measured against this strategy at the same method
# Methods are compared, seed by seed, with the classic "outline every object by polygon" at the
# same strategy: what a faster way of labelling buys over the way data sets were labelled.
METHOD_BASELINE = "oracle_polygon"
# What a paired table varies -> the arm every other arm of that axis is compared with.
PAIRED_BASELINES = {"strategy": BASELINE, "method": METHOD_BASELINE}
# Config keys that differ between runs without changing what is compared.
REPETITION_KEYS = ("name", "seed", "threads", "device")
BAND_LEVEL = 0.95
# How the shaded band around a group's mean curve is drawn (over seeds).
BANDS = {
    "ci95": "95 % confidence band of the mean (Student t)",
    "sem": "mean ± standard error (about a 68 % confidence band)",
    "std": "mean ± standard deviation",
    "minmax": "range over seeds",
}


def parse_levels(percents: Sequence[int]) -> tuple[float, ...]:
    """Whole percentages of full supervision (``--levels 70 80 90``) -> sorted fractions: a
    data set where no arm reaches 80 % within a study's budget still gets a readable column."""
    bad = [p for p in percents if not 0 < p <= 100]
    if not percents or bad:
        shown = f" {bad[0]}" if bad else ""
        raise ConfigError(f"--levels{shown}: give whole percentages of full supervision in 1..100")
    return tuple(sorted({p / 100 for p in percents}))


def seconds_to_reach(seconds: np.ndarray, values: np.ndarray, level: float) -> float | None:
    """Cumulative seconds of the first evaluated round whose value is at least ``level``."""
    hits = np.flatnonzero(values >= level)
    return float(seconds[hits[0]]) if len(hits) else None


def area_under_curve(seconds: np.ndarray, values: np.ndarray, until: float) -> float:
    """Mean value over [first round, until] (trapezoids; the last value held to ``until``)."""
    if len(seconds) == 0 or until <= seconds[0]:
        return float("nan")
    xs = np.append(seconds[seconds < until], until)
    ys = np.interp(xs, seconds, values)
    return float(np.trapezoid(ys, xs) / (until - seconds[0])) if len(xs) > 1 else float(ys[0])


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def mean_band(stack: np.ndarray, band: str = "sem") -> tuple[np.ndarray, ...]:
    """Mean over rows (seeds) and the band of ``BANDS`` around it (zero width for one row)."""
    if band not in BANDS:
        raise ConfigError(f"--band {band}: expected one of {', '.join(BANDS)}")
    mean = stack.mean(axis=0)
    n = len(stack)
    if n < 2:
        return mean, mean, mean
    if band == "minmax":
        return mean, stack.min(axis=0), stack.max(axis=0)
    half = stack.std(axis=0, ddof=1)
    if band != "std":
        half = half / np.sqrt(n)
    if band == "ci95":
        from scipy.stats import t

        half = half * t.ppf(0.5 + BAND_LEVEL / 2, n - 1)
    return mean, mean - half, mean + half


def _flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Leaves as dotted keys; an empty mapping has none, so ``params: {}`` and a missing
    ``params`` read alike (both mean the defaults)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value, sort_keys=True)
    return out


@dataclass
class Group:
    """Runs that differ only by seed: one curve with a band, one row of the tables."""

    context: str  # the other varying config values ("" when nothing else varies)
    strategy: str
    method: str
    runs: list[RunResult]

    @property
    def label(self) -> str:
        return f"{self.strategy} / {self.method}"


def group_runs(runs: Sequence[RunResult]) -> list[Group]:
    flat = [_flatten(run.config) for run in runs]
    # Which settings vary is read from the runs' identities (keys at their default left out),
    # so a key a later version added at its default does not split runs of two versions.
    identities = [_flatten(run_identity(run.config)) for run in runs]
    keys = sorted({k for f in identities for k in f})
    varying = [
        k
        for k in keys
        if len({f.get(k) for f in identities}) > 1 and k.split(".")[0] not in REPETITION_KEYS
    ]

    def describe(f: dict[str, str], section: str) -> str:
        # Only the settings this run sets: a run on the defaults keeps its bare name, so that
        # plain "random" is found as the baseline of the savings ratios.
        return ", ".join(
            f"{k.split('.', 1)[1]}={json.loads(f[k])}"
            for k in varying
            if k in f and k.startswith(section) and k not in ("strategy.name", "annotation.method")
        )

    groups: dict[tuple[str, str, str], Group] = {}
    for run, f, identity in zip(runs, flat, identities, strict=True):
        extra_s, extra_m = describe(identity, "strategy."), describe(identity, "annotation.")
        strategy = run.strategy + (f" ({extra_s})" if extra_s else "")
        method = run.method + (f" ({extra_m})" if extra_m else "")
        context = ", ".join(
            f"{k}={json.loads(f[k]) if k in f else 'default'}"
            for k in varying
            if not k.startswith(("strategy.", "annotation."))
        )
        key = (context, strategy, method)
        groups.setdefault(key, Group(context, strategy, method, [])).runs.append(run)
    return list(groups.values())


def _contexts(groups: Sequence[Group]) -> dict[str, list[Group]]:
    by_context: dict[str, list[Group]] = defaultdict(list)
    for group in groups:
        by_context[group.context].append(group)
    return by_context


def _common_until(runs: Iterable[RunResult], metric: str) -> float:
    """The budget every run reached: areas are compared over the same range."""
    ends = [run.curve(metric)[0][-1] for run in runs if run.evaluated]
    return min(ends) if ends else 0.0


def _level_key(level: float) -> str:
    return f"s_to_{round(level * 100)}pct"


def whole_pool_seconds(runs: Sequence[RunResult]) -> tuple[float, str] | None:
    """(seconds, basis) of labelling the whole pool by hand, when every run stored the same."""
    found = {(run.whole_pool or {}).get("seconds") for run in runs}
    if len(found) != 1 or None in found:
        return None
    return float(found.pop()), str(runs[0].whole_pool.get("basis", ""))


def seconds_per_unit(run: RunResult) -> list[float | None]:
    """Labelling seconds per annotated unit in each evaluated round (None: no unit): with the
    model's prediction as the starting mask it should fall as the model improves."""
    out, before = [], 0.0
    for r in run.evaluated:
        spent = r.seconds_total - before
        out.append(spent / r.n_annotated if r.n_annotated else None)
        before = r.seconds_total
    return out


def round_rows(runs: list[RunResult]) -> list[dict]:
    rows = []
    for run in runs:
        full = run.full_miou
        for r, per_unit in zip(run.evaluated, seconds_per_unit(run), strict=True):
            row = {
                "run": str(run.path),
                "strategy": run.strategy,
                "method": run.method,
                "seed": run.config["seed"],
                "round": r.round,
                "units": r.n_annotated,
                "seconds_total": round(r.seconds_total, 2),
                "seconds_per_unit": None if per_unit is None else round(per_unit, 2),
                "miou": round(r.metrics["miou"], 4),
                "pct_full": None if not full else round(100 * r.metrics["miou"] / full, 1),
            }
            for name, iou in zip(run.classes, r.metrics.get("per_class_iou", []), strict=False):
                row[f"iou_{name}"] = None if iou is None else round(float(iou), 4)
            rows.append(row)
    return rows


def summary_rows(
    runs: list[RunResult], metric: str = "miou", levels: Sequence[float] = LEVELS
) -> list[dict]:
    """Per run: final value, seconds to reach each level of full supervision, area under curve."""
    until = {
        context: _common_until((r for g in members for r in g.runs), metric)
        for context, members in _contexts(group_runs(runs)).items()
    }
    context_of = {id(r): g.context for g in group_runs(runs) for r in g.runs}
    name = "miou" if metric == "miou" else metric_label(metric, runs[0].classes if runs else [])
    rows = []
    for run in runs:
        seconds, values = run.curve(metric)
        if not len(seconds):
            continue
        row = {
            "run": run.path.name,
            "label": run.label,
            "seed": run.config["seed"],
            "rounds": len(seconds),
            "seconds": round(float(seconds[-1]), 1),
            f"final_{name}": round(float(values[-1]), 4),
            "auc": round(area_under_curve(seconds, values, until[context_of[id(run)]]), 4),
        }
        compute = run.compute_seconds()
        if compute is not None:
            row.update(
                cpu_min=round(compute["cpu"] / 60, 1), wall_min=round(compute["wall"] / 60, 1)
            )
        full = run.full(metric)
        if full:
            row[f"full_{name}"] = round(full, 4)
            for level in levels:
                reached = seconds_to_reach(seconds, values, level * full)
                row[_level_key(level)] = None if reached is None else round(reached, 1)
        rows.append(row)
    return rows


def group_rows(
    runs: list[RunResult], metric: str = "miou", levels: Sequence[float] = LEVELS
) -> list[dict]:
    """Per strategy x method (and context): mean and std over seeds of the seconds to reach each
    level of full supervision and of the area under the curve; ``savings_Npct`` = seconds random
    needs / seconds this strategy needs, at the same method (only when every seed of both reached
    the level)."""
    rows = []
    for context, members in _contexts(group_runs(runs)).items():
        until = _common_until((r for g in members for r in g.runs), metric)
        for group in members:
            curves = [(run, *run.curve(metric)) for run in group.runs if run.evaluated]
            if not curves:
                continue
            row: dict = {"context": context} if context else {}
            row.update(strategy=group.strategy, method=group.method, seeds=len(curves))
            final = mean_std([values[-1] for _, _, values in curves])
            auc = mean_std([area_under_curve(s, v, until) for _, s, v in curves])
            row.update(final_mean=final[0], final_std=final[1], auc_mean=auc[0], auc_std=auc[1])
            shares = [100 * v[-1] / run.full(metric) for run, _, v in curves if run.full(metric)]
            pct_full = mean_std(shares) if shares else (None, None)
            row.update(pct_full_mean=pct_full[0], pct_full_std=pct_full[1])
            # the labels trained like the reference (al-loop refit), when every seed has it
            refits = [(run.refit["miou"], run.full(metric)) for run, _, _ in curves if run.refit]
            if metric == "miou" and refits and len(refits) == len(curves):
                final = mean_std([value for value, _ in refits])
                row.update(final_refit_mean=final[0], final_refit_std=final[1])
                if all(full for _, full in refits):
                    share = mean_std([100 * value / full for value, full in refits])
                    row.update(pct_full_refit_mean=share[0], pct_full_refit_std=share[1])
            shares = [s for run, _, _ in curves if (s := rare_label_share(run)) is not None]
            rare = mean_std(shares) if shares else (None, None)
            row.update(rare_labels_mean=rare[0], rare_labels_std=rare[1])
            minutes = [c["cpu"] / 60 for run, _, _ in curves if (c := run.compute_seconds())]
            cpu = mean_std(minutes) if len(minutes) == len(curves) else (None, None)
            row.update(cpu_min_mean=cpu[0], cpu_min_std=cpu[1])
            for name, (mean, std) in rare_class_finals([run for run, _, _ in curves]).items():
                row.update({f"iou_{name}_mean": mean, f"iou_{name}_std": std})
            # only seeds with a reference can reach a level: without one it is unknown, not missed
            scored = [(run, s, v) for run, s, v in curves if run.full(metric)]
            whole = whole_pool_seconds(group.runs)  # for the seconds as % of labelling it all
            for level in levels:
                reached = [seconds_to_reach(s, v, level * run.full(metric)) for run, s, v in scored]
                hits = [x for x in reached if x is not None]
                mean, std = mean_std(hits) if hits else (None, None)
                key = _level_key(level)
                row.update({f"{key}_mean": mean, f"{key}_std": std, f"{key}_reached": len(hits)})
                row[f"{key}_scored"] = len(scored)
                row[f"{key}_pct_pool"] = (
                    None if mean is None or not whole else 100 * mean / whole[0]
                )
            rows.append(row)
    for row in rows:
        baseline = next(
            (
                r
                for r in rows
                if r["strategy"] == BASELINE
                and r["method"] == row["method"]
                and r.get("context") == row.get("context")
            ),
            None,
        )
        for level in levels:
            key = _level_key(level)
            complete = [
                r
                for r in (row, baseline)
                if r and r[f"{key}_mean"] and r[f"{key}_reached"] == r["seeds"]
            ]
            row[f"savings_{round(level * 100)}pct"] = (
                baseline[f"{key}_mean"] / row[f"{key}_mean"] if len(complete) == 2 else None
            )
    return rows


def by_seed(runs: Iterable[RunResult], measure: str, until: float, metric: str = "miou"):
    """{seed: the run's ``measure``}: ``final`` (its last value) or ``auc`` (its area under the
    curve up to ``until``), for the runs with an evaluated round."""
    found = {}
    for run in runs:
        seconds, values = run.curve(metric)
        if len(values):
            found[int(run.config["seed"])] = float(
                values[-1] if measure == "final" else area_under_curve(seconds, values, until)
            )
    return found


PAIRED_MEASURES = ("final", "auc")


def paired_rows(runs: list[RunResult], metric: str = "miou", axis: str = "strategy") -> list[dict]:
    """Each strategy against random with the same method (``axis="strategy"``), or each method
    against the polygon with the same strategy (``"method"``; ``PAIRED_BASELINES``), in the same
    context, seed by seed: a seed gives both the same data, reference and round-0 seed set, so a
    difference is the arm's own effect plus that seed's noise. One row per measure
    (``PAIRED_MEASURES``: the final value, the area under the curve over the budget every run of
    the context reached): both arms' mean and std over the seeds both ran, the differences, how
    many seeds the arm wins, and ``apart``: the arms' mean ± std intervals do not overlap."""
    if axis not in PAIRED_BASELINES:
        raise ConfigError(f"paired axis: unknown '{axis}'; valid: {', '.join(PAIRED_BASELINES)}")
    name = PAIRED_BASELINES[axis]
    other = "method" if axis == "strategy" else "strategy"
    rows = []
    for context, members in _contexts(group_runs(runs)).items():
        until = _common_until((r for g in members for r in g.runs), metric)
        for group in members:
            baseline = next(
                (
                    g
                    for g in members
                    if getattr(g, axis) == name and getattr(g, other) == getattr(group, other)
                ),
                None,
            )
            if baseline is None or group is baseline:
                continue
            for measure in PAIRED_MEASURES:
                mine = by_seed(group.runs, measure, until, metric)
                theirs = by_seed(baseline.runs, measure, until, metric)
                seeds = sorted(set(mine) & set(theirs))
                if not seeds:
                    continue
                value = mean_std([mine[s] for s in seeds])
                base = mean_std([theirs[s] for s in seeds])
                differences = [mine[s] - theirs[s] for s in seeds]
                diff = mean_std(differences)
                row: dict = {"context": context} if context else {}
                row.update(strategy=group.strategy, method=group.method, measure=measure)
                row.update(seeds=seeds, mean=value[0], std=value[1], baseline=name)
                row.update(baseline_mean=base[0], baseline_std=base[1])
                row.update(differences=differences, diff_mean=diff[0], diff_std=diff[1])
                row["wins"] = sum(d > 0 for d in differences)
                row["apart"] = len(seeds) > 1 and abs(diff[0]) > value[1] + base[1]
                rows.append(row)
    return rows


def format_paired_rows(rows: list[dict]) -> list[dict]:
    """The paired table as people read it."""
    out = []
    for row in rows:
        text = {k: row[k] for k in ("context", "strategy", "method", "measure") if k in row}
        text["seeds"] = len(row["seeds"])
        text["value"] = _mean_pm(row["mean"], row["std"], 3)
        text[row["baseline"]] = _mean_pm(row["baseline_mean"], row["baseline_std"], 3)
        text["difference by seed"] = ", ".join(
            f"{seed}: {d:+.3f}" for seed, d in zip(row["seeds"], row["differences"], strict=True)
        )
        text["difference"] = f"{row['diff_mean']:+.3f} ± {row['diff_std']:.3f}"
        text["wins"] = f"{row['wins']}/{len(row['seeds'])}"
        text["apart"] = "yes" if row["apart"] else "no"
        out.append(text)
    return out


def rare_label_share(run: RunResult) -> float | None:
    """% of the run's labelled pixels that belong to the classes its data set marks rare (None:
    no rare classes, or nothing labelled)."""
    counts = np.asarray(run.labelled_per_class, dtype=float)
    rare = [run.classes.index(c) for c in run.rare_classes if c in run.classes]
    if not rare or len(counts) != len(run.classes) or counts.sum() == 0:
        return None
    return float(100 * counts[rare].sum() / counts.sum())


def rare_class_finals(runs: Sequence[RunResult]) -> dict[str, tuple[float, float]]:
    """Final IoU (mean, std over seeds) of each class the runs' data set marks rare; a class
    absent from a run's classes is left out."""
    out = {}
    for name in dict.fromkeys(c for run in runs for c in run.rare_classes):
        finals = [
            float(run.curve(f"iou:{run.classes.index(name)}")[1][-1])
            for run in runs
            if name in run.classes
        ]
        finals = [v for v in finals if not np.isnan(v)]
        if finals:
            out[name] = mean_std(finals)
    return out


def _mean_pm(mean: float | None, std: float | None, digits: int) -> str | None:
    return None if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_group_rows(rows: list[dict], levels: Sequence[float] = LEVELS) -> list[dict]:
    """The table as people read it: 'mean ± std', 'k/n' when not every seed got there."""
    out = []
    for row in rows:
        text = {k: row[k] for k in ("context", "strategy", "method", "seeds") if k in row}
        text["final"] = _mean_pm(row["final_mean"], row["final_std"], 3)
        pct_full = _mean_pm(row.get("pct_full_mean"), row.get("pct_full_std"), 1)
        text["pct_full"] = None if pct_full is None else f"{pct_full} %"
        refit = _mean_pm(row.get("final_refit_mean"), row.get("final_refit_std"), 3)
        if refit is not None:
            text["final_refit"] = refit
            share = _mean_pm(row.get("pct_full_refit_mean"), row.get("pct_full_refit_std"), 1)
            text["pct_full_refit"] = None if share is None else f"{share} %"
        for level in levels:
            key = _level_key(level)
            cell = _mean_pm(row[f"{key}_mean"], row[f"{key}_std"], 0)
            scored = row.get(f"{key}_scored", row["seeds"])  # seeds with a reference
            if scored and row[f"{key}_reached"] < scored:
                cell = f"{cell or 'not reached'} ({row[f'{key}_reached']}/{scored})"
            text[key] = cell
        for level in levels:
            pct = row.get(f"{_level_key(level)}_pct_pool")
            if pct is not None:
                text[f"pct_pool_{round(level * 100)}pct"] = (
                    f"{pct:.2g} %" if pct < 10 else f"{pct:.0f} %"
                )
        text["auc"] = _mean_pm(row["auc_mean"], row["auc_std"], 3)
        rare = _mean_pm(row.get("rare_labels_mean"), row.get("rare_labels_std"), 1)
        if rare is not None:
            text["rare_labels"] = f"{rare} %"
        for key in (k for k in row if k.startswith("iou_") and k.endswith("_mean")):
            text[key[: -len("_mean")]] = _mean_pm(row[key], row[key[:-5] + "_std"], 3)
        cpu = _mean_pm(row.get("cpu_min_mean"), row.get("cpu_min_std"), 1)
        if cpu is not None:
            text["cpu_min"] = cpu
        for level in levels:
            ratio = row[f"savings_{round(level * 100)}pct"]
            text[f"vs_random_{round(level * 100)}pct"] = None if ratio is None else f"{ratio:.2f}x"
        out.append(text)
    return out
