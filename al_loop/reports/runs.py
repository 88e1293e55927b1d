"""Stored runs as results: a run directory's rounds, config and full-supervision line.

``load_run`` reads one run (``store.sqlite``); ``find_runs`` expands run directories, sweep
folders (``sweep.json`` lists their runs in order) and parents of runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from al_loop.core.errors import AlLoopError, ConfigError
from al_loop.core.experiment import COMPUTE_METRICS
from al_loop.core.store import FINISHED_META, REFIT_META, STORE_FILE, LabelStore, RoundRecord

MANIFEST_FILE = "sweep.json"  # written by al_loop.sweeps.schedule: the sweep's runs, in order


@dataclass
class RunResult:
    path: Path
    config: dict
    rounds: list[RoundRecord]
    reference: dict | None
    classes: list[str]
    # what labelling the whole pool by hand costs ({"seconds", "basis", ...}): the unit of the
    # "% of labelling everything" axis (al_loop/wiring/pool_cost.py); None in older runs
    whole_pool: dict | None = None
    # classes the data set marks rare (its loader's meta): the report's per-class IoU columns
    rare_classes: list[str] = field(default_factory=list)
    # the cost table that priced the run ({"origin", "entries": {name: {"seconds", "source"}}});
    # None in older runs (priced by configs/costs.yaml then)
    costs: dict | None = None
    # what the loop stored when it ended ({"rounds", "seconds", "ended_by"}); None while it
    # runs, after a kill, and in runs of versions that did not store it
    finished_meta: dict | None = None
    # labelled pixels per class over the run's annotations (LabelStore.labelled_pixels_per_class)
    labelled_per_class: list[int] = field(default_factory=list)
    # the run's labels trained like its reference (``al-loop refit``; al_loop/wiring/refit.py):
    # {"miou", "seconds_total", ...}; None until refit
    refit: dict | None = None

    @property
    def finished(self) -> bool:
        """The loop ended (budget spent or pool exhausted). Runs of older versions count as
        finished when their last evaluated round spent the configured budget."""
        if self.finished_meta is not None:
            return True
        total = (self.config.get("budget") or {}).get("total_seconds")
        if total is None:
            return True  # nothing to compare with: taken as it is
        rounds = self.evaluated
        return bool(rounds) and rounds[-1].seconds_total >= float(total)

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

    def compute_seconds(self) -> dict[str, float] | None:
        """Wall and CPU seconds the loop's process spent on the evaluated rounds (selection,
        simulated labelling, training, evaluation; not the shared full-supervision reference).
        None unless every evaluated round measured them (runs of versions before 2026-12-05).
        A round resumed after a kill counts the attempt that finished it."""
        rounds = self.evaluated
        keys = dict(zip(("wall", "cpu"), COMPUTE_METRICS, strict=True))
        if not rounds or any(key not in r.metrics for r in rounds for key in keys.values()):
            return None
        return {name: float(sum(r.metrics[key] for r in rounds)) for name, key in keys.items()}


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
        whole_pool = json.loads(store.get_meta("whole_pool", "null"))
        rare = json.loads(store.get_meta("rare_classes", "[]"))
        costs = json.loads(store.get_meta("costs", "null"))
        finished = json.loads(store.get_meta(FINISHED_META, "null"))
        refit = json.loads(store.get_meta(REFIT_META, "null"))
        # every mask decoded: only where the report has rare classes to count
        labelled = store.labelled_pixels_per_class(len(classes)).tolist() if rare else []
        return RunResult(
            run_dir,
            config,
            store.rounds(),
            None if reference is None else json.loads(reference),
            classes,
            whole_pool,
            rare,
            costs,
            finished,
            labelled,
            refit,
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
