"""A real browser: the app served on a free localhost port, driven by headless Chromium."""

import argparse
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from al_loop.core.cost import CostTable
from al_loop.wiring.cli import app_command, main
from app.project import Project
from tests.app.helpers import make_project

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
IMAGE_FRAME = 'iframe[title="streamlit_image_coordinates.streamlit_image_coordinates"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(url: str, server: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert server.poll() is None, "the app exited"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("the app did not come up")


def wait_until_idle(page, timeout: float = 60_000) -> None:
    """Until the script run the last action started has finished (Streamlit's status widget
    shows while it runs)."""
    page.wait_for_timeout(500)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=timeout)


def stored_annotations(project_dir: Path, timeout: float = 60.0) -> list[dict]:
    """The project's annotations once there are any (the app stores them asynchronously)."""
    deadline = time.time() + timeout
    while True:
        with Project(project_dir) as project:
            rows = project.store.annotations()
        if rows or time.time() > deadline:
            return rows
        time.sleep(0.5)


@pytest.fixture
def new_page():
    """``new_page(height)``: a page of headless Debian Chromium; skips where it is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield lambda height=900: browser.new_page(viewport={"width": 1280, "height": height})
        finally:
            browser.close()


@pytest.fixture
def served_app(tmp_path):
    project_dir = make_project(tmp_path)
    port = free_port()
    args = argparse.Namespace(project_dir=str(project_dir), address="127.0.0.1", port=port)
    env = {**os.environ, "AL_LOOP_PROJECT": str(project_dir)}
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(app_command(args), env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, server)
        yield url, project_dir
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_click_accept_in_chromium_stores_the_annotation(new_page, served_app, tmp_path):
    url, project_dir = served_app
    page = new_page()
    page.goto(f"{url}/?tab=browser", timeout=120_000)
    image = page.frame_locator(IMAGE_FRAME).locator("img")
    image.wait_for(timeout=120_000)
    image.click(position={"x": 30, "y": 30})
    page.get_by_text("1 interactions").wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "annotate.png"), full_page=True)
    page.get_by_role("button", name="Accept").click()
    rows = stored_annotations(project_dir)
    assert len(rows) == 1
    (click,) = rows[0]["interactions"]
    assert click["type"] == "Click" and click["positive"]
    assert (tmp_path / "annotate.png").stat().st_size > 0


@pytest.mark.slow
def test_a_stroke_drawn_on_the_canvas_is_stored_as_a_scribble(new_page, served_app, tmp_path):
    url, project_dir = served_app
    page = new_page()
    page.goto(f"{url}/?tab=strokes", timeout=120_000)
    page.frame_locator(IMAGE_FRAME).locator("img").wait_for(timeout=120_000)
    page.get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name="Scribbles").click()
    page.get_by_text("Next: stroke").wait_for(timeout=60_000)
    wait_until_idle(page)  # the canvas of the previous run would swallow the stroke
    canvas = page.locator("canvas").last  # Fabric's top canvas takes the pointer
    canvas.wait_for(timeout=60_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    for k in range(1, 11):  # the 64x64 image shows at 256x256 (MIN_DISPLAY_SIDE)
        page.mouse.move(box["x"] + 20 + 10 * k, box["y"] + 20 + 5 * k)
    page.mouse.up()
    page.get_by_text("1 interactions").wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "strokes.png"), full_page=True)
    page.get_by_role("button", name="Accept").click()
    rows = stored_annotations(project_dir)
    assert len(rows) == 1 and rows[0]["method"] == "scribbles"
    (stroke,) = rows[0]["interactions"]
    assert stroke["type"] == "Scribble" and stroke["positive"]
    (y, x), *rest = stroke["points"]  # the press at (20, 20) of the 4x picture, within a pixel
    assert abs(y - 5) <= 1 and abs(x - 5) <= 1 and len(rest) > 2


@pytest.mark.slow
def test_a_box_in_the_feature_space_labels_segments_of_several_units(
    served_app, new_page, tmp_path
):
    url, project_dir = served_app
    page = new_page(1000)
    page.goto(f"{url}/?tab=view", timeout=120_000)
    page.get_by_text("Feature space").click()
    page.get_by_role("button", name="Build the feature space").click(timeout=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
    wait_until_idle(page, 300_000)
    area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    page.mouse.move(area["x"] + 5, area["y"] + 5)  # a box over the left half
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] - 5, steps=10)
    page.mouse.up()
    page.get_by_role("button", name="Assign to").click()
    wait_until_idle(page)
    page.screenshot(path=str(tmp_path / "feature_space.png"), full_page=True)
    page.get_by_role("button", name="Accept").click()
    rows = stored_annotations(project_dir)
    assert len(rows) >= 2 and {r["method"] for r in rows} == {"feature_space"}
    assert all(r["interactions"][0]["type"] == "SegmentLabel" for r in rows)
    assert len({r["seconds"] for r in rows}) == 1  # the view's seconds, split equally
    assert all(((r["mask"] == 0) | (r["mask"] == 255)).all() for r in rows)  # class 0 chosen


def type_point(page, text: str) -> None:
    """The keyboard path of the Annotate page: "y x" in the point box, Enter."""
    box = page.get_by_label("Points (y x; y x ...), Enter to add")
    box.fill(text)
    box.press("Enter")
    wait_until_idle(page)


@pytest.mark.slow
def test_the_person_labels_while_the_round_trains(new_page, served_app, tmp_path):
    url, project_dir = served_app
    page = new_page()
    page.goto(f"{url}/?tab=rounds", timeout=120_000)
    page.get_by_text("of the queue").wait_for(timeout=120_000)
    type_point(page, "30 30")
    page.get_by_text("1 interactions").wait_for(timeout=60_000)
    page.get_by_role("button", name="Accept").click()
    assert len(stored_annotations(project_dir)) == 1
    wait_until_idle(page)
    page.get_by_role("button", name="Finish round 0").click()
    # the next unit is served at once, from round 0's queue, while the job trains round 0
    page.get_by_text("Round 0 is being trained").wait_for(timeout=60_000)
    type_point(page, "20 20")
    page.get_by_role("button", name="Accept").click()
    deadline = time.time() + 60
    while len(rows := stored_annotations(project_dir)) < 2:
        assert time.time() < deadline, "the second label was not stored"
        time.sleep(0.5)
    assert [r["round"] for r in rows] == [0, 1]  # the second: not round 0's model's
    # the clicks were timed in the browser: `al-loop costs` makes a cost table of them
    assert main(["costs", str(project_dir), "--out", str(tmp_path / "costs.yaml")]) == 0
    measured = CostTable.load(tmp_path / "costs.yaml").entries["click_first"]
    assert measured.source.endswith("n=2") and measured.seconds > 0
    page.screenshot(path=str(tmp_path / "rounds.png"), full_page=True)
    # the Overview, open while the job runs, redraws itself when it ends: no reload here
    page.get_by_text("Overview").click()
    page.get_by_text("Budget curve: validation mIoU vs seconds").wait_for(timeout=600_000)
    status = Project(project_dir).job_status()
    assert status["state"] == "done", status.get("trace")
    with Project(project_dir) as project:
        rounds = project.store.rounds()
    assert [(r.status, r.n_annotated) for r in rounds] == [("evaluated", 1), ("selected", 1)]
