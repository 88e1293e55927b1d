import numpy as np
import pytest

from al_loop.core.errors import ConfigError, DataError
from al_loop.data import (
    DATASETS,
    ClassInfo,
    SegmentationData,
    load_dataset,
    make_synthetic,
    split_data,
    write_folder,
)


def tiny(n: int, with_masks: bool = True) -> SegmentationData:
    """Image i is filled with the value i, so every image can be traced through a split."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 2, 2, 3))
    masks = np.zeros((n, 2, 2), np.uint8) if with_masks else None
    meta = {"has_mask": np.arange(n) % 2 == 0, "note": "kept"}
    classes = [ClassInfo("bg", (0, 0, 0)), ClassInfo("fg", (255, 0, 0))]
    return SegmentationData(
        [f"im{i}" for i in range(n)], images.copy(), masks, classes, "tiny", meta
    )


def ids(part: SegmentationData) -> list[int]:
    return [int(v) for v in part.images[:, 0, 0, 0]]


def test_splits_cover_every_image_once_in_input_order():
    splits = split_data(tiny(40), (0.5, 0.25, 0.25), seed=0)
    parts = [ids(splits.train), ids(splits.val), ids(splits.test)]
    assert sorted(sum(parts, [])) == list(range(40))
    assert [len(p) for p in parts] == [20, 10, 10]
    assert all(p == sorted(p) for p in parts)
    assert splits.train.names == [f"im{i}" for i in parts[0]]


def test_same_seed_same_split_other_seed_other_split():
    a = split_data(tiny(30), seed=4)
    b = split_data(tiny(30), seed=4)
    c = split_data(tiny(30), seed=5)
    assert ids(a.train) == ids(b.train) and ids(a.test) == ids(b.test)
    assert ids(a.train) != ids(c.train)


def test_consecutive_groups_stay_in_one_split():
    splits = split_data(tiny(70), seed=1, group_size=7)
    for part in (splits.train, splits.val, splits.test):
        groups = {i // 7 for i in ids(part)}
        assert len(part) == 7 * len(groups)  # only whole groups


def test_given_groups_of_unequal_size_stay_whole():
    groups = np.repeat(np.arange(12), [2, 9, 3, 5, 8, 4, 6, 7, 3, 2, 10, 5])
    data = tiny(len(groups))
    splits = split_data(data, (0.6, 0.2, 0.2), seed=3, groups=groups)
    seen = {}
    for split, part in enumerate((splits.train, splits.val, splits.test)):
        for i in ids(part):
            assert seen.setdefault(groups[i], split) == split
        assert len(part) > 0


def test_per_image_meta_follows_the_images():
    splits = split_data(tiny(20), seed=2)
    for part in (splits.train, splits.val, splits.test):
        assert part.meta["has_mask"].tolist() == [i % 2 == 0 for i in ids(part)]
        assert part.meta["note"] == "kept"


def test_pool_without_masks_can_be_split():
    splits = split_data(tiny(10, with_masks=False), seed=0)
    assert splits.train.masks is None


def test_empty_split_is_an_error():
    with pytest.raises(DataError, match=r"tiny: split '(val|test)' would be empty"):
        split_data(tiny(4), (0.8, 0.1, 0.1), seed=0)
    with pytest.raises(DataError, match=r"2 groups"):
        split_data(tiny(20), seed=0, group_size=10)


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.8, 0.2, 0.0), (0.5, 0.3, 0.3), ("a", 1, 2)])
def test_bad_fractions(fractions):
    with pytest.raises(ConfigError, match="fractions"):
        split_data(tiny(20), fractions)


def test_bad_group_size_or_groups():
    with pytest.raises(ConfigError, match="group_size"):
        split_data(tiny(20), group_size=0)
    with pytest.raises(DataError, match="3 group ids for 20 images"):
        split_data(tiny(20), groups=np.arange(3))


# --- the registry: load_dataset(name, **params) -> DatasetSplits ---------------------------------


def test_registry_names():
    assert set(DATASETS) == {"synthetic", "folder", "davis", "grabcut", "camvid", "run"}


def test_load_synthetic_with_yaml_style_params():
    splits = load_dataset(
        "synthetic", num_images=20, hw=[32, 48], seed=1, fractions=[0.6, 0.2, 0.2]
    )
    assert [len(p) for p in (splits.train, splits.val, splits.test)] == [12, 4, 4]
    assert splits.train.hw == (32, 48)
    again = load_dataset("synthetic", num_images=20, hw=[32, 48], seed=1, fractions=[0.6, 0.2, 0.2])
    np.testing.assert_array_equal(splits.val.images, again.val.images)


def test_load_folder_through_the_registry(tmp_path):
    write_folder(make_synthetic(10, hw=(16, 16)), tmp_path)
    splits = load_dataset("folder", root=str(tmp_path), group_size=2, seed=0)
    assert sum(len(p) for p in (splits.train, splits.val, splits.test)) == 10
    assert splits.classes == make_synthetic(1).classes


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(
        ConfigError,
        match=r"unknown 'cityscapes'; valid: camvid, davis, folder, grabcut, run, synthetic",
    ):
        load_dataset("cityscapes")


def test_unknown_key_is_named():
    with pytest.raises(
        ConfigError, match=r"^dataset\.foo: unknown key; valid: num_images, hw, seed"
    ):
        load_dataset("synthetic", foo=1)
    with pytest.raises(ConfigError, match=r"^dataset\.group_size: unknown key"):
        load_dataset("grabcut", group_size=3)  # GrabCut images are independent


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"hw": [32]}, "hw"),
        ({"hw": "128x128"}, "hw"),
        ({"num_images": 0}, "num_images"),
        ({"seed": "1"}, "seed"),
        ({"fractions": [1, 0, 0]}, "fractions"),
    ],
)
def test_bad_values_are_named(params, key):
    with pytest.raises(ConfigError, match=rf"^dataset\.{key}: "):
        load_dataset("synthetic", **params)


def test_required_root():
    with pytest.raises(ConfigError, match=r"^dataset\.root: required for dataset 'folder'"):
        load_dataset("folder")
