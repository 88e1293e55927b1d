"""``al-loop demo``: the budget studies' comparison in miniature, on the synthetic set.

Arms: every strategy of ``strategies`` (default random and entropy) with the method of
``configs/demo.yaml``, each over ``seeds``, so that each arm is a mean curve with a band and the
report can say whether the best arm separates from random beyond the seed-to-seed noise. Every
run shares the data (its own seed, ``dataset.params.seed``) and one full-supervision reference
(trained with the base config's seed, cached in ``OUT/references/``); a run's seed changes its
random seed set, its selections, the training order and the simulated user.

Runs go one after another in this process (``workers=1``) or in ``workers`` spawned processes,
one thread each. A run's curve does not depend on which process runs it or on what runs beside
it, so both give the same curves; the processes forward their progress bars and log lines to
this one. Every run resumes from its store, so running the demo again continues where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
import queue as queue_module
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import yaml

from al_loop.core.config import ExperimentConfig, StrategyConfig
from al_loop.core.errors import ConfigError
from al_loop.core.progress import Bar, ProgressFactory, no_progress
from al_loop.data.base import DatasetSplits
from al_loop.sweeps.execute import REFERENCE_DIR, pin_threads, shared_reference
from al_loop.wiring.build import full_supervision_reference, run_experiment

Log = Callable[[str], None]


def parse_strategy(spec: str) -> StrategyConfig:
    """``NAME`` or ``NAME:KEY=VALUE,KEY=VALUE`` (values read as YAML), e.g.
    ``entropy:class_balance=true``: a strategy and its parameters on the command line."""
    name, _, params = spec.partition(":")
    parsed = {}
    for pair in filter(None, params.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(
                f"--strategies {spec}: expected NAME or NAME:KEY=VALUE,..., e.g. "
                "entropy:class_balance=true"
            )
        try:
            parsed[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--strategies {spec}: {value!r} is not a valid value") from None
    return StrategyConfig(name=name, params=parsed)


def run_name(strategy: StrategyConfig, seed: int) -> str:
    """A run's folder: ``entropy+class_balance=true-seed0``."""
    params = "".join(
        f"+{k}={v if isinstance(v, str) else json.dumps(v)}"
        for k, v in sorted(strategy.params.items())
    )
    return f"{strategy.name}{params}-seed{seed}"


def demo_runs(
    base: ExperimentConfig, strategies: Sequence[str], seeds: Sequence[int]
) -> dict[str, ExperimentConfig]:
    """``{run name: config}``, seed by seed (a demo stopped early has whole pairs of arms)."""
    parsed = [parse_strategy(spec) for spec in strategies]
    return {
        run_name(strategy, seed): base.model_copy(update={"strategy": strategy, "seed": seed})
        for seed in seeds
        for strategy in parsed
    }


def demo_reference(
    base: ExperimentConfig, splits: DatasetSplits, out: Path, progress: ProgressFactory
) -> dict:
    """The full-supervision reference every run shares, trained once and cached under ``out``
    (as a sweep caches its references), so running the demo again does not retrain it."""
    backend = SimpleNamespace(
        full_supervision_reference=lambda config, data, checkpoint=None: full_supervision_reference(
            config, data, progress, checkpoint
        )
    )
    return shared_reference(backend, base, splits, out / REFERENCE_DIR)


def run_demo(
    runs: dict[str, ExperimentConfig],
    splits: DatasetSplits,
    reference: dict | None,
    out: Path,
    workers: int = 1,
    progress: ProgressFactory = no_progress,
    log: Log = print,
) -> list[Path]:
    """Run (or resume) every run into ``out/<name>``; returns their directories in order."""
    dirs = [out / name for name in runs]
    if workers <= 1:
        for (name, config), run_dir in zip(runs.items(), dirs, strict=True):
            log(f"--- {name} -> {run_dir}")
            run_experiment(
                config,
                run_dir,
                resume=True,
                progress=progress,
                log=log,
                splits=splits,
                reference=reference,
            )
        return dirs
    context = multiprocessing.get_context("spawn")  # torch's threads do not survive a fork
    events = context.Queue()
    bars: dict[tuple[str, str], tuple] = {}  # (context manager, bar)
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(events, splits, reference)
    ) as pool:
        log(f"{len(runs)} runs, {workers} at a time (one thread each) -> {out}")
        pending = {
            pool.submit(_run_in_worker, name, config, str(run_dir)): name
            for (name, config), run_dir in zip(runs.items(), dirs, strict=True)
        }
        try:
            while pending:
                _relay(events, bars, progress, log, timeout=0.2)
                done, _ = wait(pending, timeout=0, return_when=FIRST_COMPLETED)
                for future in done:
                    name = pending.pop(future)
                    if future.exception() is not None:
                        log(f"{name}: stopped by an error (running the demo again resumes it)")
                    future.result()  # the run's error stops the demo
                    log(f"{name}: done")
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        finally:
            _relay(events, bars, progress, log, timeout=0)
            for manager, _ in bars.values():
                manager.__exit__(None, None, None)
    return dirs


# -- the worker side ---------------------------------------------------------------------------
_worker = SimpleNamespace(events=None, splits=None, reference=None)


def _init_worker(events, splits: DatasetSplits, reference: dict | None) -> None:
    pin_threads(1)
    _worker.events, _worker.splits, _worker.reference = events, splits, reference


def _run_in_worker(name: str, config: ExperimentConfig, run_dir: str) -> None:
    events = _worker.events

    def log(message: str) -> None:
        events.put(("log", name, message))

    run_experiment(
        config,
        Path(run_dir),
        resume=True,
        progress=_forwarding_progress(events, name),
        log=log,
        splits=_worker.splits,
        reference=_worker.reference,
    )


class _ForwardedBar:
    """A bar in a worker: its updates (and a changed total) go to the parent's bar."""

    def __init__(self, events, key: tuple[str, str], total: int | None):
        self._events, self._key, self._total = events, key, total

    @property
    def total(self) -> int | None:
        return self._total

    @total.setter
    def total(self, value: int | None) -> None:
        self._total = value
        self._events.put(("total", self._key, value))

    def update(self, n: int = 1) -> None:
        self._events.put(("update", self._key, n))


def _forwarding_progress(events, name: str) -> ProgressFactory:
    @contextmanager
    def factory(desc: str, total: int | None) -> Iterator[Bar]:
        key = (name, desc)
        events.put(("open", key, total))
        try:
            yield _ForwardedBar(events, key, total)
        finally:
            events.put(("close", key, None))

    return factory


def _relay(events, bars: dict, progress: ProgressFactory, log: Log, timeout: float) -> None:
    """Show what the workers sent: log lines (prefixed with the run) and their bars, opened
    and closed with ``progress`` here."""
    while True:
        try:
            kind, key, value = events.get(timeout=timeout)
        except queue_module.Empty:
            return
        timeout = 0  # drain what is there, wait only for the first
        if kind == "log":
            log(f"{key}: {value}")
        elif kind == "open":
            manager = progress(f"{key[0]} {key[1]}", value)
            bars[key] = (manager, manager.__enter__())
        elif key in bars and kind == "close":
            bars.pop(key)[0].__exit__(None, None, None)
        elif key in bars and kind == "total":
            if hasattr(bars[key][1], "total"):
                bars[key][1].total = value
        elif key in bars:
            bars[key][1].update(value)
