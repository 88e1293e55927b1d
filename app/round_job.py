"""``python -m app.round_job PROJECT_DIR``: train on the stored labels, then queue the next round.

Runs in its own process so the page never freezes; it reports through ``job.json`` (state,
phase, done/total steps), which the Overview page polls.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from al_loop.core.errors import RunDirError
from al_loop.core.lock import DirectoryLock
from al_loop.wiring.build import set_determinism
from app.project import Project, write_job


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
    status["pid"] = os.getpid()

    def report(**changes) -> None:
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
        yield _Bar(desc, total)

    try:
        with Project(project_dir) as project:
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
    final = run_round_job(sys.argv[1])
    if final["state"] == "refused":
        print(f"round job: error: {final['error']}", file=sys.stderr)
        sys.exit(2)
    sys.exit(0 if final["state"] == "done" else 1)
