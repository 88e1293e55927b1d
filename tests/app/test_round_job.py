import numpy as np
import pytest

from app.project import Project
from app.round_job import job_progress, phase_of, run_round_job
from tests.app.helpers import make_project


def test_phase_names_come_from_the_loop_progress_descriptions():
    assert phase_of("round 12 train") == "train"
    assert phase_of("round 0 train annotation model") == "train annotation model"


@pytest.mark.parametrize(
    ("status", "running", "fraction", "text"),
    [
        ({"state": "running", "round": 0}, True, None, "Round 0: starting (5 s)"),
        (
            {"state": "running", "round": 2, "phase": "train", "done": 30, "total": 120},
            True,
            0.25,
            "Round 2: training the segmenter (30/120 steps)",
        ),
        (  # a phase that counts nothing says how long it has run, never "0 %"
            {"state": "running", "round": 2, "phase": "select", "done": 0, "total": None},
            True,
            None,
            "Round 2: selecting the next units (5 s)",
        ),
        ({"state": "done", "round": 2, "next_round": 3}, False, None, "round 3 queued"),
        ({"state": "failed", "error": "ValueError: x"}, False, None, "failed: ValueError: x"),
        ({"state": "idle"}, False, None, ""),
    ],
)
def test_job_progress_says_the_round_the_phase_and_how_far(status, running, fraction, text):
    status = {**status, "since": 100.0} if running else status
    got_fraction, got_text = job_progress(status, running, now=105.0)
    assert got_fraction == fraction
    assert text in got_text and "None" not in got_text


@pytest.mark.slow
def test_a_person_labels_on_while_the_round_trains_and_the_new_ranking_replaces_the_queue(
    tmp_path,
):
    project_dir = make_project(tmp_path)
    mask = np.zeros((64, 64), bool)
    mask[10:30, 10:30] = True
    with Project(project_dir) as project:
        assert project.queue_check_units(1) == 1
        check = project.lease("checker")
        first = project.lease("tab")
        project.accept(first, [(1, mask)], 300.0, [], "polygon", "person:t")  # overspent
        held = project.lease("tab")  # what the person has open when Finish round is clicked
        project.store.close_round(0, keep_queue=True)  # what start_finish_round does first
        during = project.lease("tab2")  # labelling goes on from round 0's queue
        assert during is not None and not during.held_out
        project.accept(during, [(1, mask)], 100.0, [], "polygon", "person:t2")
    assert run_round_job(project_dir)["state"] == "done"
    with Project(project_dir) as project:
        store = project.store
        rounds = store.rounds()
        assert [r.status for r in rounds] == ["evaluated", "selected"]
        assert (rounds[0].n_annotated, rounds[0].seconds_total) == (1, 300.0)
        assert rounds[0].metrics["labelled_images"] == 1  # the label made meanwhile: round 1
        assert [a["round"] for a in store.annotations()] == [0, 1]
        # 400 s spent against round 1's 240 s target: half a round (60 s) at the person's
        # 200 s per unit is 2 units (ceil(1.5 * 60 / 200) + 1), not the one unit of before
        assert len(store.queued(1)) == 2
        # the new ranking replaced round 0's queue but for the units held, never twice
        assert {q.unit for q in store.queued(0)} == {held.unit, check.unit}
        live = {first.unit, during.unit, held.unit, check.unit}
        assert not live & {q.unit for q in store.queued(1)}
        assert project.lease("tab").id == held.id  # the person's unit survived the ranking
        assert project.lease("checker").id == check.id  # the check unit too
        project.accept(held, [(1, mask)], 5.0, [], "polygon", "person:t")
        assert store.annotations()[-1]["round"] == 1
        assert store.rounds()[1].n_annotated == 2
