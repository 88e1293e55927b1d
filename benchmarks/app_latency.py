"""How long the Annotate page takes from an interaction to the updated mask at DAVIS's native
854x480, for every method the app offers.

Server side, per interaction (no browser): the live session's incremental ``add`` on the crop's
working copy (app.scaled) and the canvas's arguments, wall and CPU seconds; the full replay an
undo or a refresh costs; the model's starting mask (one forward pass per image, cached). With
``--browser``: the same scripted person in headless Chromium on the app's canvas, per method
the median seconds from a press (or key) to the updated mask drawn, measured in the browser,
and how many points (polygon vertices, box corners) and strokes were drawn with no message to
the server. ``--library-params``: every measure again with the methods built with the
registry's defaults instead of the app's parameters (app.scaled.APP_PARAMS: warm, windowed
scribbles), side by side in the same run. ``--untrained-learned``: the learned methods with
untrained networks of the architecture and geometry configs/interactive_all.yaml trains (a
forward pass costs the same whatever the weights), run from a temporary directory holding them
as ``models/interactive/NAME.pt``: their latency before trained weights exist (their masks mean
nothing); ``--untrained-learned NAME ...``: only those, the others with the weights found (the
shipped ones), e.g. a method not yet shipped beside shipped ones. Writes
benchmarks/results/app_latency.json.

    .venv/bin/python benchmarks/app_latency.py [--image IMAGE] [--browser] [--library-params]
        [--methods NAME ...] [--untrained-learned [NAME ...]]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch

from al_loop.interactive import LEARNED_METHODS, METHODS, make_method
from app import canvas, scaled
from app import session as drafts

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT.parent / "shared/datasets/DAVIS/img/000.jpg"
# A person's gestures around the middle of the frame, then three corrections each.
CLICKS = [(240, 427), (200, 380), (300, 470), (260, 520), (150, 300), (350, 400)]
OPENINGS = {
    "click": [],
    "box": [(150, 300), (350, 560)],
    "extreme_points": [(150, 430), (350, 430), (250, 300), (250, 560)],
    "inside_outside": [(150, 300), (350, 560), (250, 430)],
}
CORRECTIONS = [(240, 427), (200, 380), (320, 500)]
STROKES = [
    [(200 + 4 * k, 380 + 6 * k) for k in range(12)],
    [(300, 400 + 5 * k) for k in range(10)],
    [(120 + 3 * k, 250) for k in range(10)],
    [(380, 600 + 4 * k) for k in range(8)],
]
POLYGONS = [
    [(150, 350), (150, 500), (300, 560), (350, 430), (300, 320)],
    [(200, 400), (200, 450), (250, 450), (250, 400)],
]


def actions(spec: drafts.AppMethod) -> list[tuple[str, object]]:
    """The scripted person: ("point", (y, x)), ("stroke", points) or ("close", None)."""
    if spec.first == "stroke":
        return [("stroke", s) for s in STROKES]
    if spec.first == "polygon":
        return [a for poly in POLYGONS for a in [*(("point", p) for p in poly), ("close", None)]]
    if spec.first == "click":
        return [("point", p) for p in CLICKS]
    return [("point", p) for p in OPENINGS[spec.first] + CORRECTIONS]


@contextmanager
def library_params(on: bool):
    """While on: the app builds methods with the registry's defaults (app.scaled.app_params)."""
    before = os.environ.get(scaled.LIBRARY_PARAMS_ENV)
    if on:
        os.environ[scaled.LIBRARY_PARAMS_ENV] = "1"
    drafts.built_method.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(scaled.LIBRARY_PARAMS_ENV, None)
        else:
            os.environ[scaled.LIBRARY_PARAMS_ENV] = before
        drafts.built_method.cache_clear()


def server_side(image: np.ndarray, spec: drafts.AppMethod) -> dict:
    """What the page computes per interaction, without a browser: the live session's ``add``
    on the crop's working copy (app.scaled; the mask scaled back) and the canvas's arguments
    (label map, its runs). Wall and CPU seconds: CPU is what a loaded machine does not
    inflate. The first interaction of a fresh image includes what is cached per image."""
    draft = drafts.new_draft(spec.method, 1)
    live = drafts.LiveObject()  # as the page keeps it between runs
    per_interaction = []
    for kind, data in actions(spec):
        before = len(draft["current"])
        if kind == "point":
            drafts.add_point(draft, *data)
        elif kind == "stroke":
            drafts.add_stroke(draft, data)
        else:
            drafts.finish_pending(draft)
        wall, cpu = time.perf_counter(), time.process_time()
        mask = live.mask(("unit", 0), spec.method, image, draft["current"])
        masked_wall, masked_cpu = time.perf_counter(), time.process_time()
        canvas.runs(canvas.label_map(image.shape[:2], [(1, mask)]))
        done_wall, done_cpu = time.perf_counter(), time.process_time()
        if len(draft["current"]) > before:  # a pending point is drawn in the browser only
            per_interaction.append(
                {
                    "mask_s": masked_wall - wall,
                    "args_s": done_wall - masked_wall,
                    "wall_s": done_wall - wall,
                    "cpu_s": done_cpu - cpu,
                    "mask_cpu_s": masked_cpu - cpu,
                }
            )
    started = time.perf_counter()
    drafts.object_mask(spec.method, image, draft["current"])
    replay = time.perf_counter() - started
    walls = [c["wall_s"] for c in per_interaction]
    cpus = [c["cpu_s"] for c in per_interaction]
    return {
        "interactions": per_interaction,
        "work_hw": list(scaled.work_shape(image.shape[:2], scaled.work_side(spec.method))),
        "first_s": walls[0],
        "first_cpu_s": cpus[0],
        "median_s": statistics.median(walls),
        "median_cpu_s": statistics.median(cpus),
        "max_s": max(walls),
        "replay_all_s": replay,
    }


def untrained_learned_weights(folder: Path, names: list[str] | None = None) -> list[Path]:
    """``folder``/models/interactive/NAME.pt for every learned method (or those of ``names``):
    an untrained network with the architecture and geometry of configs/interactive_all.yaml
    (shipped format)."""
    from al_loop.interactive.learned.methods import WEIGHTS_DIR
    from al_loop.interactive.learned.network import build_network, save_weights
    from al_loop.interactive.learned.train import load_train_config

    written = []
    for name in sorted(LEARNED_METHODS if names is None else names):
        interaction = make_method(name).interaction  # reads no weights
        overrides = {"name": name, "interaction": interaction}
        geometry = load_train_config(ROOT / "configs/interactive_all.yaml", overrides).geometry()
        network = build_network(
            tuple(geometry["decoder_channels"]),
            pretrained=False,
            deep_guidance=bool(geometry["deep_guidance"]),
        )
        meta = {**geometry, "method": name, "trained_on": []}  # saw no image: no leakage guard
        path = folder / WEIGHTS_DIR / f"{name}.pt"
        written.append(save_weights(network, path, meta, dtype=torch.float16))
    return written


def model_start_mask(image: np.ndarray) -> float:
    """One forward pass of the default segmenter (random weights: the time is the same)."""
    from al_loop.models.segmenter import make_segmenter

    segmenter = make_segmenter(num_classes=4, encoder_weights=None)
    segmenter.predict(image[None])  # build and warm up
    started = time.perf_counter()
    segmenter.predict(image[None])
    return time.perf_counter() - started


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a process, from /proc (Linux); None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds(server_pid: int) -> tuple[float, float]:
    """CPU seconds so far of (the app server, the browser: every other process below this
    one, Playwright's driver and Chromium). What a round trip costs where the machine is not
    shared: its wall time on a loaded machine is mostly waiting for a core."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = stat
    below, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (parent, _) in stats.items() if parent in frontier} - below
        below |= frontier
    server = stats.get(server_pid, (0, 0.0))[1]
    return server, sum(stats[p][1] for p in below if p != server_pid)


class Canvas:
    """The Annotate page's canvas in a real browser: crop pixels -> mouse, and what it drew."""

    def __init__(self, page, hw: tuple[int, int]):
        from tests.app.test_browser import CANVAS_FRAME

        self.page, self.hw = page, hw
        self.locator = page.frame_locator(CANVAS_FRAME).locator("canvas#view")
        self.locator.wait_for(timeout=120_000)

    @property
    def frame(self):
        return next(f for f in self.page.frames if "app.canvas.canvas" in f.url)

    def state(self) -> dict:
        return self.frame.evaluate("window.canvasState()")

    def at(self, y: int, x: int) -> tuple[float, float]:
        box, scale = self.locator.bounding_box(), self.state()["scale"]
        return box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale

    def click(self, y: int, x: int, button: str = "left") -> None:
        self.page.mouse.click(*self.at(y, x), button=button)

    def press_stroke(self, points) -> int:
        """Press and draw a stroke, not yet released; how many messages went to the server
        while it was drawn."""
        at = [self.at(y, x) for y, x in points]  # before: each is a round trip to the page
        sent = self.state()["messages"]
        self.page.mouse.move(*at[0])
        self.page.mouse.down()
        for point in at[1:]:
            self.page.mouse.move(*point, steps=2)
        return self.state()["messages"] - sent

    def shown(self, timeout: float = 60_000) -> float:
        """Seconds from the last press or key to its answer drawn (the browser's clock)."""
        self.frame.wait_for_function(
            "() => { const s = window.canvasState(); "
            "return s.queued === 0 && s.shownSeq >= s.lastSeq; }",
            timeout=timeout,
            polling=25,  # not every frame: the browser's own clock times the answer
        )
        return self.state()["latency"] / 1000.0


def choose_method(page, canvas: Canvas, spec: drafts.AppMethod) -> None:
    from tests.app.test_browser import wait_until_idle

    page.get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name=spec.label, exact=True).click()
    wait_until_idle(page)
    canvas.frame.wait_for_function(
        f"() => window.canvasState().gesture === '{spec.first}'", timeout=60_000
    )


def browser_method(page, canvas: Canvas, spec: drafts.AppMethod, server_pid: int) -> dict:
    """The scripted person on one method: the seconds from each completed interaction to its
    mask drawn (and the CPU seconds the server and the browser spent on it), and the points
    drawn with no message to the server."""
    choose_method(page, canvas, spec)
    latencies, server_cpu, browser_cpu, local_points, stroke_messages = [], [], [], 0, 0
    for kind, data in actions(spec):
        sent = canvas.state()["messages"]
        if kind == "stroke":
            stroke_messages += canvas.press_stroke(data)
        point = canvas.at(*data) if kind == "point" else None
        before = cpu_seconds(server_pid)  # from the release, the press or the key on
        if kind == "stroke":
            page.mouse.up()
        elif kind == "close":
            page.keyboard.press("Enter")
        else:
            page.mouse.click(*point)
        if canvas.state()["messages"] > sent:
            latencies.append(canvas.shown())
            after = cpu_seconds(server_pid)
            server_cpu.append(after[0] - before[0])
            browser_cpu.append(after[1] - before[1])
        else:
            local_points += 1  # drawn at once, in the browser (polygon vertices, corners)
    page.keyboard.press("Escape")  # reset: the next method starts on a clean unit
    canvas.shown()
    return {
        "latencies_s": latencies,
        "first_s": latencies[0],
        "median_s": statistics.median(latencies),
        "server_cpu_s": statistics.median(server_cpu),
        "browser_cpu_s": statistics.median(browser_cpu),
        "points_drawn_without_server": local_points,
        "messages_while_stroking": stroke_messages,
    }


def browser_round_trip(
    image_path: Path, specs: list[drafts.AppMethod], full_page: bool = False, tag: str = ""
) -> dict:
    """Every method in headless Chromium on an app serving 854x480 frames: from a press (or
    key) to the updated mask drawn on the canvas, measured in the browser. ``full_page``:
    every event reruns the whole page, as without the unit's fragment. The app server sees
    this process's environment (``library_params``)."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))  # the browser test's helpers (tests/ is not installed)

    from al_loop.wiring.cli import app_command
    from app.project import create_project
    from tests.app.test_browser import CHROMIUM, CHROMIUM_FLAGS, free_port, wait_for_health

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        for path in sorted(image_path.parent.glob(f"*{image_path.suffix}"))[:5]:
            shutil.copy2(path, images / path.name)  # a few frames: the pool needs a split
        project_dir = create_project(
            Path(tmp) / "project",
            images,
            config={"segmenter": {"encoder_weights": None}},
            classes_file=ROOT / "app/examples/object_classes.yaml",
        )
        port = free_port()
        env = {**os.environ, "AL_LOOP_PROJECT": str(project_dir)}
        if full_page:
            env["AL_LOOP_FULL_PAGE_RERUNS"] = "1"
        args = argparse.Namespace(project_dir=str(project_dir), address="127.0.0.1", port=port)
        server = subprocess.Popen(
            app_command(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(url, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                page.goto(f"{url}/?tab=bench", timeout=120_000)
                canvas = Canvas(page, (480, 854))
                for spec in specs:
                    results[spec.method] = row = browser_method(page, canvas, spec, server.pid)
                    print(
                        f"browser{' (full page)' if full_page else ''}{tag} {spec.method:24s} median {row['median_s']:.3f} s "
                        f"(first {row['first_s']:.3f} s, n {len(row['latencies_s'])}; CPU: server "
                        f"{row['server_cpu_s']:.3f} s, browser {row['browser_cpu_s']:.3f} s); "
                        f"points drawn without the server: {row['points_drawn_without_server']}, "
                        f"messages while stroking: {row['messages_while_stroking']}",
                        flush=True,
                    )
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return results


def server_rows(image: np.ndarray, specs: list[drafts.AppMethod], tag: str = "") -> dict:
    rows = {}
    for spec in specs:
        rows[spec.method] = row = server_side(image, spec)
        print(
            f"server{tag} {spec.method:24s} on {row['work_hw'][1]}x{row['work_hw'][0]}: median "
            f"{row['median_s']:.3f} s wall, {row['median_cpu_s']:.3f} s CPU (first "
            f"{row['first_s']:.3f} s wall, {row['first_cpu_s']:.3f} CPU), max {row['max_s']:.3f} s, "
            f"replay all {row['replay_all_s']:.3f} s",
            flush=True,
        )
    return rows


def main(
    image_path: Path = IMAGE,
    browser: bool = False,
    methods: list[str] | None = None,
    full_page: bool = False,
    compare_library: bool = False,
    untrained_learned: bool | list[str] = False,
) -> dict:
    """``untrained_learned``: True for every learned method, or the names of those to run
    untrained (the others as found)."""
    torch.set_num_threads(1)
    if not untrained_learned:
        return measure(image_path, browser, methods, full_page, compare_library, "as found")
    names = None if untrained_learned is True else list(untrained_learned)
    unknown = sorted(set(names or []) - set(LEARNED_METHODS))
    if unknown:
        raise SystemExit(
            f"--untrained-learned: {unknown} not learned methods {sorted(LEARNED_METHODS)}"
        )
    home = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="app-latency-learned-") as folder:
        untrained_learned_weights(Path(folder), names)
        os.chdir(folder)  # the methods (and the app server) look in the working directory
        try:
            learned = "untrained, configs/interactive_all.yaml's architecture and geometry"
            if names is not None:
                learned = f"{', '.join(names)} {learned}; the others as found"
            return measure(image_path, browser, methods, full_page, compare_library, learned)
        finally:
            os.chdir(home)


def measure(
    image_path: Path,
    browser: bool,
    methods: list[str] | None,
    full_page: bool,
    compare_library: bool,
    learned_weights: str,
) -> dict:
    image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    results = {"image": str(image_path), "hw": list(image.shape[:2]), "methods": {}}
    results["learned_weights"] = learned_weights
    offered = drafts.available_methods(METHODS)
    specs = [m for m in offered if methods is None or m.method in methods]
    # the registry's defaults beside the app's parameters: only where they differ
    library_specs = [s for s in specs if scaled.app_params(s.method)] if compare_library else []
    results["load_average_before"] = os.getloadavg()
    results["methods"] = server_rows(image, specs)
    if library_specs:
        with library_params(True):
            results["methods_library_params"] = server_rows(image, library_specs, " (library)")
    results["model_start_mask_s"] = model_start_mask(image)
    print(f"model starting mask (one forward pass): {results['model_start_mask_s']:.3f} s")
    if browser:
        results["browser"] = browser_round_trip(image_path, specs)
        if library_specs:
            with library_params(True):
                results["browser_library_params"] = browser_round_trip(
                    image_path, library_specs, tag=" (library)"
                )
    if full_page:  # the same without the fragment: what rerunning only the unit saves
        results["browser_full_page"] = browser_round_trip(image_path, specs, full_page=True)
    results["load_average"] = os.getloadavg()  # the machine is shared: read ratios, not seconds
    print(f"load average {results['load_average_before']} -> {results['load_average']}")
    out = Path(__file__).parent / "results" / "app_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, default=IMAGE)
    parser.add_argument("--browser", action="store_true", help="also every method in Chromium")
    parser.add_argument("--methods", nargs="+", help="only these methods (default: all offered)")
    parser.add_argument(
        "--full-page", action="store_true", help="also in Chromium with whole-page reruns"
    )
    parser.add_argument(
        "--library-params",
        action="store_true",
        help="also the methods the app builds differently with the registry's defaults",
    )
    parser.add_argument(
        "--untrained-learned",
        nargs="*",
        metavar="NAME",
        help="the learned methods (or only these) with untrained networks of the trained "
        "ones' architecture",
    )
    args = parser.parse_args()
    main(
        args.image.resolve(),
        args.browser,
        args.methods,
        args.full_page,
        args.library_params,
        True if args.untrained_learned == [] else (args.untrained_learned or False),
    )
