"""How long the Annotate page takes from an interaction to the updated mask at DAVIS's native
854x480, for every method the app offers.

Server side, per interaction: the live session's incremental ``add`` (the page keeps it between
runs), drawing the overlay and encoding the PNG the image component sends; plus the full replay
an undo or a refresh costs, and the model's starting mask (one forward pass per image, cached).
With ``--browser``: one real round trip in headless Chromium (click on the image -> the page
shows the new interaction count), median over a few clicks. Writes
benchmarks/results/app_latency.json.

    .venv/bin/python benchmarks/app_latency.py [--image IMAGE] [--browser]
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
from pathlib import Path

import cv2
import numpy as np
import torch

from al_loop.interactive import METHODS
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


def server_side(image: np.ndarray, spec: drafts.AppMethod) -> dict:
    draft = drafts.new_draft(spec.method, 1)
    live = drafts.LiveObject()  # as the page keeps it between runs
    colors = [(0, 0, 0), (255, 0, 0)]
    per_interaction = []
    for kind, data in actions(spec):
        before = len(draft["current"])
        if kind == "point":
            drafts.add_point(draft, *data)
        elif kind == "stroke":
            drafts.add_stroke(draft, data)
        else:
            drafts.finish_pending(draft)
        started = time.perf_counter()
        mask = live.mask(("unit", 0), spec.method, image, draft["current"])
        masked = time.perf_counter()
        picture = drafts.render(image, [(1, mask)], colors, (0, 0, *image.shape[:2]), draft)
        cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 0])
        done = time.perf_counter()
        if len(draft["current"]) > before:  # a pending point only redraws: not a mask update
            per_interaction.append({"mask_s": masked - started, "render_s": done - masked})
    started = time.perf_counter()
    drafts.object_mask(spec.method, image, draft["current"])
    replay = time.perf_counter() - started
    totals = [c["mask_s"] + c["render_s"] for c in per_interaction]
    return {
        "interactions": per_interaction,
        "first_s": totals[0],
        "median_later_s": statistics.median(totals[1:]) if len(totals) > 1 else None,
        "max_s": max(totals),
        "replay_all_s": replay,
    }


def model_start_mask(image: np.ndarray) -> float:
    """One forward pass of the default segmenter (random weights: the time is the same)."""
    from al_loop.models.segmenter import make_segmenter

    segmenter = make_segmenter(num_classes=4, encoder_weights=None)
    segmenter.predict(image[None])  # build and warm up
    started = time.perf_counter()
    segmenter.predict(image[None])
    return time.perf_counter() - started


def browser_round_trip(image_path: Path, clicks: int = 5) -> dict:
    """Click -> updated page in headless Chromium on an app serving one 854x480 image."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))  # the browser test's helpers (tests/ is not installed)

    from al_loop.wiring.cli import app_command
    from app.project import create_project
    from tests.app.test_browser import (
        CHROMIUM,
        CHROMIUM_FLAGS,
        IMAGE_FRAME,
        free_port,
        wait_for_health,
    )

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
        args = argparse.Namespace(project_dir=str(project_dir), address="127.0.0.1", port=port)
        server = subprocess.Popen(
            app_command(args), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        times = []
        try:
            wait_for_health(url, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
                )
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/?tab=bench", timeout=120_000)
                for k in range(1, clicks + 1):
                    frame = page.frame_locator(IMAGE_FRAME).locator("img")
                    frame.wait_for(timeout=120_000)
                    y, x = CLICKS[k - 1]
                    box = frame.bounding_box()
                    scale = box["width"] / 854
                    started = time.perf_counter()
                    frame.click(position={"x": x * scale, "y": y * scale})
                    page.get_by_text(f"{k} interactions").wait_for(timeout=60_000)
                    times.append(time.perf_counter() - started)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "method": "watershed_clicks",
        "click_to_updated_page_s": times,
        "median_s": statistics.median(times),
    }


def main(image_path: Path = IMAGE, browser: bool = False, methods: list[str] | None = None) -> dict:
    torch.set_num_threads(1)
    image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    results = {"image": str(image_path), "hw": list(image.shape[:2]), "methods": {}}
    offered = drafts.available_methods(METHODS)
    for spec in [m for m in offered if methods is None or m.method in methods]:
        results["methods"][spec.method] = row = server_side(image, spec)
        later = row["median_later_s"]
        print(
            f"{spec.method:24s} first {row['first_s']:.3f} s, later median "
            f"{later if later is None else round(later, 3)} s, max {row['max_s']:.3f} s, "
            f"replay all {row['replay_all_s']:.3f} s",
            flush=True,
        )
    results["model_start_mask_s"] = model_start_mask(image)
    print(f"model starting mask (one forward pass): {results['model_start_mask_s']:.3f} s")
    if browser:
        results["browser"] = browser_round_trip(image_path)
        print(f"browser click -> updated page: {results['browser']}")
    results["load_average"] = os.getloadavg()  # the machine is shared: read ratios, not seconds
    out = Path(__file__).parent / "results" / "app_latency.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, default=IMAGE)
    parser.add_argument("--browser", action="store_true", help="add one real-browser round trip")
    parser.add_argument("--methods", nargs="+", help="only these methods (default: all offered)")
    args = parser.parse_args()
    main(args.image, args.browser, args.methods)
