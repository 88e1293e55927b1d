"""Running a sweep: the queue of unfinished runs, the deadline, the manifest and the summary.

``run_sweep`` writes ``sweep.json`` (the runs) under the sweep directory and keeps the pool full
until every run is done, failed, skipped (done before under the same config), busy (another
sweep holds it) or deferred (the deadline leaves no room).
"""

from __future__ import annotations

import re
import statistics
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from al_loop.core.errors import ConfigError
from al_loop.sweeps.execute import (
    DEFAULT_BACKEND,
    REFERENCE_DIR,
    RunJob,
    RunOutcome,
    _now,
    _numbers,
    _write_json,
    is_done,
    lacks_reference,
    read_status,
    reference_key,
    run_hash,
)
from al_loop.sweeps.pools import Pool, make_pool
from al_loop.sweeps.sweep import Sweep

MANIFEST_FILE = "sweep.json"


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


def make_jobs(sweep: Sweep, sweep_dir: Path, backend: str = DEFAULT_BACKEND) -> list[RunJob]:
    return [
        RunJob(
            name=run.name,
            run_dir=str(sweep_dir / run.name),
            params=run.params,
            config=run.config.to_dict(),
            config_hash=run_hash(run.config.to_dict()),
            threads=run.config.threads or 1,
            reference_dir=str(sweep_dir / REFERENCE_DIR),
            backend=backend,
        )
        for run in sweep.runs
    ]


def select_runs(names: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """The names matching any of the shell-style ``patterns`` (``*``, ``?``), in sweep order: a
    study reruns one arm (``'strategy=ralis*'``) without a copy of its sweep file. A pattern
    that matches nothing is a typo, so it is an error rather than an empty sweep."""
    for pattern in patterns:
        if not any(fnmatchcase(name, pattern) for name in names):
            example = f" (names look like {names[0]!r})" if names else ""
            raise ConfigError(f"--only {pattern!r} matches none of the {len(names)} runs{example}")
    return [name for name in names if any(fnmatchcase(name, p) for p in patterns)]


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
    only: Sequence[str] = (),
) -> SweepSummary:
    """Run every unfinished run of ``sweep`` under ``sweep_dir``; resumable, failure-isolated.
    With ``only`` (glob patterns of run names), only the matching runs; the manifest still
    lists the whole sweep, so its report reads every run done so far."""
    started = time.monotonic()
    deadline_at = None if deadline_seconds is None else started + deadline_seconds
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    jobs = make_jobs(sweep, sweep_dir, backend)
    write_manifest(sweep, jobs, sweep_dir)
    if only:
        chosen = set(select_runs([job.name for job in jobs], only))
        jobs = [job for job in jobs if job.name in chosen]
    summary = SweepSummary(sweep_dir, len(jobs))
    todo = []
    for job in jobs:
        status = read_status(job.run_dir)
        if is_done(status, job) and not lacks_reference(job):
            outcome = RunOutcome(job.name, "skipped", **_numbers(status))
            summary.outcomes.append(outcome)
            notify(RunEvent(job.name, "skipped", outcome))
        else:
            todo.append(job)
    if not todo:
        return summary
    pool = make_pool(workers, address, max(j.threads for j in todo))
    try:
        summary.deferred = _drive(interleave_by_reference(todo), pool, deadline_at, summary, notify)
    finally:
        pool.close()
    for name in summary.deferred:
        notify(RunEvent(name, "deferred"))
    return summary


def _drive(
    jobs: list[RunJob],
    pool: Pool,
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
