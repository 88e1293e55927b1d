"""``al-loop``: the command line. Parses arguments, validates the config once, wires, runs."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from al_loop.core.errors import AlLoopError, ConfigError
from al_loop.core.paths import CONFIG_DIR


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {pair}: expected KEY=VALUE, e.g. budget.total_seconds=600")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            from al_loop.core.config import yaml_problem

            raise ConfigError(
                f"--set {key}: the value {value!r} is not valid YAML ({yaml_problem(err)})"
            ) from None
    return out


def _log(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message)


def cmd_run(args: argparse.Namespace) -> None:
    from al_loop.core.config import load_config
    from al_loop.core.progress import tqdm_progress
    from al_loop.wiring.build import run_experiment

    config = load_config(args.config, _overrides(args.set))
    out = Path(args.out or Path("runs") / config.name)
    started = time.perf_counter()
    rounds = run_experiment(config, out, resume=args.resume, progress=tqdm_progress, log=_log)
    done = [r for r in rounds if r.status == "evaluated"]
    if done:
        last = done[-1]
        _log(
            f"{out}: {len(done)} rounds, {last.seconds_total:.0f} s of labelling, "
            f"val mIoU {last.metrics['miou']:.3f} ({time.perf_counter() - started:.0f} s wall)"
        )


def cmd_demo(args: argparse.Namespace) -> None:
    from al_loop.core.config import load_config
    from al_loop.core.progress import tqdm_progress
    from al_loop.reports.report import write_report
    from al_loop.reports.runs import load_run
    from al_loop.wiring.build import load_splits, preflight
    from al_loop.wiring.check import check_config
    from al_loop.wiring.demo import demo_reference, demo_runs, run_demo

    started = time.perf_counter()
    out = Path(args.out)
    base = load_config(CONFIG_DIR / "demo.yaml", _overrides(args.set))
    runs = demo_runs(base, args.strategies, args.seeds)
    for config in runs.values():  # a typo fails now, not after the reference trained
        check_config(config)
        preflight(config)
    workers = args.workers or min(2, os.cpu_count() or 1, len(runs))
    _log(f"generating the synthetic dataset ({base.dataset.params})")
    splits = load_splits(base)
    _log(
        f"pool {len(splits.train)} / val {len(splits.val)} images at {splits.train.hw}, "
        f"classes {[c.name for c in splits.classes]}; method {base.annotation.method}, "
        f"strategies {', '.join(args.strategies)} x seeds {', '.join(map(str, args.seeds))}"
    )
    reference = None
    if base.full_supervision.enabled:
        reference = demo_reference(base, splits, out, tqdm_progress)
        _log(
            f"full supervision (seed {base.seed}, shared by every run): val mIoU {reference['miou']:.3f}"
        )
    dirs = run_demo(runs, splits, reference, out, workers, tqdm_progress, _log)
    paths = write_report([load_run(d) for d in dirs], out, band="std")
    _log((out / "report.md").read_text().split("## Summary")[0])
    _log(
        f"wrote {', '.join(str(p) for p in paths.values())} in {time.perf_counter() - started:.0f} s"
    )


def cmd_train_policy(args: argparse.Namespace) -> None:
    from al_loop.core.config import load_config
    from strategies.ralis.train import train_policy_from_config

    config = load_config(args.config, _overrides(args.set))
    started = time.perf_counter()
    train_policy_from_config(config, resume=args.resume, log=_log)
    _log(f"policy training took {time.perf_counter() - started:.0f} s wall")


def cmd_report(args: argparse.Namespace) -> None:
    from al_loop.reports.report import write_report
    from al_loop.reports.runs import find_runs, load_run, resolve_metric
    from al_loop.reports.stats import parse_levels

    levels = parse_levels(args.levels)
    run_dirs = find_runs(args.run_dirs)
    runs = [load_run(d) for d in run_dirs]
    out = Path(args.out or (run_dirs[0].parent if len(run_dirs) > 1 else run_dirs[0]))
    metric = resolve_metric(args.metric, args.class_, runs[0].classes)
    paths = write_report(
        runs,
        out,
        log_x=args.log_x,
        metric=metric,
        html_report=not args.no_html,
        band=args.band,
        include_unfinished=args.include_unfinished,
        levels=levels,
    )
    print("\n".join(str(p) for p in paths.values()))
    if args.mlflow is not None:
        from al_loop.reports.tracking import log_runs

        uri = log_runs(runs, args.mlflow or f"file:{out.resolve() / 'mlruns'}", args.experiment)
        print(f"logged {len(runs)} runs to MLflow at {uri} (experiment '{args.experiment}')")


def cmd_refit(args: argparse.Namespace) -> None:
    from al_loop.core.progress import tqdm_progress
    from al_loop.reports.runs import find_runs
    from al_loop.wiring.refit import refit_run

    for run_dir in find_runs(args.run_dirs):
        result, computed = refit_run(run_dir, tqdm_progress, force=args.force)
        done = "refit" if computed else "kept  "  # kept: refit earlier from the same labels
        _log(
            f"{done} {run_dir}: val mIoU {result['miou']:.4f} "
            f"({result['labelled_images']} labelled images, {result['seconds_total']:.0f} s)"
        )


def cmd_sweep(args: argparse.Namespace) -> None:
    from datetime import datetime

    from tqdm.auto import tqdm

    from al_loop.sweeps.pools import ray_available
    from al_loop.sweeps.schedule import describe, parse_duration, run_sweep, select_runs
    from al_loop.sweeps.sweep import load_sweep
    from al_loop.wiring.check import check_config

    sweep = load_sweep(args.sweep)
    names = [run.name for run in sweep.runs]
    chosen = select_runs(names, args.only) if args.only else names
    # every chosen run's names and params, before any run starts; the runs --only leaves out
    # are not checked: a study's arm whose RALis policy is not trained yet must not block the rest
    chosen_names = set(chosen)
    for run in (run for run in sweep.runs if run.name in chosen_names):
        check_config(run.config)
    deadline = None if args.deadline is None else parse_duration(args.deadline)
    out = Path(args.out or Path("runs") / sweep.name)
    if args.dry_run:
        for name in chosen:
            print(name)
        print(f"{len(chosen)} runs -> {out}")
        return
    threads = max(run.config.threads or 1 for run in sweep.runs)
    workers = args.workers or max(1, (os.cpu_count() or 1) // threads)
    if args.address:
        where = f"on the Ray cluster at {args.address}"
    elif workers > 1 and ray_available():
        where = f"on local Ray, {workers} workers x {threads} threads"
    else:
        where = "one after another in this process"
        if workers > 1:
            where += " (Ray is not installed: pip install 'al-loop[sweep]')"
    of = f" of {len(names)}" if len(chosen) < len(names) else ""
    _log(f"sweep {sweep.name}: {len(chosen)}{of} runs {where} -> {out}")
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (
        tqdm(total=len(chosen), desc=f"sweep {sweep.name}", unit="run", dynamic_ncols=True) as bar,
        open(out / "sweep.log", "a") as sweep_log,
    ):

        def notify(event) -> None:
            line = describe(event)
            tqdm.write(line)
            sweep_log.write(f"{datetime.now().isoformat(timespec='seconds')} {line}\n")
            sweep_log.flush()
            if event.state != "started":
                bar.update(1)

        try:
            summary = run_sweep(
                sweep,
                out,
                workers=workers,
                address=args.address,
                deadline_seconds=deadline,
                notify=notify,
                only=args.only or (),
            )
        except KeyboardInterrupt:
            _log(f"sweep interrupted: `al-loop sweep {args.sweep}` again resumes it")
            raise
    counts = ", ".join(
        f"{summary.count(state)} {state}"
        for state in ("done", "skipped", "failed", "busy", "deferred")
        if summary.count(state)
    )
    _log(f"sweep {sweep.name}: {counts} in {time.perf_counter() - started:.0f} s -> {out}")
    if args.report:
        cmd_report(build_parser().parse_args(["report", str(out)]))
    if summary.failed:
        names = ", ".join(o.name for o in summary.failed[:3])
        raise AlLoopError(
            f"{len(summary.failed)} of {summary.total} runs failed ({names}"
            f"{', ...' if len(summary.failed) > 3 else ''}): see status.json and log.txt in their "
            "folders; running the command again retries them"
        )


def app_command(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` command line for ``al-loop app`` (bound to --address only)."""
    main_file = Path(__file__).resolve().parents[2] / "app" / "main.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(main_file),
        "--server.address", args.address, "--server.port", str(args.port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        # Streamlit's full collection after every run (every canvas event, every 2-s job
        # poll) holds the GIL for 0.1-0.35 s with torch loaded; Python's own GC suffices
        "--runner.postScriptGC", "false",
        "--", str(Path(args.project_dir).resolve()),
    ]  # fmt: skip


def cmd_app(args: argparse.Namespace) -> None:
    import subprocess

    if args.images:
        from al_loop.core.config import read_yaml_mapping
        from app.project import create_project

        config = read_yaml_mapping(args.config) if args.config else None
        create_project(args.project_dir, args.images, args.masks, config, args.classes, args.binary)
        print(f"created project {args.project_dir}")
    try:
        import streamlit  # noqa: F401
    except ImportError as err:
        raise ConfigError("al-loop app needs the app extra: pip install -e '.[app]'") from err
    from app.project import Project

    Project(args.project_dir).close()  # a one-line error now rather than on the page
    env = {**os.environ, "AL_LOOP_PROJECT": str(Path(args.project_dir).resolve())}
    print(f"al-loop app: http://{args.address}:{args.port}")
    subprocess.run(app_command(args), env=env, check=False)


def cmd_costs(args: argparse.Namespace) -> None:
    from al_loop.reports.costs import write_costs
    from al_loop.reports.report import markdown_table

    out = args.out or str(Path(args.project_dir) / "costs.yaml")
    path, rows = write_costs(args.project_dir, out, args.base)
    print(markdown_table(rows), end="")
    print(f"wrote {path}: price runs with it by `annotation.costs: {path}` in their config")


def parse_method_params(pairs: list[str], methods: list[str]) -> dict[str, dict]:
    """``METHOD.KEY=VALUE`` pairs -> {method: {key: value}}, e.g. ritm_clicks.weights=PATH."""
    out: dict[str, dict] = {}
    for dotted, value in _overrides(pairs).items():
        method, _, key = dotted.partition(".")
        if not key or method not in methods:
            raise ConfigError(
                f"--param {dotted}: expected METHOD.KEY=VALUE with METHOD one of {methods}"
            )
        out.setdefault(method, {})[key] = value
    return out


def cmd_train_interactive(args: argparse.Namespace) -> None:
    from al_loop.core.progress import tqdm_progress
    from al_loop.interactive.learned.train import load_train_config, ship, train_from_config

    overrides = _overrides(args.set)
    for key in ("minutes", "device", "out"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    config = load_train_config(args.config, overrides)
    result = train_from_config(
        config, resume=args.resume, progress=tqdm_progress, log=_log, argv=args.argv
    )
    if not result.finished:
        _log(f"stopped by the time limit; `--resume` continues to {config.steps} steps")
        if args.ship:
            _log("not shipped: only finished weights are (`--resume --ship` when done)")
    elif args.ship:
        _log(f"shipped: {ship(result.weights)} (float16)")


def unseen_noc_samples(args: argparse.Namespace, methods: list, samples: list) -> list:
    """The samples no learned method's weights were trained on (``--skip-seen``: the rest are
    dropped, e.g. DAVIS's training videos), or all after refusing a method that saw any
    (unless ``--allow-seen``)."""
    from al_loop.interactive import LEARNED_METHODS
    from al_loop.interactive.learned.network import read_metadata
    from al_loop.interactive.learned.provenance import Evaluated, check_unseen, unseen_only
    from al_loop.interactive.noc import noc_source

    if args.allow_seen:
        return samples
    source = noc_source(args.dataset)
    for method in methods:
        if method.name not in LEARNED_METHODS:
            continue
        meta = read_metadata(method.weights)
        names = [s.name for s in samples]
        if args.skip_seen and "trained_on" in meta:
            kept = unseen_only(meta, source, names)
            if len(kept) < len(samples):
                _log(f"{method.weights}: skipping {len(samples) - len(kept)} images it saw")
            samples = [samples[i] for i in kept]
        else:
            evaluated = [Evaluated("the evaluated images", source, names)]
            check_unseen(method.weights, meta, evaluated, "--allow-seen (or --skip-seen)")
    if not samples:
        raise ConfigError(f"{args.dataset}: every image was seen in training (--skip-seen)")
    return samples


def cmd_noc(args: argparse.Namespace) -> None:
    from al_loop.annotators.noc import run_noc
    from al_loop.core.cost import CostTable
    from al_loop.interactive import make_method
    from al_loop.interactive import noc as bench

    # --skip-seen first, then the first --limit of what is left
    samples = bench.load_noc_samples(args.dataset, None if args.skip_seen else args.limit)
    cost = CostTable.load(args.costs)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # learned methods: more threads than cores is slower
    params = parse_method_params(args.param, args.method)
    methods = [make_method(name, **params.get(name, {})) for name in args.method]
    samples = unseen_noc_samples(args, methods, samples)[: args.limit]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, curves = {}, {}
    for method in methods:
        started = time.perf_counter()
        stop = None if args.full_curve else max(bench.TARGETS)
        records = run_noc(method, samples, cost, args.seed, args.max_interactions, stop)
        rows[method.name], curves[method.name] = bench.summarize(records), records
        bench.write_csv(records, out / f"noc_{method.name}.csv", args.max_interactions)
        plot = out / f"noc_{method.name}.png"
        bench.plot_curve({method.name: records}, plot, args.max_interactions)
        _log(f"{method.name}: {len(records)} images in {time.perf_counter() - started:.0f} s")
    bench.plot_curve(curves, out / "noc_all.png", args.max_interactions)
    print(f"{args.dataset}: {len(samples)} images, at most {args.max_interactions} interactions")
    print(bench.format_table(rows))
    print(f"written to {out}/")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="al-loop", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    # --debug also after the command; SUPPRESS: a command's default never hides the top one
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="simulated-user demo on generated data (random vs entropy, 3 seeds each)",
    )
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument(
        "--strategies",
        nargs="+",
        default=["random", "entropy"],
        help="NAME or NAME:KEY=VALUE,... (e.g. entropy:class_balance=true); random is the baseline",
    )
    demo.add_argument(
        "--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of every strategy"
    )
    demo.add_argument(
        "--workers",
        type=int,
        help="runs at once, one thread each (default: 2 on a machine with 2 CPUs or more)",
    )
    demo.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override configs/demo.yaml"
    )
    demo.set_defaults(func=cmd_demo)

    run = sub.add_parser("run", parents=[common], help="one experiment from a config")
    run.add_argument("config")
    run.add_argument("--resume", action="store_true", help="continue a stopped run in --out")
    run.add_argument("--out", help="run directory (default runs/<name>)")
    run.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    run.set_defaults(func=cmd_run)

    sweep = sub.add_parser(
        "sweep",
        parents=[common],
        help="a grid of simulated-user runs (Ray when installed), resumable",
    )
    sweep.add_argument("sweep", help="sweep file, e.g. configs/sweep_demo.yaml")
    sweep.add_argument("--out", help="sweep directory (default runs/<sweep name>)")
    sweep.add_argument(
        "--workers", type=int, help="runs at once on local Ray (default: CPUs / threads per run)"
    )
    sweep.add_argument("--address", help="an existing Ray cluster: ray://HOST:PORT or auto")
    sweep.add_argument("--deadline", help="stop starting new runs in time, e.g. 8h, 30m, 90s")
    sweep.add_argument(
        "--only",
        action="append",
        metavar="PATTERN",
        help="only the runs whose name matches this glob, e.g. 'strategy=ralis*' (repeatable)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    sweep.add_argument("--report", action="store_true", help="write the report when done")
    sweep.set_defaults(func=cmd_sweep)

    policy = sub.add_parser(
        "train-policy",
        parents=[common],
        help="learn the RALis query policy (strategy ralis) in simulated episodes",
    )
    policy.add_argument("config")
    policy.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    policy.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    policy.set_defaults(func=cmd_train_policy)

    report = sub.add_parser(
        "report", parents=[common], help="budget curves and tables from stored runs"
    )
    report.add_argument("run_dirs", nargs="+")
    report.add_argument("--out", help="output folder (default: the runs' parent)")
    report.add_argument("--log-x", action="store_true", help="log-scale seconds axis")
    report.add_argument("--metric", default="miou", help="a metric of the rounds (default miou)")
    report.add_argument(
        "--levels",
        type=int,
        nargs="+",
        default=[80, 90, 95],
        metavar="PCT",
        help="%% of full supervision for the seconds-to-reach columns (default 80 90 95)",
    )
    report.add_argument(
        "--class", dest="class_", metavar="CLASS", help="per-class IoU of this class (name or id)"
    )
    report.add_argument(
        "--band",
        default="sem",
        choices=["sem", "ci95", "std", "minmax"],
        help="shaded band over seeds: standard error (default), 95 %% t-interval, std, range",
    )
    report.add_argument("--no-html", action="store_true", help="skip report.html")
    report.add_argument(
        "--include-unfinished",
        action="store_true",
        help="also report runs still running or stopped before their budget (left out by "
        "default when some run has finished)",
    )
    report.add_argument(
        "--mlflow",
        nargs="?",
        const="",
        metavar="URI",
        help="also log every run to MLflow (default store: OUT/mlruns)",
    )
    report.add_argument("--experiment", default="al-loop", help="MLflow experiment name")
    report.set_defaults(func=cmd_report)

    refit = sub.add_parser(
        "refit",
        parents=[common],
        help="train each run's labels like its full-supervision reference (the report's "
        "final_refit column)",
    )
    refit.add_argument("run_dirs", nargs="+", help="run directories or sweep directories")
    refit.add_argument("--force", action="store_true", help="refit even if stored for these labels")
    refit.set_defaults(func=cmd_refit)

    noc = sub.add_parser(
        "noc", parents=[common], help="NoC@85/90 and seconds-to-IoU of interactive methods"
    )
    noc.add_argument("--method", action="append", required=True, help="repeat for several")
    noc.add_argument("--dataset", required=True, help="GrabCut, DAVIS or a dataset folder")
    noc.add_argument("--limit", type=int, help="first N images only (of the unseen: --skip-seen)")
    noc.add_argument("--max-interactions", type=int, default=20)
    noc.add_argument("--seed", type=int, default=0, help="simulated users' seed")
    noc.add_argument("--costs", help="cost table (default configs/costs.yaml)")
    noc.add_argument("--full-curve", action="store_true", help="do not stop at IoU 0.90")
    noc.add_argument("--out", default="runs/noc", help="CSV and plots go here")
    noc.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="a method parameter, e.g. ritm_clicks.weights=models/interactive/ritm_clicks.pt",
    )
    noc.add_argument("--threads", type=int, help="torch threads for learned methods")
    seen = noc.add_mutually_exclusive_group()
    seen.add_argument(
        "--allow-seen",
        action="store_true",
        help="score learned methods also on images their weights were trained on",
    )
    seen.add_argument(
        "--skip-seen",
        action="store_true",
        help="score only images no learned method was trained on (e.g. DAVIS held-out videos)",
    )
    noc.set_defaults(func=cmd_noc)

    train_int = sub.add_parser(
        "train-interactive",
        parents=[common],
        help="train a learned interactive method (ritm_clicks, dextr, iog) from a config",
    )
    train_int.add_argument("config", help="e.g. configs/interactive_davis.yaml")
    train_int.add_argument("--minutes", type=float, help="stop after this wall time (resumable)")
    train_int.add_argument("--device", help="torch device (default: the config's, cpu)")
    train_int.add_argument("--out", help="weights file (default models/interactive/NAME.pt)")
    train_int.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    train_int.add_argument(
        "--ship",
        action="store_true",
        help="when finished, also write the weights float16 to the repository's models/interactive/",
    )
    train_int.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    train_int.set_defaults(func=cmd_train_interactive)

    costs = sub.add_parser(
        "costs",
        parents=[common],
        help="seconds per interaction measured from a person in the app: a cost table",
    )
    costs.add_argument("project_dir", help="an app project (its store.sqlite)")
    costs.add_argument("--out", help="cost table to write (default PROJECT_DIR/costs.yaml)")
    costs.add_argument(
        "--base", help="table whose entries fill what was not measured (default configs/costs.yaml)"
    )
    costs.set_defaults(func=cmd_costs)

    app = sub.add_parser(
        "app", parents=[common], help="the Streamlit app for labelling rounds by hand"
    )
    app.add_argument("project_dir", help="the project folder (created with --images)")
    app.add_argument("--images", help="create the project from this folder of images")
    app.add_argument("--masks", help="with --images: ground-truth masks (NAME.png), optional")
    app.add_argument("--classes", help="with --images: classes.yaml (names and colours)")
    app.add_argument(
        "--binary",
        action="store_true",
        help="with --masks: any non-zero mask pixel is the object (masks numbering instances)",
    )
    app.add_argument("--config", help="with --images: experiment config YAML (units, model...)")
    app.add_argument("--address", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    app.add_argument("--port", type=int, default=8501)
    app.set_defaults(func=cmd_app)
    return parser


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    """Exit status 0; 2 for bad input or a run directory that refuses (one line naming the file
    or key); 1 for anything else (one line; ``--debug`` shows the traceback); 130 interrupted."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with trained weights
    try:
        args.func(args)
    except KeyboardInterrupt:
        print(
            "al-loop: interrupted; `al-loop run CONFIG --resume` continues where it stopped",
            file=sys.stderr,
        )
        return 130
    except Exception as err:
        if args.debug:
            raise
        if isinstance(err, AlLoopError):
            print(f"al-loop: error: {_one_line(str(err))}", file=sys.stderr)
            return 2
        detail = _one_line(str(err)) or "(no message)"
        print(
            f"al-loop: error: {type(err).__name__}: {detail} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
