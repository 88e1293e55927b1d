import csv

import cv2
import numpy as np
import pytest

from al_loop.annotators.noc import evaluate_image
from al_loop.core.cost import CostTable
from al_loop.core.errors import DataError
from al_loop.data.base import IGNORE
from al_loop.interactive import make_method
from al_loop.interactive.noc import (
    ImageRecord,
    Thresholded,
    binarize,
    format_table,
    iou_after,
    load_noc_samples,
    seconds_to,
    summarize,
)
from al_loop.wiring.cli import main
from simulators import make_user
from tests.interactive.test_methods import disc_scene


@pytest.fixture
def tiny_folder(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for seed in (0, 1):
        image, gt = disc_scene(seed=seed)
        cv2.imwrite(str(tmp_path / "images" / f"s{seed}.png"), image[..., ::-1])
        cv2.imwrite(str(tmp_path / "masks" / f"s{seed}.png"), gt.astype(np.uint8))
    return tmp_path


def record(ious, step=1.0, first=7.0):
    seconds = [first + step * k for k in range(len(ious))]
    return ImageRecord("x", list(ious), seconds, ["Click"] * len(ious))


def test_summary_by_hand():
    fast = record([0.86, 0.95])  # 85 % at 1, 90 % at 2
    never = record([0.5, 0.88, 0.89])  # 85 % at 2, never 90 %: counts the cap
    row = summarize([fast, never], max_interactions=20, curve_points=(1, 3))
    assert row["noc85"] == pytest.approx((1 + 2) / 2)
    assert row["noc90"] == pytest.approx((2 + 20) / 2)
    assert row["failed90"] == 1
    assert row["seconds85"] == pytest.approx((7.0 + 8.0) / 2)
    assert row["seconds90"] == pytest.approx((8.0 + 9.0) / 2)  # never: all seconds spent
    assert row["miou@1"] == pytest.approx((0.86 + 0.5) / 2)
    assert row["miou@3"] == pytest.approx((0.95 + 0.89) / 2)  # the last IoU repeats
    assert "NoC@85" in format_table({"m": row})


def test_iou_after_and_seconds_to_edge_cases():
    empty = record([])
    assert iou_after(empty, 3) == 0.0 and seconds_to(empty, 0.9) == 0.0
    assert seconds_to(record([0.95], first=35.0), 0.9) == 35.0


def test_no_images_is_an_error():
    with pytest.raises(DataError, match="no images"):
        summarize([])


def test_probabilities_are_thresholded_at_0_49():
    assert binarize(np.array([0.48, 0.5])).tolist() == [False, True]
    mask = np.array([True, False])
    assert binarize(mask) is mask


class HalfProbability:
    """A fake method whose sessions return probabilities: 0.5 on the clicked pixel's row."""

    name, interaction = "half", "click"

    def start(self, image, initial_mask=None):
        return self

    @property
    def mask(self):
        return np.zeros((4, 4))

    def add(self, click):
        out = np.zeros((4, 4))
        out[click.y] = 0.5
        return out


def test_thresholded_sessions_give_bool_masks():
    session = Thresholded(HalfProbability()).start(None)
    assert session.mask.dtype == bool and not session.mask.any()
    gt = np.zeros((4, 4), np.uint8)
    gt[1] = 1
    rec = evaluate_image("p", HalfProbability(), make_user("click"), None, gt, CostTable.load())
    assert rec.ious == [1.0] and rec.seconds == [2.4] and rec.kinds == ["Click"]


def test_ignore_band_and_opening_interaction_are_counted():
    image, gt_bool = disc_scene()
    gt = gt_bool.astype(np.uint8)
    gt[0:2] = IGNORE
    method = make_method("grabcut_box")
    rec = evaluate_image("d", method, make_user("box"), image, gt, CostTable.load())
    assert rec.kinds[0] == "Box" and rec.seconds[0] == 35.0 and rec.ious[0] >= 0.9


def test_an_image_without_object_is_an_error():
    image, _ = disc_scene()
    with pytest.raises(DataError, match="no object"):
        evaluate_image(
            "e",
            make_method("grabcut_box"),
            make_user("box"),
            image,
            np.zeros((64, 80), np.uint8),
            CostTable.load(),
        )


def test_folder_samples_and_limit(tiny_folder):
    samples = load_noc_samples(tiny_folder, limit=1)
    assert len(samples) == 1 and samples[0].image.shape == (64, 80, 3)
    with pytest.raises(DataError, match="not a NoC dataset"):
        load_noc_samples(tiny_folder / "images")


def test_noc_command_on_a_tiny_folder(tiny_folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["noc", "--method", "grabcut_box", "--method", "scribbles"]
    argv += ["--dataset", str(tiny_folder), "--out", str(out), "--max-interactions", "5"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "grabcut_box" in printed and "scribbles" in printed and "NoC@90" in printed
    rows = list(csv.DictReader((out / "noc_grabcut_box.csv").read_text().splitlines()))
    assert [r["image"] for r in rows] == ["s0", "s1"]
    assert float(rows[0]["seconds90"]) == 35.0 and "iou@5" in rows[0]
    assert (out / "noc_scribbles.png").is_file() and (out / "noc_all.png").is_file()


def test_noc_command_errors_are_one_line(tiny_folder, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["noc", "--method", "nope", "--dataset", str(tiny_folder), "--out", out]) == 2
    assert "unknown 'nope'" in capsys.readouterr().err
    assert main(["noc", "--method", "grabcut_box", "--dataset", str(tmp_path / "x")]) == 2
