import numpy as np

from al_loop.data.base import IGNORE
from app import feature_view
from app.project import Project
from tests.app.helpers import make_project

# two 2x3 images; segments 0-1 in image 0, 2-4 in image 1
SEGMENTS = np.array([[[0, 0, 1], [0, 1, 1]], [[2, 3, 3], [2, 4, 4]]], np.int32)
SEGMENT_IMAGE = np.array([0, 0, 1, 1, 1])


def test_a_box_selection_is_a_segment_label():
    selected = np.array([False, True, False, True, False])
    assert feature_view.label_selection(selected, 2) == {
        "type": "SegmentLabel",
        "segment_ids": (1, 3),
        "label": 2,
    }
    timed = feature_view.label_selection(selected, 2, t0=5.0, t1=9.5)
    assert (timed["t0"], timed["t"], timed["t1"]) == (5.0, [9.5], 9.5)


def test_later_selections_win_and_unselected_segments_stay_unlabelled():
    log = [
        {"type": "SegmentLabel", "segment_ids": [1, 3], "label": 2},
        {"type": "SegmentLabel", "segment_ids": [3], "label": 1},
    ]
    assert feature_view.segment_labels(5, log).tolist() == [IGNORE, 2, IGNORE, 1, IGNORE]


def test_unit_results_give_each_labelled_image_its_pixels_and_its_own_log():
    log = [
        {"type": "SegmentLabel", "segment_ids": [1, 3], "label": 2},
        {"type": "SegmentLabel", "segment_ids": [4], "label": 0},
    ]
    (first, second) = feature_view.unit_results(SEGMENTS, SEGMENT_IMAGE, log)
    assert first[0] == 0 and first[1].tolist() == [[IGNORE, IGNORE, 2], [IGNORE, 2, 2]]
    assert first[2] == [{"type": "SegmentLabel", "segment_ids": [1], "label": 2}]
    assert second[0] == 1 and second[1].tolist() == [[IGNORE, 2, 2], [IGNORE, 0, 0]]
    assert [e["segment_ids"] for e in second[2]] == [[3], [4]]
    assert feature_view.unit_results(SEGMENTS, SEGMENT_IMAGE, []) == []


def test_accepted_view_labels_keep_unlabelled_pixels_ignored(tmp_path):
    with Project(make_project(tmp_path)) as project:
        queued = project.lease("tab:view0")
        labels = np.full((64, 64), IGNORE, np.uint8)
        labels[:10] = 3
        log = [{"type": "SegmentLabel", "segment_ids": [7], "label": 3}]
        project.accept_labels(queued, labels, 2.5, log, "feature_space", "person:t")
        (row,) = project.store.annotations()
    assert row["method"] == "feature_space" and row["seconds"] == 2.5
    assert (row["mask"][:10] == 3).all() and (row["mask"][10:] == IGNORE).all()
    assert row["n_interactions"] == 1
