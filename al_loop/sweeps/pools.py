"""Where a sweep's runs execute: one after another in this process, or as Ray tasks."""

from __future__ import annotations

import importlib
import os
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from al_loop.core.errors import ConfigError
from al_loop.sweeps.execute import (
    STATUS_FILE,
    RunJob,
    RunOutcome,
    _status_fields,
    _write_json,
    execute_run,
)


class Pool(Protocol):
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


def make_pool(workers: int, address: str | None, threads: int) -> Pool:
    if address or workers > 1:
        if ray_available():
            return RayPool(workers, threads, address)
        if address:
            raise ConfigError(
                f"--address {address}: Ray is not installed (pip install 'al-loop[sweep]')"
            )
    return InProcessPool()
