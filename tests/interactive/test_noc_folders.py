"""`al-loop noc` on dataset folders as users have them: mixed sizes, binary 0/255 exports."""

import csv

import cv2
import numpy as np
import pytest

from al_loop.core.errors import DataError
from al_loop.interactive.noc import load_noc_samples
from al_loop.wiring.cli import main


def disc(hw: tuple[int, int], centre: tuple[int, int], radius: int, value: int):
    """A bright disc on a dark noisy background and its mask (``value`` on the disc)."""
    rng = np.random.default_rng(hw[0] * 1000 + hw[1])
    image = rng.integers(0, 40, (*hw, 3), dtype=np.uint8)
    mask = np.zeros(hw, dtype=np.uint8)
    cv2.circle(image, centre[::-1], radius, (220, 200, 180), -1)
    cv2.circle(mask, centre[::-1], radius, int(value), -1)
    return image, mask


def write_folder(root, sizes, value=1):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for k, hw in enumerate(sizes):
        image, mask = disc(hw, (hw[0] // 2, hw[1] // 2), min(hw) // 4, value)
        cv2.imwrite(str(root / "images" / f"im{k}.png"), image[..., ::-1])
        cv2.imwrite(str(root / "masks" / f"im{k}.png"), mask)
    return root


SIZES = [(48, 64), (49, 64), (64, 40)]


def test_folder_samples_keep_each_images_own_size(tmp_path):
    samples = load_noc_samples(write_folder(tmp_path / "f", SIZES))
    assert [s.image.shape[:2] for s in samples] == SIZES
    assert all(s.mask.shape == s.image.shape[:2] for s in samples)
    assert [int(s.mask.max()) for s in samples] == [1, 1, 1]


def test_limit_takes_the_first_images(tmp_path):
    samples = load_noc_samples(write_folder(tmp_path / "f", SIZES), limit=2)
    assert [s.name for s in samples] == ["im0", "im1"]


def test_noc_command_scores_a_folder_of_differently_sized_images(tmp_path, capsys):
    folder = write_folder(tmp_path / "f", SIZES)
    out = tmp_path / "out"
    main(["noc", "--method", "watershed_clicks", "--dataset", str(folder), "--out", str(out)])
    with open(out / "noc_watershed_clicks.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == ["im0", "im1", "im2"]
    # an easy disc per image: reached 90 % well before the cap
    assert all(float(r["noc90"]) < 20 for r in rows)


def test_binary_0_255_masks_are_refused_with_a_hint(tmp_path):
    folder = write_folder(tmp_path / "f", SIZES, value=255)
    with pytest.raises(DataError, match=r"masks: masks hold only 0 and 255.*mask // 255"):
        load_noc_samples(folder)


def test_0_255_masks_are_read_when_classes_yaml_says_255_is_unlabelled(tmp_path):
    folder = write_folder(tmp_path / "f", SIZES[:1], value=255)
    (folder / "classes.yaml").write_text("- background\n- object\n")
    samples = load_noc_samples(folder)
    assert set(np.unique(samples[0].mask)) == {0, 255}
