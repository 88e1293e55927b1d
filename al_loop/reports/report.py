"""Budget curves and tables from stored runs: a metric against cumulative labelling seconds.

Runs are grouped by what they compare: a **strategy** (``strategy.name`` plus any strategy
setting that varies between the runs), an interactive **method** (``annotation.method`` plus any
annotation setting that varies), and a **context** (every other config value that varies, e.g.
the dataset; one panel each). Seeds are repetitions: a group's curve is their mean on a common
seconds grid with a band over seeds (``BANDS``): the standard error by default, because with the
2-3 seeds of a typical sweep a 95 % Student-t band is 12.7x / 2.5x as wide and hides the curves;
``ci95`` draws it when there are seeds enough.

Outputs of :func:`write_report`: ``budget_curve.png``, ``report.html`` (Plotly when installed,
else the PNG inline), ``report.md``, ``rounds.csv`` (every round of every run), ``runs.csv``
(one row per run) and ``groups.csv`` (one row per strategy x method: seconds to reach 80/90/95 %
of full supervision as mean and std over seeds, area under the curve, savings vs random).
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from al_loop.core.errors import AlLoopError, ConfigError
from al_loop.core.store import STORE_FILE, LabelStore, RoundRecord

MANIFEST_FILE = "sweep.json"  # written by al_loop.sweeps.sweep: the sweep's runs, in order
LEVELS = (0.8, 0.9, 0.95)  # fractions of full-supervision mIoU reported in the tables
BASELINE = "random"  # savings are measured against this strategy at the same method
# Config keys that differ between runs without changing what is compared.
REPETITION_KEYS = ("name", "seed", "threads", "device")
LINE_STYLES = ("-", "--", ":", "-.")
PLOTLY_DASHES = ("solid", "dash", "dot", "dashdot")
BAND_LEVEL = 0.95
# How the shaded band around a group's mean curve is drawn (over seeds).
BANDS = {
    "ci95": "95 % confidence band of the mean (Student t)",
    "sem": "mean ± standard error (about a 68 % confidence band)",
    "std": "mean ± standard deviation",
    "minmax": "range over seeds",
}


@dataclass
class RunResult:
    path: Path
    config: dict
    rounds: list[RoundRecord]
    reference: dict | None
    classes: list[str]

    @property
    def strategy(self) -> str:
        return self.config["strategy"]["name"]

    @property
    def method(self) -> str:
        return self.config["annotation"]["method"]

    @property
    def label(self) -> str:
        return f"{self.strategy} / {self.method}"

    @property
    def evaluated(self) -> list[RoundRecord]:
        return [r for r in self.rounds if r.status == "evaluated"]

    def curve(self, metric: str = "miou") -> tuple[np.ndarray, np.ndarray]:
        rounds = self.evaluated
        seconds = np.array([r.seconds_total for r in rounds], dtype=float)
        values = np.array([_metric(r.metrics, metric) for r in rounds], dtype=float)
        return seconds, values

    def full(self, metric: str = "miou") -> float | None:
        """The full-supervision value of ``metric`` (None: no reference, or the class is absent)."""
        if self.reference is None:
            return None
        value = _metric(self.reference, metric)
        return None if np.isnan(value) or value <= 0 else value

    @property
    def full_miou(self) -> float | None:
        return self.full("miou")


def _metric(metrics: dict, metric: str) -> float:
    """``miou`` (or another scalar metric) or ``iou:<class index>`` (per-class IoU)."""
    if metric.startswith("iou:"):
        values = metrics.get("per_class_iou") or []
        index = int(metric[4:])
        value = values[index] if index < len(values) else None
    else:
        value = metrics.get(metric)
    return float("nan") if value is None else float(value)


def resolve_metric(metric: str, class_: str | None, classes: Sequence[str]) -> str:
    """The metric key for ``--metric`` / ``--class``: a class name or index -> ``iou:<index>``."""
    if class_ is None:
        return metric
    if class_ in classes:
        return f"iou:{list(classes).index(class_)}"
    if class_.isdigit() and int(class_) < len(classes):
        return f"iou:{int(class_)}"
    raise ConfigError(f"--class {class_}: not a class of these runs ({', '.join(classes)})")


def metric_label(metric: str, classes: Sequence[str]) -> str:
    if metric.startswith("iou:"):
        index = int(metric[4:])
        return f"iou_{classes[index] if index < len(classes) else index}"
    return metric


def load_run(run_dir: str | Path) -> RunResult:
    run_dir = Path(run_dir)
    store_path = run_dir / STORE_FILE
    if not store_path.is_file():
        raise AlLoopError(f"{store_path}: no stored run here")
    with LabelStore(store_path, read_only=True) as store:
        config = json.loads(store.get_meta("config", "{}"))
        reference = store.get_meta("full_supervision")
        classes = json.loads(store.get_meta("classes", "[]"))
        return RunResult(
            run_dir,
            config,
            store.rounds(),
            None if reference is None else json.loads(reference),
            classes,
        )


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders: each path is a run, or a folder of runs (a sweep's, in its listed order)."""
    found: list[Path] = []
    for given in map(Path, paths):
        if (given / STORE_FILE).is_file():
            found.append(given)
            continue
        manifest = given / MANIFEST_FILE
        listed = []
        if manifest.is_file():
            names = [run["name"] for run in json.loads(manifest.read_text())["runs"]]
            listed = [given / n for n in names if (given / n / STORE_FILE).is_file()]
        listed = listed or sorted(p.parent for p in given.glob(f"*/{STORE_FILE}"))
        if not listed:
            raise AlLoopError(f"{given}: no {STORE_FILE} in it or in its subfolders")
        found += listed
    return found


# -- the numbers ------------------------------------------------------------------------------
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
    keys = sorted({k for f in flat for k in f})
    varying = [
        k
        for k in keys
        if len({f.get(k) for f in flat}) > 1 and k.split(".")[0] not in REPETITION_KEYS
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
    for run, f in zip(runs, flat, strict=True):
        extra_s, extra_m = describe(f, "strategy."), describe(f, "annotation.")
        strategy = run.strategy + (f" ({extra_s})" if extra_s else "")
        method = run.method + (f" ({extra_m})" if extra_m else "")
        context = ", ".join(
            f"{k}={json.loads(f.get(k, 'null'))}"
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


def summary_rows(runs: list[RunResult], metric: str = "miou") -> list[dict]:
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
        full = run.full(metric)
        if full:
            row[f"full_{name}"] = round(full, 4)
            for level in LEVELS:
                reached = seconds_to_reach(seconds, values, level * full)
                row[_level_key(level)] = None if reached is None else round(reached, 1)
        rows.append(row)
    return rows


def group_rows(runs: list[RunResult], metric: str = "miou") -> list[dict]:
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
            for level in LEVELS:
                reached = [
                    seconds_to_reach(s, v, level * run.full(metric))
                    for run, s, v in curves
                    if run.full(metric)
                ]
                hits = [x for x in reached if x is not None]
                mean, std = mean_std(hits) if hits else (None, None)
                key = _level_key(level)
                row.update({f"{key}_mean": mean, f"{key}_std": std, f"{key}_reached": len(hits)})
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
        for level in LEVELS:
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


def _mean_pm(mean: float | None, std: float | None, digits: int) -> str | None:
    return None if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_group_rows(rows: list[dict]) -> list[dict]:
    """The table as people read it: 'mean ± std', 'k/n' when not every seed got there."""
    out = []
    for row in rows:
        text = {k: row[k] for k in ("context", "strategy", "method", "seeds") if k in row}
        text["final"] = _mean_pm(row["final_mean"], row["final_std"], 3)
        for level in LEVELS:
            key = _level_key(level)
            cell = _mean_pm(row[f"{key}_mean"], row[f"{key}_std"], 0)
            if row[f"{key}_reached"] < row["seeds"]:
                cell = f"{cell or 'not reached'} ({row[f'{key}_reached']}/{row['seeds']})"
            text[key] = cell
        text["auc"] = _mean_pm(row["auc_mean"], row["auc_std"], 3)
        for level in LEVELS:
            ratio = row[f"savings_{round(level * 100)}pct"]
            text[f"vs_random_{round(level * 100)}pct"] = None if ratio is None else f"{ratio:.2f}x"
        out.append(text)
    return out


# -- the figures ------------------------------------------------------------------------------
@dataclass
class Curve:
    """What one group draws: raw points for one seed, or mean and band on a common grid."""

    seconds: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int


def group_curve(
    group: Group, metric: str, log_x: bool = False, band: str = "sem", points: int = 60
) -> Curve | None:
    curves = [run.curve(metric) for run in group.runs if run.evaluated]
    curves = [(s, v) for s, v in curves if not np.isnan(v).all()]
    if not curves:
        return None
    if len(curves) == 1:
        seconds, values = curves[0]
        return Curve(seconds, values, values, values, 1)
    start, stop = max(s[0] for s, _ in curves), min(s[-1] for s, _ in curves)
    spacing = np.geomspace if log_x and start > 0 else np.linspace
    grid = spacing(start, stop, points) if stop > start else np.array([start])
    mean, low, high = mean_band(np.stack([np.interp(grid, s, v) for s, v in curves]), band)
    if all(v.min() >= 0 and v.max() <= 1 for _, v in curves):  # IoU-like: keep the band in [0, 1]
        low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
    return Curve(grid, mean, low, high, len(curves))


def value_range(curves: Sequence[Curve], full: float | None) -> tuple[float, float]:
    """The axis range: mean curves and the full-supervision line (a wide band of few seeds
    must not squash the curves), padded, within [0, 1] for IoU-like values."""
    values = [v for c in curves for v in c.mean] + ([full] if full else [])
    low, high = min(values), max(values)
    pad = 0.08 * (high - low or 1.0)
    bounded = low >= 0 and high <= 1
    return (max(0.0, low - pad), min(1.0, high + pad)) if bounded else (low - pad, high + pad)


def _styles(groups: Sequence[Group]) -> tuple[dict[str, int], dict[str, int]]:
    strategies = sorted({g.strategy for g in groups}, key=lambda s: (s != BASELINE, s))
    methods = sorted({g.method for g in groups})
    return {s: i for i, s in enumerate(strategies)}, {m: i for i, m in enumerate(methods)}


def _full_value(groups: Sequence[Group], metric: str) -> float | None:
    fulls = [run.full(metric) for g in groups for run in g.runs if run.full(metric)]
    return float(np.mean(fulls)) if fulls else None


def _axis_label(metric: str, classes: Sequence[str]) -> str:
    if metric == "miou":
        return "validation mIoU"
    if metric.startswith("iou:"):
        return f"validation IoU of class '{metric_label(metric, classes)[4:]}'"
    return f"validation {metric}"


def panel_curves(members, colour: dict, dash: dict, metric: str, log_x: bool, band: str) -> list:
    """(group, curve) for one panel in drawing order (by colour, then line style); groups with
    nothing evaluated are left out. Shared by the PNG and the HTML figure."""
    ordered = sorted(members, key=lambda g: (colour[g.strategy], dash[g.method]))
    pairs = [(group, group_curve(group, metric, log_x, band)) for group in ordered]
    return [(group, curve) for group, curve in pairs if curve is not None]


def plot_seconds_per_unit(runs: list[RunResult], path: str | Path) -> Path:
    """Seconds per annotated unit by round, mean over seeds, one line per group and panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = group_runs(runs)
    contexts = _contexts(groups)
    colour, dash = _styles(groups)
    palette = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(
        1, max(1, len(contexts)), figsize=(6 * max(1, len(contexts)), 4), dpi=120, squeeze=False
    )
    for ax, (context, members) in zip(axes[0], contexts.items(), strict=False):
        for group in sorted(members, key=lambda g: (colour[g.strategy], dash[g.method])):
            per_round: dict[int, list[float]] = defaultdict(list)
            for run in group.runs:
                for r, value in zip(run.evaluated, seconds_per_unit(run), strict=True):
                    if value is not None:
                        per_round[r.round].append(value)
            if not per_round:
                continue
            rounds = sorted(per_round)
            ax.plot(
                rounds,
                [np.mean(per_round[r]) for r in rounds],
                marker="o",
                ms=3,
                color=palette[colour[group.strategy] % len(palette)],
                ls=LINE_STYLES[dash[group.method] % len(LINE_STYLES)],
                label=group.label,
            )
        ax.set_xlabel("round")
        ax.set_ylabel("labelling seconds per unit")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("Cost per unit by round" + (f"\n{context}" if context else ""), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_budget_curves(
    runs: list[RunResult],
    path: str | Path,
    metric: str = "miou",
    log_x: bool = False,
    band: str = "sem",
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    groups = group_runs(runs)
    contexts = _contexts(groups)
    colour, dash = _styles(groups)
    palette = plt.get_cmap("tab10").colors
    classes = runs[0].classes if runs else []
    fig, axes = plt.subplots(
        1, max(1, len(contexts)), figsize=(7.5 * max(1, len(contexts)), 4.8), dpi=120, squeeze=False
    )
    for ax, (context, members) in zip(axes[0], contexts.items(), strict=False):
        panel = panel_curves(members, colour, dash, metric, log_x, band)
        drawn = [curve for _, curve in panel]
        for group, curve in panel:
            style = {
                "color": palette[colour[group.strategy] % len(palette)],
                "ls": LINE_STYLES[dash[group.method] % len(LINE_STYLES)],
            }
            if curve.seeds == 1:
                ax.plot(curve.seconds, curve.mean, marker="o", ms=3, label=group.label, **style)
                continue
            ax.plot(curve.seconds, curve.mean, label=f"{group.label} (n={curve.seeds})", **style)
            ax.fill_between(curve.seconds, curve.low, curve.high, color=style["color"], alpha=0.15)
        full = _full_value(members, metric)
        if full:
            ax.axhline(full, color="k", ls="--", lw=1, label=f"full supervision ({full:.3f})")
            right = ax.secondary_yaxis(
                "right", functions=(lambda y, f=full: 100 * y / f, lambda p, f=full: p * f / 100)
            )
            right.set_ylabel("% of full supervision")
        if drawn:
            ax.set_ylim(*value_range(drawn, full))
        ax.set_xlabel("cumulative labelling cost (s)" + (", log scale" if log_x else ""))
        ax.set_ylabel(_axis_label(metric, classes))
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 200, not 2x10^2
            ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
        title = f"Budget curve: mean, band = {BANDS[band]}"
        ax.set_title(title + (f"\n{context}" if context else ""), fontsize=10)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def plotly_figure(
    runs: list[RunResult], metric: str = "miou", log_x: bool = False, band: str = "sem"
):
    """The same panels as the PNG, interactive (hover shows seconds and values)."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    groups = group_runs(runs)
    contexts = _contexts(groups)
    colour, dash = _styles(groups)
    classes = runs[0].classes if runs else []
    fig = make_subplots(
        rows=1,
        cols=max(1, len(contexts)),
        subplot_titles=[c or "" for c in contexts] or [""],
        specs=[[{"secondary_y": True}] * max(1, len(contexts))],
    )
    palette = qualitative.D3
    for col, (_context, members) in enumerate(contexts.items(), start=1):
        panel = panel_curves(members, colour, dash, metric, log_x, band)
        drawn = [curve for _, curve in panel]
        for group, curve in panel:
            rgb = palette[colour[group.strategy] % len(palette)]
            name = group.label + (f" (n={curve.seeds})" if curve.seeds > 1 else "")
            line = {"color": rgb, "dash": PLOTLY_DASHES[dash[group.method] % len(PLOTLY_DASHES)]}
            if curve.seeds > 1:
                fig.add_scatter(
                    x=np.concatenate([curve.seconds, curve.seconds[::-1]]),
                    y=np.concatenate([curve.high, curve.low[::-1]]),
                    fill="toself",
                    fillcolor=_rgba(rgb, 0.15),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=group.label,
                    row=1,
                    col=col,
                )
            fig.add_scatter(
                x=curve.seconds,
                y=curve.mean,
                name=name,
                mode="lines" if curve.seeds > 1 else "lines+markers",
                line=line,
                legendgroup=group.label,
                showlegend=col == 1,
                row=1,
                col=col,
            )
        full = _full_value(members, metric)
        low, high = value_range(drawn, full) if drawn else (0.0, 1.0)
        fig.update_yaxes(range=[low, high], row=1, col=col, secondary_y=False)
        if full and drawn:
            fig.add_hline(
                y=full,
                line={"color": "black", "dash": "dash", "width": 1},
                annotation_text=f"full supervision {full:.3f}",
                row=1,
                col=col,
            )
            # The right axis: the same range in % of full supervision.
            fig.add_scatter(
                x=[drawn[0].seconds[0]],
                y=[100.0],
                opacity=0,
                showlegend=False,
                hoverinfo="skip",
                row=1,
                col=col,
                secondary_y=True,
            )
            fig.update_yaxes(
                range=[100 * low / full, 100 * high / full],
                title_text="% of full supervision",
                tickformat=".0f",
                showgrid=False,
                row=1,
                col=col,
                secondary_y=True,
            )
        fig.update_yaxes(title_text=_axis_label(metric, classes), row=1, col=col, secondary_y=False)
        fig.update_xaxes(
            title_text="cumulative labelling cost (s)",
            type="log" if log_x else "linear",
            row=1,
            col=col,
        )
    fig.update_layout(
        title=f"Budget curves: mean, band = {BANDS[band]}",
        template="plotly_white",
        height=520,
        width=max(900, 650 * len(contexts)),
    )
    return fig


def _rgba(colour: str, alpha: float) -> str:
    if colour.startswith("#"):
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"rgba({r},{g},{b},{alpha})"
    return colour.replace("rgb(", "rgba(").replace(")", f",{alpha})")


# -- the files --------------------------------------------------------------------------------
def write_csv(rows: list[dict], path: Path) -> Path:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(no evaluated rounds)\n"
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append(
            "| " + " | ".join("" if row.get(k) is None else str(row.get(k)) for k in keys) + " |"
        )
    return "\n".join(lines) + "\n"


def html_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(no evaluated rounds)</p>"
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{'' if row.get(k) is None else html.escape(str(row.get(k)))}</td>" for k in keys
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


GROUP_NOTE = (
    "`s_to_Npct`: cumulative labelling seconds at the first round whose value reaches N % of "
    "full supervision (same model trained on every pool label), mean ± std over seeds; (k/n): "
    "only k of n seeds got there, the mean is over those. `auc`: mean value over the budget "
    "range every run reached. `vs_random_Npct`: seconds random needs / seconds this strategy "
    "needs with the same method (above 1: it saves labelling time), when every seed of both "
    "reached the level."
)

HTML_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }}
th {{ background: #f4f4f4; }} td:first-child, th:first-child {{ text-align: left; }}
.note {{ color: #555; max-width: 60em; }}
</style></head><body>
<h1>{title}</h1>
<p>{intro}</p>
{figure}
<h2>Strategies x methods</h2>
{groups}
<p class="note">{note}</p>
<h2>Runs</h2>
{runs}
<p class="note">Every round of every run: <a href="rounds.csv">rounds.csv</a>; these tables:
<a href="groups.csv">groups.csv</a>, <a href="runs.csv">runs.csv</a>; static figure:
<a href="budget_curve.png">budget_curve.png</a>.</p>
</body></html>
"""


def write_html(
    runs: list[RunResult],
    path: Path,
    png: Path,
    groups: list[dict],
    summary: list[dict],
    intro: str,
    metric: str = "miou",
    log_x: bool = False,
    band: str = "sem",
) -> Path:
    try:
        figure = plotly_figure(runs, metric, log_x, band).to_html(
            full_html=False, include_plotlyjs=True
        )
    except ImportError:  # plotly is optional (pip install 'al-loop[report]'): show the PNG
        data = base64.b64encode(png.read_bytes()).decode()
        figure = f'<img alt="budget curve" src="data:image/png;base64,{data}">'
    path.write_text(
        HTML_PAGE.format(
            title="Budget-curve report",
            intro=html.escape(intro),
            figure=figure,
            groups=html_table(groups),
            note=html.escape(GROUP_NOTE.replace("`", "")),
            runs=html_table(summary),
        )
    )
    return path


def write_report(
    runs: list[RunResult],
    out_dir: str | Path,
    log_x: bool = False,
    metric: str = "miou",
    html_report: bool = True,
    band: str = "sem",
) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = round_rows(runs)
    summary = summary_rows(runs, metric)
    groups = group_rows(runs, metric)
    table = format_group_rows(groups)
    paths = {
        "curve": plot_budget_curves(runs, out_dir / "budget_curve.png", metric, log_x, band),
        "per_unit": plot_seconds_per_unit(runs, out_dir / "seconds_per_unit.png"),
        "rounds": write_csv(rows, out_dir / "rounds.csv"),
        "runs": write_csv(summary, out_dir / "runs.csv"),
        "groups": write_csv(groups, out_dir / "groups.csv"),
    }
    classes = runs[0].classes if runs else []
    fulls = sorted({round(f, 4) for r in runs if (f := r.full(metric))})
    intro = f"{len(runs)} runs; metric: {_axis_label(metric, classes)}."
    if fulls:
        intro += f" Full supervision (same model, every pool label): {', '.join(map(str, fulls))}."
    text = ["# Budget-curve report\n\n", intro + "\n"]
    text += ["\n![budget curve](budget_curve.png)\n", "\n## Strategies x methods\n\n"]
    text += [markdown_table(table), "\n" + GROUP_NOTE + "\n"]
    text += ["\n## Summary\n\n", markdown_table(summary)]
    text += ["\n![seconds per unit by round](seconds_per_unit.png)\n"]
    text += [
        "\n## Rounds\n\n",
        markdown_table([{k: v for k, v in r.items() if k != "run"} for r in rows]),
    ]
    paths["report"] = out_dir / "report.md"
    paths["report"].write_text("".join(text))
    if html_report:
        paths["html"] = write_html(
            runs,
            out_dir / "report.html",
            paths["curve"],
            table,
            summary,
            intro,
            metric,
            log_x,
            band,
        )
    return paths
