from pathlib import Path

import cv2
import numpy as np
import pytest

from al_loop.core.errors import ConfigError, DataError
from al_loop.data import DAVIS_ROOT, DAVIS_VIDEOS, GRABCUT_ROOT, IGNORE, load_dataset
from al_loop.data.benchmarks import (
    davis_files,
    davis_video_ids,
    decode_davis_mask,
    decode_grabcut_mask,
    grabcut_files,
    load_davis,
    load_davis_samples,
    load_grabcut,
    load_grabcut_samples,
)

# The benchmark folders live next to the repository (../shared/datasets), read in place.
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
GRABCUT, DAVIS = SHARED / "GrabCut", SHARED / "DAVIS"
needs_grabcut = pytest.mark.skipif(not GRABCUT.is_dir(), reason=f"{GRABCUT} not available")
needs_davis = pytest.mark.skipif(not DAVIS.is_dir(), reason=f"{DAVIS} not available")


# --- encodings, on hand-made arrays ---------------------------------------------------------------


def test_grabcut_encoding():
    raw = np.array([[0, 128, 255]], np.uint8)
    assert decode_grabcut_mask(raw, Path("m.bmp")).tolist() == [[0, IGNORE, 1]]
    with pytest.raises(DataError, match=r"m\.bmp: unexpected mask value 7"):
        decode_grabcut_mask(np.array([[0, 7]], np.uint8), Path("m.bmp"))


def test_davis_encoding_merges_objects():
    raw = np.zeros((1, 4, 3), np.uint8)
    raw[0, 1] = (0, 0, 128)
    raw[0, 2] = (0, 128, 0)
    raw[0, 3] = (1, 0, 0)
    assert decode_davis_mask(raw).tolist() == [[0, 1, 1, 1]]


def test_davis_video_table_is_consistent():
    starts = [start for start, _ in DAVIS_VIDEOS]
    assert len(DAVIS_VIDEOS) == 50 and len({name for _, name in DAVIS_VIDEOS}) == 50
    assert starts[0] == 0 and starts == sorted(set(starts)) and starts[-1] < 345
    assert davis_video_ids(["000", "007", "008", "344"]).tolist() == [0, 0, 1, 49]
    assert davis_video_ids(["frame_a"]) is None


def test_missing_roots_are_named(tmp_path):
    with pytest.raises(DataError, match=r"GrabCut root not found: .*nowhere"):
        load_grabcut_samples(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"DAVIS root not found: .*nowhere"):
        load_davis(tmp_path / "nowhere")


def test_grabcut_image_without_mask_is_named(tmp_path):
    (tmp_path / "data_GT").mkdir()
    (tmp_path / "boundary_GT").mkdir()
    cv2.imwrite(str(tmp_path / "data_GT/cat.jpg"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"cat\.jpg: no mask"):
        grabcut_files(tmp_path)


def test_grabcut_native_size_cannot_stack():
    with pytest.raises(ConfigError, match=r"hw: GrabCut images differ in size"):
        load_grabcut(GRABCUT_ROOT, hw=None)


# --- the real data -------------------------------------------------------------------------------


@needs_grabcut
def test_grabcut_files_and_native_samples():
    pairs = grabcut_files(GRABCUT)
    assert len(pairs) == 50
    assert {p.suffix for p, _ in pairs} == {".jpg", ".JPG", ".bmp"}  # not only .jpg
    samples = load_grabcut_samples(GRABCUT, limit=3)
    assert [s.name for s in samples] == [p.stem for p, _ in pairs[:3]]
    for sample in samples:
        assert sample.image.shape[:2] == sample.mask.shape and sample.image.shape[2] == 3
        assert set(np.unique(sample.mask)) <= {0, 1, IGNORE}
    assert any((s.mask == IGNORE).any() for s in samples)  # the boundary band is present


@needs_grabcut
def test_grabcut_at_working_resolution():
    data = load_grabcut(GRABCUT, hw=(32, 32))
    assert len(data) == 50 and data.images.shape == (50, 32, 32, 3)
    assert set(np.unique(data.masks)) == {0, 1, IGNORE}
    assert [c.name for c in data.classes] == ["background", "object"]
    assert data.meta["native_hw"].max(axis=0).tolist() == [600, 640]


@needs_davis
def test_davis_files_and_native_samples():
    assert len(davis_files(DAVIS)) == 345
    samples = load_davis_samples(DAVIS, limit=2)
    assert [s.name for s in samples] == ["000", "001"]
    assert samples[0].image.shape == (480, 854, 3) and samples[0].mask.shape == (480, 854)
    assert set(np.unique(samples[0].mask)) == {0, 1}


@needs_davis
def test_davis_at_working_resolution_with_video_groups():
    data = load_davis(DAVIS, hw=(32, 56), limit=10)
    assert data.images.shape == (10, 32, 56, 3)
    assert set(np.unique(data.masks)) == {0, 1}
    assert data.meta["groups"].tolist() == [0] * 8 + [1] * 2  # bear, then bmx-bumps


@needs_davis
def test_davis_splits_keep_whole_videos():
    splits = load_dataset(
        "davis", root=str(DAVIS), hw=[32, 56], limit=60, fractions=[0.5, 0.25, 0.25], seed=0
    )
    videos = [set(part.meta["groups"].tolist()) for part in (splits.train, splits.val, splits.test)]
    assert all(videos) and not (
        videos[0] & videos[1] or videos[0] & videos[2] or videos[1] & videos[2]
    )


def test_default_roots_are_relative_to_the_working_directory():
    assert Path(GRABCUT_ROOT) == Path("../shared/datasets/GrabCut")
    assert Path(DAVIS_ROOT) == Path("../shared/datasets/DAVIS")
