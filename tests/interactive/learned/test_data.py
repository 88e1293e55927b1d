"""Training data: data sets and their splits (GrabCut refused, DAVIS's video split), objects of
every class (CamVid-like label maps, tiny components skipped), copy-paste composites."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from al_loop.core.errors import ConfigError, DataError
from al_loop.data.base import IGNORE
from al_loop.data.benchmarks import DAVIS_NUM_FRAMES
from al_loop.interactive.learned.data import (
    CopyPasteConfig,
    TrainDataset,
    collect_objects,
    composite,
    load_training_set,
    paste_objects,
    training_set,
)
from al_loop.interactive.learned.train import TrainConfig, draw_batch, load_train_config


def street() -> np.ndarray:
    """A CamVid-like label map: class 0 (sky) on top, 3 (road) below, two cars (8) of 200 and
    199 pixels, a void (IGNORE) strip."""
    mask = np.zeros((60, 80), np.uint8)
    mask[30:] = 3
    mask[35:45, 5:25] = 8  # 200 pixels
    mask[35:45, 40:60] = 8
    mask[44, 59] = 3  # 199 pixels: below the minimum
    mask[:, 78:] = IGNORE
    return mask


def test_components_of_every_class_below_the_minimum_are_skipped():
    found = collect_objects([street()], "component", min_pixels=200, background=None)
    sizes = sorted((int(o.mask.sum()), o.top, o.left) for o in found)
    # sky 30x78 and road 30x78 minus the cars; one car; the 199-pixel car is skipped
    assert sizes == [(200, 35, 5), (30 * 78 - 400 + 1, 30, 0), (30 * 78, 0, 0)]
    # where class 0 is the background (DAVIS, synthetic), it is no object
    assert len(collect_objects([street()], "component", 200, background=0)) == 2
    for o in found:  # the stored crop is the component where it was
        assert (street()[o.full((60, 80))] == street()[o.top, o.left]).all()


def test_only_the_named_classes_give_objects():
    cars = collect_objects([street()], "component", 200, background=None, keep=frozenset({8}))
    assert [(int(o.mask.sum()), o.top, o.left) for o in cars] == [(200, 35, 5)]

    params = {"num_images": 8, "hw": [48, 48], "seed": 5}
    every = load_training_set([TrainDataset(name="synthetic", params=params)], "component", 16)
    discs = TrainDataset(name="synthetic", params=params, object_classes=["disc"])
    only = load_training_set([discs], "component", 16)
    assert 0 < len(only.objects) < len(every.objects)
    for o in only.objects:  # every object is a disc of its image
        assert (every_mask(params, o.image)[o.full((48, 48))] == 1).all()
    with pytest.raises(DataError, match="object_classes of synthetic: unknown Car; valid: "
                                        "background, disc, bar, star"):  # fmt: skip
        load_training_set([TrainDataset(name="synthetic", params=params,
                                         object_classes=["Car"])], "component", 16)  # fmt: skip


def every_mask(params: dict, index: int) -> np.ndarray:
    """The label map of image ``index`` of the synthetic set's train, val and test, in order."""
    from al_loop.data import load_dataset

    splits = load_dataset("synthetic", **params)
    return np.concatenate([splits.train.masks, splits.val.masks, splits.test.masks])[index]


def test_grabcut_is_refused_as_training_data(tmp_path):
    with pytest.raises(ValidationError, match="GrabCut is the NoC test set"):
        TrainConfig(datasets=[{"name": "grabcut"}])
    path = tmp_path / "c.yaml"
    path.write_text("dataset: {name: grabcut}\n")  # the older form too
    with pytest.raises(ConfigError, match="datasets.0: grabcut: GrabCut is the NoC test set"):
        load_train_config(path)


def test_the_older_dataset_keys_read_as_one_list():
    cfg = TrainConfig(
        dataset={"name": "synthetic", "params": {"seed": 1}},
        extra_datasets=[{"name": "davis"}],
        splits=["train"],
    )
    assert [(d.name, d.splits) for d in cfg.datasets] == [
        ("synthetic", ["train"]),
        ("davis", ["train"]),
    ]
    with pytest.raises(ValidationError, match="not both"):
        TrainConfig(dataset={"name": "synthetic"}, datasets=[{"name": "davis"}])
    with pytest.raises(ValidationError, match="unknown train_videos; valid: train, val, test"):
        TrainDataset(name="camvid", splits=["train_videos"])


def test_synthetic_sets_record_the_images_trained_on_and_left_out():
    params = {"num_images": 10, "hw": [48, 48], "seed": 5}
    data = load_training_set([TrainDataset(name="synthetic", params=params, splits=["train"])],
                             "component", 16)  # fmt: skip
    (record,) = data.trained_on
    assert record["source"] == "synthetic:seed=5" and record["split"] == "train"
    (left,) = data.held_out
    assert sorted(record["items"] + left["items"]) == [f"synth_{i:05d}" for i in range(10)]
    assert len(data.images) == len(record["items"])


def fake_davis(root) -> None:
    """345 tiny frames named like the DAVIS benchmark's, one square object each."""
    (root / "img").mkdir(parents=True)
    (root / "gt").mkdir()
    for i in range(DAVIS_NUM_FRAMES):
        image = np.full((16, 24, 3), 90, np.uint8)
        gt = np.zeros((16, 24, 3), np.uint8)
        gt[4:12, 6:14] = 255
        image[4:12, 6:14] = 200
        cv2.imwrite(str(root / "img" / f"{i:03d}.jpg"), image)
        cv2.imwrite(str(root / "gt" / f"{i:03d}.png"), gt)


def test_davis_trains_on_its_train_videos_and_records_the_held_out_ones(tmp_path):
    fake_davis(tmp_path / "DAVIS")
    params = {"root": str(tmp_path / "DAVIS"), "hw": [16, 24]}
    davis = TrainDataset(name="davis", params=params, splits=["train_videos"])
    data = load_training_set([davis], "component", 16)
    (seen,) = data.trained_on
    (held,) = data.held_out
    assert seen["items"] == [f"{i:03d}" for i in range(208)]  # DAVIS-2016 train: 30 videos
    assert held["items"] == [f"{i:03d}" for i in range(208, DAVIS_NUM_FRAMES)]
    assert len(seen["videos"]) == 30 and "bear" in seen["videos"]
    assert len(held["videos"]) == 20 and "blackswan" in held["videos"]
    assert len(data.images) == 208 and len(data.objects) == 208


def patch(color, size) -> tuple[np.ndarray, np.ndarray]:
    mask = np.zeros(size, bool)
    mask[1:-1, 1:-1] = True
    return np.full((*size, 3), color, np.uint8), mask


def test_copy_paste_puts_the_objects_pixels_on_its_target():
    background = np.zeros((40, 50, 3), np.uint8)
    valid = np.ones((40, 50), bool)
    valid[:5] = False
    red, blue = patch((250, 0, 0), (12, 16)), patch((0, 0, 250), (10, 10))
    for seed in range(5):
        rng = np.random.default_rng(seed)
        image, valid_out, visible = paste_objects(background, valid, [red, blue], rng)
        assert len(visible) == 2 and visible[1].sum() == 8 * 8  # pasted last: whole
        for (rgb, mask), shown in zip([red, blue], visible, strict=True):
            assert shown.any() and (image[shown] == rgb[mask][0]).all()
            assert valid_out[shown].all()  # pasted pixels are labelled, even over ignore
        assert not (visible[0] & visible[1]).any()
        untouched = ~(visible[0] | visible[1])
        assert (image[untouched] == 0).all() and (valid_out[untouched] == valid[untouched]).all()
    # a later object covers an earlier one: same size as the image, both land at (0, 0)
    small = np.zeros((10, 10, 3), np.uint8)
    _, _, visible = paste_objects(small, np.ones((10, 10), bool), [blue, patch((250, 0, 0), (10, 10))],
                                  np.random.default_rng(0))  # fmt: skip
    assert not visible[0].any() and visible[1].sum() == 8 * 8


def test_composites_hold_several_objects_and_target_one(tmp_path):
    images = np.zeros((3, 64, 64, 3), np.uint8)
    masks = np.zeros((3, 64, 64), np.uint8)
    for i, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        masks[i, 10:26, 10:26] = 1
        images[i, 10:26, 10:26] = color
    data = training_set(images, masks, "component", 16)
    config = CopyPasteConfig(probability=1.0, objects=(3, 3), scale=(1.0, 1.0))
    rng = np.random.default_rng(0)
    for _ in range(5):
        image, target, valid = composite(data, config, 16, rng)
        colours = {tuple(c) for c in image[target]}
        assert len(colours) == 1 and colours.pop() != (0, 0, 0)  # one pasted object
        assert valid[target].all()
    cfg = TrainConfig(crop_size=64, long_side=64, batch_size=3, min_object_pixels=16,
                      copy_paste={"probability": 1.0})  # fmt: skip
    batch = draw_batch(data, cfg, np.random.default_rng(0))
    assert len(batch) == 3 and all(s.gt.any() and s.positives for s in batch)


def test_without_objects_small_enough_to_paste_samples_are_plain_ones():
    images = np.zeros((2, 64, 64, 3), np.uint8)
    masks = np.zeros((2, 64, 64), np.uint8)
    masks[:, 4:60, 4:60] = 1  # each object's box covers 77 % of its image
    data = training_set(images, masks, "component", 16)
    config = CopyPasteConfig(probability=1.0, max_box_fraction=0.5)
    assert composite(data, config, 16, np.random.default_rng(0)) is None
    cfg = TrainConfig(crop_size=64, long_side=64, batch_size=2, min_object_pixels=16,
                      copy_paste=config)  # fmt: skip
    assert len(draw_batch(data, cfg, np.random.default_rng(0))) == 2
