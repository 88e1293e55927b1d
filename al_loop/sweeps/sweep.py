"""Sweeps: a grid of simulated-user experiments, each one resumable run with its own store.

A sweep file (YAML) names a base config and the overrides that vary::

    name: sweep_demo            # default: the file's stem
    base: demo.yaml             # a config file (next to this file, then configs/) or a mapping
    threads: 1                  # CPU threads of each run; written into its config (see below)
    overrides:                  # applied to every run; dotted keys or nested mappings
      budget.total_seconds: 360
    grid:                       # every combination is one run
      strategy.name: [random, entropy]
      annotation.method: [watershed_clicks, oracle_polygon]
      seed: [0, 1]
    include:                    # optional explicit runs, each a mapping of overrides
      - {strategy.name: margin, seed: 0}

Every run is validated up front and lives in ``SWEEP_DIR/<name>/``, named by its parameters
(``strategy=random,method=watershed_clicks,seed=0``): ``store.sqlite`` and ``config.yaml`` as
written by ``al-loop run``, ``log.txt`` (the run's own log lines) and ``status.json`` (state
running / done / failed, error, attempts, wall seconds, final numbers). ``sweep.json`` lists the
runs; ``references/`` caches full-supervision references shared by runs that only differ in
strategy or method (the same numbers each run would compute alone).

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
import re
import socket
import statistics
import time
import traceback
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import product
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from al_loop.core.errors import ConfigError
from al_loop.core.paths import CONFIG_DIR
from al_loop.wiring.config import (
    ExperimentConfig,
    describe_validation_error,
    merge,
    parse_config,
    read_yaml_mapping,
)

DEFAULT_BACKEND = (
    "al_loop.wiring.build"  # module with load_splits, full_supervision_reference, run_experiment
)
STATUS_FILE = "status.json"
LOG_FILE = "log.txt"
LOCK_FILE = ".lock"
MANIFEST_FILE = "sweep.json"
REFERENCE_DIR = "references"
MAX_NAME_LENGTH = 150
# Config sections a full-supervision reference depends on (not strategy or annotation; the
# budget sets its minimum steps, see al_loop.wiring.build.reference_min_steps).
REFERENCE_KEYS = ("seed", "device", "threads", "dataset", "segmenter", "budget", "full_supervision")


# -- the sweep file -------------------------------------------------------------------------
class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    base: str | dict[str, Any] = "demo.yaml"
    threads: int = Field(1, gt=0)
    overrides: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    include: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("grid")
    @classmethod
    def _no_empty_axis(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        empty = [key for key, values in grid.items() if not values]
        if empty:
            raise ValueError(f"grid key '{empty[0]}' has no values")
        return grid


@dataclass(frozen=True)
class RunSpec:
    name: str  # directory name, from the parameters
    params: dict[str, Any]  # the grid / include overrides that make this run
    config: ExperimentConfig


@dataclass(frozen=True)
class Sweep:
    name: str
    source: str
    runs: list[RunSpec]


def load_sweep(path: str | Path) -> Sweep:
    path = Path(path)
    data = read_yaml_mapping(path, what="sweep")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, str(path))) from None
    name = spec.name or path.stem
    return Sweep(name, str(path), expand_runs(spec, base_config(spec.base, path.parent), name))


def base_config(base: str | dict[str, Any], folder: Path) -> dict[str, Any]:
    """The base config as a plain mapping: inline, or a file next to the sweep file or in configs/."""
    if isinstance(base, dict):
        return base
    candidates = [folder / base, CONFIG_DIR / base, Path(base)]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise ConfigError(
            f"base: config '{base}' not found next to the sweep file or in {CONFIG_DIR}"
        )
    return read_yaml_mapping(found)


def combinations(spec: SweepSpec) -> list[dict[str, Any]]:
    """The grid's cartesian product (first key varies slowest), then the explicit runs."""
    keys = list(spec.grid)
    grid = [dict(zip(keys, values, strict=True)) for values in product(*spec.grid.values())]
    return (grid if keys else []) + [dict(extra) for extra in spec.include] or [{}]


def expand_runs(spec: SweepSpec, base: dict[str, Any], sweep_name: str) -> list[RunSpec]:
    """Every run's validated config; a bad key or value fails here, before anything runs."""
    params_list = combinations(spec)
    labels = short_keys(list(dict.fromkeys(k for params in params_list for k in params)))
    common = merge(merge(base, {"threads": spec.threads}), spec.overrides)
    runs: list[RunSpec] = []
    seen: dict[str, dict[str, Any]] = {}
    for params in params_list:
        name = run_name(params, labels)
        if name in seen:
            raise ConfigError(
                f"sweep: runs {seen[name]} and {params} get the same name '{name}'; "
                "make their values differ or drop the duplicate"
            )
        seen[name] = params
        data = merge(merge(common, params), {"name": f"{sweep_name}/{name}"})
        runs.append(RunSpec(name, params, parse_config(data, origin=f"sweep run '{name}'")))
    return runs


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Readable labels for dotted keys: the last part, or the section for ``*.name``
    (``strategy.name`` -> ``strategy``); labels that would collide keep the full key."""

    def short(key: str) -> str:
        parts = key.split(".")
        return parts[-2] if len(parts) > 1 and parts[-1] == "name" else parts[-1]

    counts = Counter(short(k) for k in keys)
    return {k: short(k) if counts[short(k)] == 1 else k for k in keys}


# -- run names: readable, unique and reversible ----------------------------------------------
# A value's token in a run name: readable when that reads back as the same value (entropy, 3,
# -1, 0.001, true, none, 64x64, purity@0.9+max_wrong@5), else '~' + the %-escaped JSON. Strings
# are %-escaped (quote), so a token never holds ',', '=', '/', '+', '@' or a leading '~'; it
# reads back by parse_value alone, and distinct values give distinct tokens.
_INT = re.compile(r"-?\d+")
_FLOAT = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_NUMBERS = re.compile(r"-?[\d.]+(?:[eE][-+]?\d+)?(?:x-?[\d.]+(?:[eE][-+]?\d+)?)+")


def _readable(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    if isinstance(value, str):
        return quote(value, safe="")
    if isinstance(value, list | tuple) and value:
        parts = [_readable(v) for v in value]
        return "x".join(parts) if all(p is not None for p in parts) else None
    if isinstance(value, dict) and value:
        items = [(str(k), _readable(v)) for k, v in value.items()]
        if all(v is not None for _, v in items):
            return "+".join(f"{quote(k, safe='')}@{v}" for k, v in items)
    return None


def parse_value(token: str) -> Any:
    """The value a run-name token stands for (the inverse of format_value)."""
    if token.startswith("~"):
        return json.loads(unquote(token[1:]))
    if token in ("none", "true", "false"):
        return {"none": None, "true": True, "false": False}[token]
    if _INT.fullmatch(token):
        return int(token)
    if _FLOAT.fullmatch(token):
        return float(token)
    if "@" in token:
        items = (item.partition("@") for item in token.split("+"))
        return {unquote(k): parse_value(v) for k, _, v in items}
    if _NUMBERS.fullmatch(token):
        return [parse_value(t) for t in token.split("x")]
    return unquote(token)


def _same(a: Any, b: Any) -> bool:
    """Equal as config values: 600 is 600.0, but True is not 1 and a tuple is its list."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def format_value(value: Any) -> str:
    """A value as a file-name-safe token that reads back as the same value (parse_value)."""
    token = _readable(value)
    try:
        if token is not None and _same(parse_value(token), value):
            return token
    except ValueError:
        pass  # e.g. '~' opening a string that is not escaped JSON
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigError(f"sweep: value {value!r} cannot be written in a run name") from None
    return "~" + quote(text, safe="")


def run_name(params: dict[str, Any], labels: dict[str, str]) -> str:
    """``label=token,...`` in the order of ``params``; ``labels``: short_keys of the sweep."""
    name = ",".join(f"{labels[k]}={format_value(v)}" for k, v in params.items()) or "base"
    if len(name) > MAX_NAME_LENGTH:  # file names have a limit: readable head, unique digest
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        # ',~digest': a part without '=', which no full name has, so the two never meet
        name = f"{name[: MAX_NAME_LENGTH - 10]},~{digest}"
    return name


def parse_run_name(name: str, labels: dict[str, str]) -> dict[str, Any]:
    """The params a run name was made from (the inverse of run_name with the same labels);
    a ConfigError for a name run_name does not make, such as a shortened one."""
    keys = {label: key for key, label in labels.items()}
    params: dict[str, Any] = {}
    try:
        for part in [] if name == "base" else name.split(","):
            label, equals, token = part.partition("=")
            if not equals:
                raise ValueError(part)
            params[keys[label]] = parse_value(token)
    except (KeyError, ValueError):
        params = None
    if params is None or run_name(params, labels) != name:
        raise ConfigError(f"sweep: '{name}' is not a run name of this sweep (or was shortened)")
    return params


# -- durations and the deadline ---------------------------------------------------------------
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms]?)")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}


def parse_duration(text: str) -> float:
    """'8h', '30m', '90s', '1h30m', '2d' or plain seconds -> seconds."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(compact)
    if (
        not compact
        or "".join(n + u for n, u in parts) != compact
        or (len(parts) > 1 and any(u == "" for _, u in parts))
    ):
        raise ConfigError(f"--deadline {text!r}: expected a duration like 8h, 30m, 90s or 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def may_start(now: float, deadline_at: float | None, finished_walls: Sequence[float]) -> bool:
    """Start another run only if a typical run (median wall time so far) ends before the deadline."""
    if deadline_at is None:
        return True
    expected = statistics.median(finished_walls) if finished_walls else 0.0
    return now + expected < deadline_at


# -- one run, in a worker or in-process -------------------------------------------------------
class Backend(Protocol):
    """What a sweep needs from the wiring (``al_loop.wiring.build``; tests pass fakes)."""

    def load_splits(self, config: ExperimentConfig): ...
    def full_supervision_reference(self, config: ExperimentConfig, splits) -> dict: ...
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


def is_done(status: dict | None, hash_: str) -> bool:
    return bool(status) and status.get("state") == "done" and status.get("config_hash") == hash_


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
    """Runs with the same key share one full-supervision reference."""
    return config_hash({k: config[k] for k in REFERENCE_KEYS})


def shared_reference(backend: Backend, config: ExperimentConfig, splits, folder: Path) -> dict:
    """The full-supervision reference, computed once per (data, model, seed) and cached: the first
    worker computes it under a lock, the others wait and read it."""
    key = reference_key(config.to_dict())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    with FileLock(folder / f"{key}.lock"):
        if path.is_file():
            return json.loads(path.read_text())
        reference = backend.full_supervision_reference(config, splits)
        _write_json(path, reference)
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
        if is_done(status, job.config_hash):
            return RunOutcome(job.name, "skipped", **_numbers(status))
        return _execute_locked(job, run_dir, (status or {}).get("attempts", 0) + 1)
    finally:
        lock.release()


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


# -- scheduling -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunEvent:
    """What the command line shows: one line per run state."""

    run: str
    state: str  # started | done | failed | skipped | busy | deferred
    outcome: RunOutcome | None = None


@dataclass
class SweepSummary:
    sweep_dir: Path
    total: int
    outcomes: list[RunOutcome] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(o.state == state for o in self.outcomes) + (
            len(self.deferred) if state == "deferred" else 0
        )

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.state == "failed"]


class _Pool(Protocol):
    capacity: int  # CPU threads that may run at once

    def submit(self, job: RunJob) -> None: ...
    def wait_one(self) -> tuple[RunJob, RunOutcome]: ...
    def close(self) -> None: ...


class InProcessPool:
    """Runs each job when submitted, in this process: no Ray needed, same results."""

    capacity = 1

    def __init__(self) -> None:
        self._finished: deque[tuple[RunJob, RunOutcome]] = deque()

    def submit(self, job: RunJob) -> None:
        self._finished.append((job, execute_run(job)))

    def wait_one(self) -> tuple[RunJob, RunOutcome]:
        return self._finished.popleft()

    def close(self) -> None:
        pass


class RayPool:
    """Each job a Ray task in a fresh worker process holding ``job.threads`` CPUs."""

    def __init__(self, workers: int, threads: int, address: str | None = None):
        import ray

        self._ray = ray
        quiet = {"log_to_driver": False, "logging_level": "warning"}
        if address:
            ray.init(address=address, **quiet)
            self.capacity = int(ray.cluster_resources().get("CPU", threads))
        else:
            # Workers import the backend the way this process does (tests, a source checkout).
            path = os.pathsep.join(p for p in [os.getcwd(), os.environ.get("PYTHONPATH")] if p)
            # address="local": always a new cluster of our own, never a `ray start` one found on
            # the machine; its nodes talk over the loopback interface.
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                num_cpus=workers * threads,
                include_dashboard=False,
                runtime_env={"env_vars": {"PYTHONPATH": path}},
                **quiet,
            )
            self.capacity = workers * threads
        # max_calls=1: a fresh process per run, so no state leaks from one run into the next.
        self._remote = ray.remote(max_calls=1, max_retries=0)(execute_run)
        self._running: dict[Any, RunJob] = {}

    def submit(self, job: RunJob) -> None:
        ref = self._remote.options(num_cpus=job.threads, name=job.name).remote(job)
        self._running[ref] = job

    def wait_one(self) -> tuple[RunJob, RunOutcome]:
        (ready,), _ = self._ray.wait(list(self._running), num_returns=1)
        job = self._running.pop(ready)
        try:
            return job, self._ray.get(ready)
        except self._ray.exceptions.RayError as err:  # the worker died (OOM kill, node lost)
            outcome = RunOutcome(job.name, "failed", f"{type(err).__name__}: {err}".strip())
            _write_json(
                Path(job.run_dir) / STATUS_FILE, {"run": job.name, **_status_fields(outcome)}
            )
            return job, outcome

    def close(self) -> None:
        self._ray.shutdown()


def ray_available() -> bool:
    try:
        importlib.import_module("ray")
    except ImportError:
        return False
    return True


def make_jobs(sweep: Sweep, sweep_dir: Path, backend: str = DEFAULT_BACKEND) -> list[RunJob]:
    return [
        RunJob(
            name=run.name,
            run_dir=str(sweep_dir / run.name),
            params=run.params,
            config=run.config.to_dict(),
            config_hash=config_hash(run.config.to_dict()),
            threads=run.config.threads or 1,
            reference_dir=str(sweep_dir / REFERENCE_DIR),
            backend=backend,
        )
        for run in sweep.runs
    ]


def interleave_by_reference(jobs: Sequence[RunJob]) -> list[RunJob]:
    """Round-robin over full-supervision references, so that concurrent first runs compute
    different references instead of waiting for the same one."""
    groups: dict[str, list[RunJob]] = defaultdict(list)
    for job in jobs:
        groups[reference_key(job.config)].append(job)
    rounds = max(map(len, groups.values()), default=0)
    return [
        members[rank]
        for rank in range(rounds)
        for members in groups.values()
        if rank < len(members)
    ]


def write_manifest(sweep: Sweep, jobs: Iterable[RunJob], sweep_dir: Path) -> None:
    _write_json(
        sweep_dir / MANIFEST_FILE,
        {
            "name": sweep.name,
            "source": sweep.source,
            "updated_at": _now(),
            "runs": [
                {"name": j.name, "params": j.params, "config_hash": j.config_hash} for j in jobs
            ],
        },
    )


def run_sweep(
    sweep: Sweep,
    sweep_dir: str | Path,
    workers: int = 1,
    address: str | None = None,
    deadline_seconds: float | None = None,
    notify: Callable[[RunEvent], None] = lambda event: None,
    backend: str = DEFAULT_BACKEND,
) -> SweepSummary:
    """Run every unfinished run of ``sweep`` under ``sweep_dir``; resumable, failure-isolated."""
    started = time.monotonic()
    deadline_at = None if deadline_seconds is None else started + deadline_seconds
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    jobs = make_jobs(sweep, sweep_dir, backend)
    write_manifest(sweep, jobs, sweep_dir)
    summary = SweepSummary(sweep_dir, len(jobs))
    todo = []
    for job in jobs:
        status = read_status(job.run_dir)
        if is_done(status, job.config_hash):
            outcome = RunOutcome(job.name, "skipped", **_numbers(status))
            summary.outcomes.append(outcome)
            notify(RunEvent(job.name, "skipped", outcome))
        else:
            todo.append(job)
    if not todo:
        return summary
    pool = _make_pool(workers, address, max(j.threads for j in todo))
    try:
        summary.deferred = _drive(interleave_by_reference(todo), pool, deadline_at, summary, notify)
    finally:
        pool.close()
    for name in summary.deferred:
        notify(RunEvent(name, "deferred"))
    return summary


def _make_pool(workers: int, address: str | None, threads: int) -> _Pool:
    if address or workers > 1:
        if ray_available():
            return RayPool(workers, threads, address)
        if address:
            raise ConfigError(
                f"--address {address}: Ray is not installed (pip install 'al-loop[sweep]')"
            )
    return InProcessPool()


def _drive(
    jobs: list[RunJob],
    pool: _Pool,
    deadline_at: float | None,
    summary: SweepSummary,
    notify: Callable[[RunEvent], None],
) -> list[str]:
    """Keep the pool full until the queue is empty or the deadline leaves no room for a run;
    returns the names of the runs not started."""
    queue = deque(jobs)
    busy_threads = 0
    walls: list[float] = []
    while queue or busy_threads:
        while (
            queue
            and may_start(time.monotonic(), deadline_at, walls)
            and (busy_threads == 0 or busy_threads + queue[0].threads <= pool.capacity)
        ):
            job = queue.popleft()
            notify(RunEvent(job.name, "started"))
            busy_threads += job.threads
            pool.submit(job)
        if not busy_threads:
            break
        job, outcome = pool.wait_one()
        busy_threads -= job.threads
        if outcome.state in ("done", "failed") and outcome.wall_seconds:
            walls.append(outcome.wall_seconds)
        summary.outcomes.append(outcome)
        notify(RunEvent(job.name, outcome.state, outcome))
    return [job.name for job in queue]


def describe(event: RunEvent) -> str:
    """One line per run state, for the terminal and ``sweep.log``."""
    o = event.outcome
    detail = ""
    if o is not None and o.state in ("done", "skipped") and o.final_miou is not None:
        detail = f"{o.rounds} rounds, {o.seconds_total:.0f} s labelled, mIoU {o.final_miou:.3f}" + (
            f" ({o.wall_seconds:.0f} s wall)" if o.state == "done" else ""
        )
    elif o is not None and o.error:
        detail = o.error.splitlines()[0] if o.error else ""
    elif event.state == "deferred":
        detail = "not started: the deadline leaves no room; re-run the command to continue"
    return f"{event.state:<8} {event.run}" + (f"  {detail}" if detail else "")


__all__ = [
    "RunEvent",
    "RunJob",
    "RunOutcome",
    "RunSpec",
    "Sweep",
    "SweepSpec",
    "SweepSummary",
    "describe",
    "execute_run",
    "expand_runs",
    "format_value",
    "load_sweep",
    "may_start",
    "parse_run_name",
    "parse_value",
    "parse_duration",
    "read_status",
    "run_name",
    "run_sweep",
    "short_keys",
]
