import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from al_loop.core.errors import ConfigError, DataError
from al_loop.data import CAMVID_RARE_CLASSES, IGNORE, load_dataset
from al_loop.data.camvid import (
    CAMVID_CLASSES,
    camvid_files,
    decode_camvid_mask,
    evenly_spaced,
    load_camvid,
)
from al_loop.data.folder import read_mask

# CamVid lives next to the repository (../shared/datasets), read in place and never written.
CAMVID = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "CamVid"
needs_camvid = pytest.mark.skipif(not CAMVID.is_dir(), reason=f"{CAMVID} not available")


# --- hand-made arrays -----------------------------------------------------------------------------


def test_void_becomes_ignore_and_ids_stay():
    raw = np.array([[0, 3, 10, 11, 255]], np.uint8)
    assert decode_camvid_mask(raw, Path("m.png")).tolist() == [[0, 3, 10, IGNORE, IGNORE]]


def test_unknown_class_id_names_the_file():
    with pytest.raises(DataError, match=r"^m\.png: unknown class id 12 "):
        decode_camvid_mask(np.array([[0, 12, 200]], np.uint8), Path("m.png"))


@pytest.mark.parametrize(
    ("n", "limit", "expected"),
    [(10, 3, [0, 4, 9]), (10, 1, [0]), (5, 5, [0, 1, 2, 3, 4]), (4, 9, [0, 1, 2, 3])],
)
def test_evenly_spaced(n, limit, expected):
    assert evenly_spaced(list(range(n)), limit) == expected


def test_classes_and_rare_classes():
    names = [c.name for c in CAMVID_CLASSES]
    assert names[:3] == ["Sky", "Building", "Pole"] and names[-1] == "Bicyclist"
    assert len(names) == 11 and len({c.color for c in CAMVID_CLASSES}) == 11
    assert set(CAMVID_RARE_CLASSES) < set(names)


def test_missing_root_is_named(tmp_path):
    with pytest.raises(DataError, match=r"CamVid root not found: .*nowhere"):
        load_camvid(tmp_path / "nowhere")


def test_bad_params_are_named():
    with pytest.raises(ConfigError, match=r"^dataset\.sequences: unknown 'Seq99'; valid: 0001TP"):
        load_dataset("camvid", sequences=["Seq99"])
    with pytest.raises(ConfigError, match=r"^dataset\.limit: expected an integer >= 1"):
        load_dataset("camvid", limit=0)
    with pytest.raises(ConfigError, match=r"^dataset\.fractions: unknown key"):
        load_dataset("camvid", fractions=[0.5, 0.25, 0.25])  # the split is fixed


# --- the real frames ------------------------------------------------------------------------------


@needs_camvid
def test_split_sizes_at_full():
    assert [len(camvid_files(CAMVID, split)) for split in ("train", "val", "test")] == [
        367,
        101,
        233,
    ]


@needs_camvid
def test_reader_on_real_frames():
    data = load_camvid(CAMVID, "val", hw=None, limit=3)
    assert data.names == ["0016E5_07959", "0016E5_08059", "0016E5_08159"]  # first, middle, last
    assert data.images.shape == (3, 360, 480, 3) and data.masks.shape == (3, 360, 480)
    assert data.meta["sequences"] == ["0016E5"] * 3
    assert data.meta["dense_cost"] == "dense_camvid"  # the unit of "% of labelling everything"
    raw = read_mask(CAMVID / "valannot" / "0016E5_07959.png")
    ids = set(np.unique(data.masks).tolist())
    assert ids <= set(range(11)) | {IGNORE} and len(ids) > 5
    # void pixels and only they became IGNORE; every other id is unchanged
    np.testing.assert_array_equal(data.masks[0] == IGNORE, raw == 11)
    np.testing.assert_array_equal(data.masks[0][raw != 11], raw[raw != 11])
    assert [c.name for c in data.classes] == [c.name for c in CAMVID_CLASSES]


@needs_camvid
def test_registry_resizes_and_limits_each_split():
    splits = load_dataset("camvid", root=str(CAMVID), hw=[45, 60], limit=4)
    assert [len(s) for s in (splits.train, splits.val, splits.test)] == [4, 4, 4]
    assert splits.train.images.shape == (4, 45, 60, 3)
    assert set(splits.train.meta["sequences"]) == {"0001TP", "0006R0", "0016E5"}  # all, not one
    assert set(splits.test.meta["sequences"]) == {"0001TP", "Seq05VD"}
    # nearest neighbour: no blended ids appear at the boundaries
    full = load_camvid(CAMVID, "val", hw=None, limit=4)
    assert set(np.unique(splits.val.masks)) <= set(np.unique(full.masks))
    # a dense street scene: no class is a free background (Sky is class 0)
    assert splits.train.background is None and splits.train.subset([0, 1]).background is None
    # the report's rare-class columns; a subset of 4 frames keeps all 4 names
    assert splits.train.subset(range(4)).meta["rare_classes"] == CAMVID_RARE_CLASSES


@needs_camvid
def test_sequences_filter_the_pool_only():
    splits = load_dataset("camvid", root=str(CAMVID), hw=[45, 60], limit=3, sequences=["0006R0"])
    assert splits.train.meta["sequences"] == ["0006R0"] * 3
    assert len(splits.val) == 3 and len(splits.test) == 3


def _copy_frames(tmp_path: Path, count: int = 2) -> Path:
    root = tmp_path / "CamVid"
    for images, masks in (("train", "trainannot"), ("val", "valannot"), ("test", "testannot")):
        (root / images).mkdir(parents=True)
        (root / masks).mkdir()
        for image in sorted((CAMVID / images).glob("*.jpg"))[:count]:
            shutil.copy(image, root / images)
            shutil.copy(CAMVID / masks / f"{image.stem}.png", root / masks)
    return root


@needs_camvid
def test_bad_files_are_named(tmp_path):
    root = _copy_frames(tmp_path)
    assert len(load_camvid(root, "train", hw=(45, 60))) == 2
    first, second = sorted((root / "trainannot").glob("*.png"))

    cv2.imwrite(str(first), np.zeros((10, 10), np.uint8))  # wrong size
    with pytest.raises(DataError, match=rf"^{first}: size 10x10 differs from its frame 360x480"):
        load_camvid(root, "train")

    cv2.imwrite(str(first), np.full((360, 480), 12, np.uint8))  # unknown id
    with pytest.raises(DataError, match=rf"^{first}: unknown class id 12"):
        load_camvid(root, "train")

    first.write_bytes(b"not a png")  # corrupt
    with pytest.raises(DataError, match=rf"^{first}: unreadable or corrupt mask"):
        load_camvid(root, "train")

    second.unlink()  # missing
    with pytest.raises(DataError, match=rf"{second.stem}\.jpg: no label map"):
        load_camvid(root, "train")

    image = sorted((root / "val").glob("*.jpg"))[0]
    image.write_bytes(b"")
    with pytest.raises(DataError, match=rf"^{image}: unreadable or corrupt image"):
        load_camvid(root, "val")
