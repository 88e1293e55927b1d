"""One run of a sweep, in a worker process or in-process: resumable, failure-isolated.

Each run lives in ``SWEEP_DIR/<name>/``: ``store.sqlite`` and ``config.yaml`` as written by
``al-loop run``, ``log.txt`` (the run's own log lines) and ``status.json`` (state running / done /
failed, error, attempts, wall seconds, final numbers). ``references/`` caches full-supervision
references shared by runs that only differ in strategy or method (the same numbers each run
would compute alone).

Resume and skip decisions hold a per-run file lock (``.lock``, released by the OS when the
process dies): a run whose status is ``done`` under the same config is skipped, a run locked by
another live sweep is left to it, anything else resumes from its store. The thread count is part
of each run's config, not derived from ``--workers``, because the curve depends on it: the same
run gives the same curve with any number of workers, alone or under ``al-loop run``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import yaml
from filelock import FileLock, Timeout

from al_loop.core.config import ExperimentConfig, parse_config, run_identity
from al_loop.core.experiment import Budget
from al_loop.core.store import STORE_FILE, LabelStore

DEFAULT_BACKEND = (
    "al_loop.wiring.build"  # module with load_splits, full_supervision_reference, run_experiment
)
STATUS_FILE = "status.json"
LOG_FILE = "log.txt"
LOCK_FILE = ".lock"
REFERENCE_DIR = "references"
# Config sections a full-supervision reference depends on (not strategy or annotation; the
# budget sets its minimum steps, see al_loop.wiring.build.reference_min_steps).
# What a full-supervision reference depends on; the budget only through its rounds (below).
REFERENCE_KEYS = ("seed", "device", "threads", "dataset", "segmenter", "full_supervision")
# Earlier versions keyed references by the whole budget.
EARLIER_REFERENCE_KEYS = (*REFERENCE_KEYS, "budget")


# -- one run, in a worker or in-process -------------------------------------------------------
class Backend(Protocol):
    """What a sweep needs from the wiring (``al_loop.wiring.build``; tests pass fakes)."""

    def load_splits(self, config: ExperimentConfig): ...
    def full_supervision_reference(
        self, config: ExperimentConfig, splits, checkpoint: Path | None = None
    ) -> dict: ...
    def run_experiment(self, config: ExperimentConfig, run_dir, **kwargs) -> list: ...


@dataclass(frozen=True)
class RunJob:
    """Everything a worker needs, as plain picklable values."""

    name: str
    run_dir: str
    params: dict[str, Any]
    config: dict[str, Any]
    config_hash: str
    threads: int
    reference_dir: str
    backend: str = DEFAULT_BACKEND


@dataclass(frozen=True)
class RunOutcome:
    name: str
    state: str  # done | failed | skipped | busy
    error: str | None = None
    wall_seconds: float = 0.0
    rounds: int = 0
    seconds_total: float | None = None
    final_miou: float | None = None


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def run_hash(config: dict[str, Any]) -> str:
    """A run's identity as a short hash: keys at their default do not count (run_identity)."""
    return config_hash(run_identity(config))


def read_status(run_dir: str | Path) -> dict | None:
    path = Path(run_dir) / STATUS_FILE
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps(data, indent=1, sort_keys=False))
    os.replace(partial, path)  # atomic: a kill never leaves half a file


def is_done(status: dict | None, job: RunJob) -> bool:
    """Finished under the same settings. A status written by an older version (its hash
    covered every key, defaults included) is checked against the run's own config.yaml."""
    if not status or status.get("state") != "done":
        return False
    if status.get("config_hash") == job.config_hash:
        return True
    stored = _read_yaml(Path(job.run_dir) / "config.yaml")
    return stored is not None and run_identity(stored) == run_identity(job.config)


def _read_yaml(path: Path) -> dict | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _file_log(path: Path) -> Callable[[str], None]:
    def log(message: str) -> None:
        with open(path, "a") as f:
            f.write(f"{_now()} {message}\n")

    return log


def pin_threads(threads: int) -> None:
    """This process's share of the CPU: torch and OpenCV pools (Ray also sets OMP_NUM_THREADS)."""
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def reference_key(config: dict[str, Any]) -> str:
    """Runs with the same key share one full-supervision reference. The budget counts only
    through its number of rounds (the reference's least training follows it; see
    ``reference_min_steps``), so a sweep over budgets with equal rounds shares one 100 % line."""
    identity = run_identity(config)
    keyed = {k: identity[k] for k in REFERENCE_KEYS if k in identity}
    return config_hash({**keyed, "rounds": planned_rounds(config)})


def planned_rounds(config: dict[str, Any]) -> int:
    """The budget's rounds, with the schema's defaults for keys the dict leaves out."""
    budget = parse_config(config).budget
    return Budget(budget.initial_seconds, budget.round_seconds, budget.total_seconds).rounds


def earlier_reference_keys(config: dict[str, Any]) -> list[str]:
    """Keys references had in earlier versions, newest first, so cached references stay found:
    the whole budget keyed, then every key (before keys at their default stopped counting)."""
    identity = run_identity(config)
    return [
        config_hash({k: identity[k] for k in EARLIER_REFERENCE_KEYS if k in identity}),
        config_hash({k: config.get(k) for k in EARLIER_REFERENCE_KEYS}),
    ]


def shared_reference(backend: Backend, config: ExperimentConfig, splits, folder: Path) -> dict:
    """The full-supervision reference, computed once per (data, model, seed) and cached: the first
    worker computes it under a lock, the others wait and read it."""
    as_dict = config.to_dict()
    key = reference_key(as_dict)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    earlier = [folder / f"{k}.json" for k in earlier_reference_keys(as_dict)]
    with FileLock(folder / f"{key}.lock"):
        if path.is_file():
            return json.loads(path.read_text())
        for cached in earlier:
            if cached.is_file():  # kept, for the older versions that may still read it
                reference = json.loads(cached.read_text())
                _write_json(path, reference)
                return reference
        # a reference of many epochs outlives a killed sweep: it resumes from its checkpoint
        checkpoint = folder / f"{key}.checkpoint.pt"
        reference = backend.full_supervision_reference(config, splits, checkpoint=checkpoint)
        _write_json(path, reference)
        checkpoint.unlink(missing_ok=True)
        return reference


def execute_run(job: RunJob) -> RunOutcome:
    """Run or resume one experiment of a sweep; never raises for the run's own errors."""
    run_dir = Path(job.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return RunOutcome(job.name, "busy", error="another sweep process holds this run")
    try:
        status = read_status(run_dir)
        if is_done(status, job):
            try:
                attach_missing_reference(job, run_dir)
            except Exception as err:  # the run itself stays as it was
                return RunOutcome(job.name, "failed", f"reference: {type(err).__name__}: {err}")
            return RunOutcome(job.name, "skipped", **_numbers(status))
        return _execute_locked(job, run_dir, (status or {}).get("attempts", 0) + 1)
    finally:
        lock.release()


def lacks_reference(job: RunJob) -> bool:
    """The job asks for a full-supervision reference that its run's store does not hold (the
    run was made with ``full_supervision.enabled: false``, e.g. to save its CPU)."""
    store_path = Path(job.run_dir) / STORE_FILE
    if not job.config.get("full_supervision", {}).get("enabled", True) or not store_path.is_file():
        return False
    with LabelStore(store_path, read_only=True) as store:
        return store.get_meta("full_supervision") is None


def attach_missing_reference(job: RunJob, run_dir: Path) -> bool:
    """A finished run that lacks the reference the sweep now asks for gets the shared one,
    computed or read from ``references/`` and stored in the run's store; its rounds are not
    touched."""
    if not lacks_reference(job):
        return False
    config = parse_config(job.config, origin=f"{run_dir}/config")
    backend: Backend = importlib.import_module(job.backend)
    splits = backend.load_splits(config)
    reference = shared_reference(backend, config, splits, Path(job.reference_dir))
    with LabelStore(run_dir / STORE_FILE) as store:
        store.set_meta("full_supervision", json.dumps(reference))
    _file_log(run_dir / LOG_FILE)("attached the full-supervision reference")
    return True


def _numbers(status: dict) -> dict:
    keys = ("wall_seconds", "rounds", "seconds_total", "final_miou")
    return {k: status[k] for k in keys if status.get(k) is not None}


def _execute_locked(job: RunJob, run_dir: Path, attempt: int) -> RunOutcome:
    record = {
        "run": job.name,
        "params": job.params,
        "config_hash": job.config_hash,
        "attempts": attempt,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": _now(),
    }
    _write_json(run_dir / STATUS_FILE, {**record, "state": "running"})
    log = _file_log(run_dir / LOG_FILE)
    log(f"attempt {attempt} on {record['host']} (pid {record['pid']}, {job.threads} threads)")
    started = time.perf_counter()
    try:
        pin_threads(job.threads)
        backend: Backend = importlib.import_module(job.backend)
        config = parse_config(job.config, origin=f"{run_dir}/config")
        splits = backend.load_splits(config)
        reference = None
        if config.full_supervision.enabled:
            reference = shared_reference(backend, config, splits, Path(job.reference_dir))
        rounds = backend.run_experiment(
            config, run_dir, resume=True, log=log, splits=splits, reference=reference
        )
    except Exception as err:  # isolate the failure: record it, let the other runs go on
        log(traceback.format_exc())
        outcome = RunOutcome(
            job.name, "failed", f"{type(err).__name__}: {err}", time.perf_counter() - started
        )
    else:
        evaluated = [r for r in rounds if r.status == "evaluated"]
        last = evaluated[-1] if evaluated else None
        outcome = RunOutcome(
            job.name,
            "done",
            wall_seconds=time.perf_counter() - started,
            rounds=len(evaluated),
            seconds_total=None if last is None else last.seconds_total,
            final_miou=None if last is None else last.metrics["miou"],
        )
        log(f"done: {outcome.rounds} rounds in {outcome.wall_seconds:.0f} s")
    _write_json(run_dir / STATUS_FILE, {**record, **_status_fields(outcome)})
    return outcome


def _status_fields(outcome: RunOutcome) -> dict:
    fields = asdict(outcome)
    fields.pop("name")
    return {**fields, "finished_at": _now()}
