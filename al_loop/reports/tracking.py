"""Optional MLflow logging of stored runs, for users who track experiments there.

Each run becomes one MLflow run: its config flattened into params, and per evaluated round the
metrics at ``step`` = cumulative labelling seconds (so MLflow's own chart of a metric against
its step is the budget curve), plus the round index and the share of full supervision. Logging
again replaces the MLflow run of the same run folder (tag ``al_loop.run_dir``), so re-reporting a
resumed sweep does not duplicate anything.

Default store: a local file store in the report folder (``file:<out>/mlruns``; MLflow 3 keeps it
in maintenance mode, so we opt in explicitly). Any tracking URI MLflow takes works too
(``sqlite:///mlflow.db`` with the full ``mlflow`` package, ``http://127.0.0.1:5000``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from al_loop.core.errors import ConfigError
from al_loop.reports.runs import RunResult

RUN_TAG = "al_loop.run_dir"


def flat_params(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested config -> {'segmenter.epochs': '4', ...} (MLflow params are strings)."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(flat_params(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


def round_metrics(run: RunResult) -> list[tuple[int, dict[str, float]]]:
    """(step = cumulative seconds, metrics) per evaluated round."""
    full = run.full_miou
    steps = []
    for record in run.evaluated:
        metrics = {"miou": float(record.metrics["miou"]), "round": float(record.round)}
        metrics["units"] = float(record.n_annotated)
        if full:
            metrics["pct_full"] = 100 * metrics["miou"] / full
        for name, iou in zip(run.classes, record.metrics.get("per_class_iou") or [], strict=False):
            if iou is not None:
                metrics[f"iou_{name}"] = float(iou)
        steps.append((round(record.seconds_total), metrics))
    return steps


def log_runs(runs: Sequence[RunResult], tracking_uri: str, experiment: str) -> str:
    """Log every run to MLflow; returns the tracking URI used."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            "--mlflow: MLflow is not installed (pip install 'al-loop[mlflow]')"
        ) from None
    if tracking_uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = mlflow.set_experiment(experiment).experiment_id
    client = mlflow.MlflowClient()
    for run in runs:
        run_dir = str(Path(run.path).resolve())
        for old in client.search_runs(
            [experiment_id], filter_string=f"tags.`{RUN_TAG}` = '{run_dir}'"
        ):
            client.delete_run(old.info.run_id)
        with mlflow.start_run(run_name=run.path.name, tags={RUN_TAG: run_dir}):
            mlflow.log_params(flat_params(run.config))
            if run.full_miou:
                mlflow.log_metric("full_supervision_miou", run.full_miou)
            for step, metrics in round_metrics(run):
                mlflow.log_metrics(metrics, step=step)
    return tracking_uri
