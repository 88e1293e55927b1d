"""Finish round -> the next unit served, in headless Chromium, on a DAVIS project at 854x480
(app/examples/davis.yaml: whole frames as units, the default encoder).

Side by side in one run, per round: the seconds from clicking ``Finish round`` to the Annotate
page serving the next unit (now: the closed round's queue, while the job trains), and to the
next round's ranking being ready (what a person waited before, when nothing could be labelled
during the job). A unit is labelled during the training to show the wait is gone. Writes
benchmarks/results/app_finish_round.json.

    nice -n 10 .venv/bin/python benchmarks/app_finish_round.py [--frames 24] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DAVIS = ROOT.parent / "shared/datasets/DAVIS"
RESULTS = ROOT / "benchmarks/results/app_finish_round.json"


def make_project(tmp: Path, frames: int) -> Path:
    from app.project import create_project

    images, masks = tmp / "images", tmp / "masks"
    images.mkdir()
    masks.mkdir()
    for path in sorted((DAVIS / "img").glob("*.jpg"))[:frames]:
        (images / path.name).symlink_to(path)
        (masks / f"{path.stem}.png").symlink_to(DAVIS / "gt" / f"{path.stem}.png")
    config = yaml.safe_load((ROOT / "app/examples/davis.yaml").read_text())
    return create_project(tmp / "project", images, masks, config, binary=True)


def stored_round(project_dir: Path, before: int, timeout: float = 300.0) -> int | None:
    """The round of the annotation stored after the first ``before`` (the app stores it
    asynchronously), or None if none comes."""
    from app.project import Project

    deadline = time.time() + timeout
    while time.time() < deadline:
        with Project(project_dir) as project:
            rows = project.store.annotations()
        if len(rows) > before:
            return rows[before]["round"]
        time.sleep(0.5)
    return None


def finish_rounds(frames: int, rounds: int, labels: int) -> dict:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))  # the browser test's helpers (tests/ is not installed)
    from al_loop.wiring.cli import app_command
    from app.project import Project
    from tests.app.test_browser import (
        CHROMIUM,
        CHROMIUM_FLAGS,
        free_port,
        type_point,
        wait_for_health,
        wait_until_idle,
    )

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        project_dir = make_project(Path(tmp), frames)
        port = free_port()
        env = {**os.environ, "AL_LOOP_PROJECT": str(project_dir)}
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
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/?tab=bench", timeout=300_000)
                for round_index in range(rounds):
                    for _ in range(labels):  # a click and Accept per unit
                        page.get_by_text("of the queue").first.wait_for(timeout=300_000)
                        wait_until_idle(page, 300_000)
                        with Project(project_dir) as project:
                            before = len(project.store.annotation_logs())
                        type_point(page, "240 427")
                        page.get_by_text("1 interactions").wait_for(timeout=300_000)
                        page.get_by_role("button", name="Accept").click()
                        stored_round(project_dir, before)
                        wait_until_idle(page, 300_000)
                    started = time.perf_counter()
                    page.get_by_role("button", name=f"Finish round {round_index}").click()
                    page.get_by_text(f"Round {round_index} is being trained").wait_for(
                        timeout=300_000
                    )
                    page.get_by_text("of the queue").first.wait_for(timeout=300_000)
                    served = time.perf_counter() - started
                    wait_until_idle(page, 300_000)
                    with Project(project_dir) as project:
                        before = len(project.store.annotation_logs())
                    type_point(page, "240 427")  # labelled while the round trains
                    page.get_by_text("1 interactions").wait_for(timeout=300_000)
                    page.get_by_role("button", name="Accept").click()
                    during = stored_round(project_dir, before)
                    while Project(project_dir).job_status().get("state") == "running":
                        time.sleep(1.0)
                    ranked = time.perf_counter() - started
                    status = Project(project_dir).job_status()
                    if status.get("state") != "done":
                        raise RuntimeError(f"round job: {status.get('error')}")
                    results.append(
                        {
                            "round": round_index,
                            "finish_to_next_unit_s": round(served, 2),
                            "finish_to_new_ranking_s": round(ranked, 1),
                            "label_made_during_training_counts_for_round": during,
                        }
                    )
                    print(json.dumps(results[-1]), flush=True)
                    page.reload()
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"frames": frames, "config": "app/examples/davis.yaml", "rounds": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24, help="DAVIS frames in the project")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--labels", type=int, default=2, help="units labelled per round")
    args = parser.parse_args()
    out = finish_rounds(args.frames, args.rounds, args.labels)
    out["load_average_1min"] = os.getloadavg()[0]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
