"""``python -m app.round_job PROJECT_DIR``: train on the stored labels, then queue the next round.

Runs in its own process, at a lower CPU priority than the app (the person labels on meanwhile,
from the closed round's queue), and reports through ``job.json``: state, phase (one of PHASES),
done/total steps where a phase counts them, and when the phase started. The sidebar polls it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from al_loop.core.errors import RunDirError
from al_loop.core.lock import DirectoryLock
from al_loop.wiring.build import set_determinism
from app.project import Project, write_job

# phase -> what the sidebar says; "train ..." phases count optimiser steps
PHASES = {
    "starting": "starting",
    "loading": "loading the data and the last model",
    "train": "training the segmenter",
    "train annotation model": "retraining the interactive method",
    "evaluate": "evaluating",
    "select": "selecting the next units",
    "done": "done",
}
JOB_NICENESS = 5  # the person's page first: training yields the CPU to the app's reruns


def phase_of(desc: str) -> str:
    """A loop progress description ("round 3 train") -> its phase ("train")."""
    return re.sub(r"^round \d+ ", "", desc)


def job_progress(status: dict, running: bool, now: float | None = None) -> tuple[float | None, str]:
    """(fraction done or None when the phase counts no steps, what to say) of a job status."""
    if not running:
        if status.get("state") == "failed":
            return None, f"Finishing the round failed: {status.get('error')}"
        if status.get("state") == "done":
            nxt = status.get("next_round")
            then = f"round {nxt} queued." if nxt is not None else "the pool is exhausted."
            return None, f"Round {status.get('round')} trained; {then}"
        return None, ""
    round_index = status.get("round")
    phase = status.get("phase") or "starting"
    text = f"Round {round_index if round_index is not None else '?'}: {PHASES.get(phase, phase)}"
    total, done = status.get("total"), status.get("done") or 0
    if total:
        return min(1.0, done / total), f"{text} ({done}/{total} steps)"
    since = status.get("since")
    elapsed = f" ({max(0.0, (now or time.time()) - since):.0f} s)" if since else ""
    return None, text + elapsed


def run_round_job(project_dir: str | Path) -> dict:
    """Train and select under the project's lock: a second job at the same time is refused
    (one line naming the holder's PID) and leaves ``job.json`` to the first."""
    project_dir = Path(project_dir)
    try:
        lock = DirectoryLock(project_dir, "project").acquire()
    except RunDirError as err:
        return {"state": "refused", "error": str(err)}
    try:
        return _run_locked(project_dir)
    finally:
        lock.release()


def _run_locked(project_dir: Path) -> dict:
    status: dict = {"state": "running", "phase": "loading", "done": 0, "total": None}
    status.update(pid=os.getpid(), since=time.time())

    def report(**changes) -> None:
        if "phase" in changes and changes["phase"] != status.get("phase"):
            changes.setdefault("since", time.time())
        status.update(changes)
        write_job(project_dir, status)

    class _Bar:
        def __init__(self, phase: str, total: int | None):
            self.total = total
            report(phase=phase, done=0, total=total)

        def update(self, n: int = 1) -> None:
            report(done=status["done"] + n, total=self.total)

    @contextmanager
    def progress(desc: str, total: int | None) -> Iterator[_Bar]:
        phase = phase_of(desc)
        yield _Bar(phase, total)
        if phase == "train":  # the fit is over; evaluate() follows and counts no steps
            report(phase="evaluate", done=0, total=None)

    try:
        with Project(project_dir) as project:
            last = project.store.last_round()  # the round being trained (closed by the app)
            report(round=None if last is None else last.round)
            set_determinism(project.config.seed, project.config.threads)
            loop = project.loop(progress=progress, log=lambda message: report(message=message))
            round_index = loop.resume()
            report(round=round_index)
            loop.train_and_evaluate(round_index)
            report(phase="select", done=0, total=None)
            more = loop.select_round(round_index + 1)
            report(state="done", phase="done", next_round=round_index + 1 if more else None)
    except Exception as err:  # the page shows it; the store is unchanged by a failed step
        report(state="failed", error=f"{type(err).__name__}: {err}", trace=traceback.format_exc())
    return status


if __name__ == "__main__":
    with contextlib.suppress(OSError):  # not permitted here: run at the app's priority
        os.nice(JOB_NICENESS)
    final = run_round_job(sys.argv[1])
    if final["state"] == "refused":
        print(f"round job: error: {final['error']}", file=sys.stderr)
        sys.exit(2)
    sys.exit(0 if final["state"] == "done" else 1)
