"""A real browser: the app served on a free localhost port, driven by headless Chromium."""

import argparse
import json
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
CANVAS_FRAME = 'iframe[title="app.canvas.canvas"]'


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
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a script run still busy on a loaded machine
            server.kill()
            server.wait()
        log.close()


def canvas_frame(page):
    """The canvas's frame, once it has drawn the unit."""
    page.frame_locator(CANVAS_FRAME).locator("canvas#view").wait_for(timeout=120_000)
    frame = next(f for f in page.frames if "app.canvas.canvas" in f.url)
    frame.wait_for_function("() => window.canvasState && window.canvasState().scale > 0")
    return frame


def canvas_at(page, frame, y: int, x: int) -> tuple[float, float]:
    """Page coordinates of crop pixel (y, x) on the canvas, as it is zoomed and scrolled."""
    box = page.frame_locator(CANVAS_FRAME).locator("canvas#view").bounding_box()
    scale = frame.evaluate("window.canvasState().scale")
    return box["x"] + (x + 0.5) * scale, box["y"] + (y + 0.5) * scale


def answered(frame, timeout: float = 60_000) -> dict:
    """The canvas state once every event it sent is answered and drawn."""
    frame.wait_for_function(
        "() => { const s = window.canvasState(); return s.queued === 0 && s.shownSeq >= s.lastSeq; }",
        timeout=timeout,
    )
    return frame.evaluate("window.canvasState()")


@pytest.mark.slow
def test_a_click_is_drawn_its_mask_shown_enter_accepts_and_waits_are_stored_apart(
    new_page, served_app, tmp_path
):
    url, project_dir = served_app
    page = new_page()
    page.goto(f"{url}/?tab=browser", timeout=120_000)
    frame = canvas_frame(page)
    page.mouse.click(*canvas_at(page, frame, 30, 30))
    state = answered(frame)
    assert state["messages"] == 1 and state["labelled"] > 0  # the click's mask is on the canvas
    page.get_by_text("1 interactions").wait_for(timeout=60_000)
    page.screenshot(path=str(tmp_path / "annotate.png"), full_page=True)
    page.keyboard.press("Enter")  # the shortcut for Accept
    rows = stored_annotations(project_dir)
    assert len(rows) == 1
    (click,) = rows[0]["interactions"]
    assert click["type"] == "Click" and (click["y"], click["x"]) == (30, 30) and click["positive"]
    assert rows[0]["wait_seconds"] > 0  # the app's wait for the mask, stored apart ...
    assert rows[0]["seconds"] >= 0  # ... from the person's own seconds


@pytest.mark.slow
def test_a_stroke_is_drawn_in_the_browser_and_stored_as_a_scribble(new_page, served_app):
    url, project_dir = served_app
    page = new_page()
    page.goto(f"{url}/?tab=strokes", timeout=120_000)
    frame = canvas_frame(page)
    page.get_by_role("combobox", name="Method").click()
    page.get_by_role("option", name="Scribbles").click()
    frame.wait_for_function("() => window.canvasState().gesture === 'stroke'", timeout=60_000)
    page.mouse.move(*canvas_at(page, frame, 5, 5))
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(*canvas_at(page, frame, 5 + 2 * k, 5 + 3 * k), steps=2)
    assert frame.evaluate("window.canvasState().messages") == 0  # drawn with no round trip
    page.mouse.up()
    answered(frame)
    page.get_by_text("1 interactions").wait_for(timeout=60_000)
    page.get_by_role("button", name="Accept").click()
    rows = stored_annotations(project_dir)
    assert len(rows) == 1 and rows[0]["method"] == "scribbles"
    (stroke,) = rows[0]["interactions"]
    assert stroke["type"] == "Scribble" and stroke["positive"]
    assert stroke["points"][0] == [5, 5] and stroke["points"][-1] == [25, 35]


@pytest.mark.slow
def test_the_whole_image_shows_and_at_2x_panning_reaches_the_right_edge(new_page, served_app):
    url, project_dir = served_app
    page = new_page()
    page.set_viewport_size({"width": 1000, "height": 900})  # narrower than the zoomed image
    page.goto(f"{url}/?tab=pan", timeout=120_000)
    frame = canvas_frame(page)
    state = frame.evaluate("window.canvasState()")
    assert state["scrollWidth"] <= state["clientWidth"]  # at fit, nothing is cut off
    frame.locator("#zoom_in").click()  # 1.5x
    frame.locator("#zoom_in").click()  # 2x
    state = frame.evaluate("window.canvasState()")
    assert state["zoom"] == 2 and state["scrollWidth"] > state["clientWidth"]
    box = page.frame_locator(CANVAS_FRAME).locator("#viewport").bounding_box()
    middle = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.keyboard.down("Shift")  # Shift-drag pans
    page.mouse.move(*middle)
    page.mouse.down()
    page.mouse.move(middle[0] - box["width"] / 2 + 5, middle[1], steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    state = frame.evaluate("window.canvasState()")
    assert state["scrollLeft"] + state["clientWidth"] >= state["scrollWidth"] - 1
    assert state["messages"] == 0  # zoom and pan never ask the server
    page.mouse.click(*canvas_at(page, frame, 32, 63))  # the last column, now in view
    answered(frame)
    (draft,) = [json.loads(p.read_text()) for p in (project_dir / "drafts").glob("unit_*.json")]
    assert draft["current"][0]["x"] == 63


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
    # a person looks before clicking: without it a fast browser times the click at 0 s
    page.wait_for_timeout(300)
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
    # as for the first unit: Accept only once the click is in (a loaded CI machine was slower)
    page.get_by_text("1 interactions").wait_for(timeout=60_000)
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
