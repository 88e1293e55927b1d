"""SmpSegmenter on tiny images: partial labels, determinism, shapes, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from al_loop.core.errors import ConfigError, DataError
from al_loop.data.base import IGNORE
from al_loop.models.segmenter import (
    SmpSegmenter,
    make_segmenter,
    masked_cross_entropy,
    pad_images,
)
from tests.fakes import make_toy_data


def tiny(**overrides) -> SmpSegmenter:
    """Lite0 Unet with 3 classes; small enough to train in about a second."""
    config = dict(num_classes=3, epochs=1, batch_size=4, lr=1e-3, augment=True)
    config.update(overrides)
    return make_segmenter(**config)


@pytest.fixture(scope="module")
def toy():
    return make_toy_data(n=8, hw=(32, 32), seed=0)


def state(seg: SmpSegmenter) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in seg.model.state_dict().items()}


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ---------------------------------------------------------------- partial labels


def test_ignored_pixels_get_exactly_zero_gradient():
    logits = torch.randn(2, 3, 4, 5, requires_grad=True)
    labels = torch.randint(0, 3, (2, 4, 5))
    labels[:, :, 2:] = IGNORE
    loss = masked_cross_entropy(logits, labels)
    loss.backward()
    assert torch.all(logits.grad[:, :, :, 2:] == 0)
    # and the loss is the mean over labelled pixels only
    keep = labels != IGNORE
    per_pixel = -logits.log_softmax(1).gather(1, labels.clamp(max=2)[:, None])[:, 0]
    assert loss.item() == pytest.approx(per_pixel[keep].mean().item(), rel=1e-6)


def test_training_on_one_labelled_class_spreads_it_to_unlabelled_pixels(toy):
    # Only a 6x6 patch is labelled, as class 1 of 3. If IGNORE were read as a class (or
    # clipped to 2, or remapped to 0), the rest of the image would be pushed away from 1.
    labels = np.full(toy.masks.shape, IGNORE, np.uint8)
    labels[:, 10:16, 10:16] = 1
    seg = tiny(epochs=3, lr=3e-3)
    report = seg.fit(toy.images, labels, seed=0)
    assert report["labelled_pixels"] == 8 * 36
    probs = seg.predict_proba(toy.images)
    outside = np.ones(labels.shape, bool)
    outside[:, 10:16, 10:16] = False
    assert probs[:, 1][outside].mean() > 0.5
    assert (probs.argmax(1)[outside] == 1).mean() > 0.9


def test_images_without_labels_are_skipped(toy):
    labels = toy.masks.copy()
    labels[4:] = IGNORE  # images 4..7 are unlabelled
    a, b = tiny(), tiny()
    report_a = a.fit(toy.images[:4], labels[:4], seed=3)
    report_b = b.fit(toy.images, labels, seed=3)
    assert report_a["steps"] == report_b["steps"] == 1
    assert report_b["images"] == 4
    assert report_a["loss"] == report_b["loss"]
    assert_same_state(state(a), state(b))


def test_nothing_labelled_means_no_training(toy):
    report = tiny().fit(toy.images, np.full(toy.masks.shape, IGNORE, np.uint8), seed=0)
    assert report["steps"] == 0 and report["labelled_pixels"] == 0


# ---------------------------------------------------------------- determinism


def test_same_seed_same_weights_and_probabilities(toy):
    a, b = tiny(), tiny()
    ra = a.fit(toy.images, toy.masks, seed=7)
    rb = b.fit(toy.images, toy.masks, seed=7)
    assert ra == rb
    assert_same_state(state(a), state(b))
    np.testing.assert_array_equal(a.predict_proba(toy.images), b.predict_proba(toy.images))


def test_trained_says_whether_the_weights_have_learned_anything(toy, tmp_path):
    seg = tiny()
    assert not seg.trained  # ImageNet encoder, random decoder
    seg.fit(toy.images, toy.masks, seed=1)
    assert seg.trained
    seg.save(str(tmp_path / "model.pt"))
    seg.reset(1)
    assert not seg.trained
    seg.load(str(tmp_path / "model.pt"))
    assert seg.trained
    unlabelled = np.full_like(toy.masks, IGNORE)
    fresh = tiny()
    fresh.fit(toy.images, unlabelled, seed=1)  # nothing to learn from: no step taken
    assert not fresh.trained


def test_cold_start_resets_and_warm_start_continues(toy):
    cold = tiny(warm_start=False)
    cold.fit(toy.images, toy.masks, seed=1)
    first = state(cold)
    cold.fit(toy.images, toy.masks, seed=1)
    assert_same_state(first, state(cold))  # retrained from scratch: identical

    warm = tiny(warm_start=True)
    warm.fit(toy.images, toy.masks, seed=1)
    assert_same_state(first, state(warm))  # first round of a warm run = cold run
    warm.fit(toy.images, toy.masks, seed=1)
    assert not torch.equal(
        first["segmentation_head.0.weight"], state(warm)["segmentation_head.0.weight"]
    )


def test_fit_leaves_the_global_rng_alone(toy):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny().fit(toy.images, toy.masks, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_progress_is_reported_per_step(toy):
    calls = []
    tiny(epochs=2).fit(toy.images, toy.masks, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


# ---------------------------------------------------------------- inference and scores


def test_predict_proba_shapes_and_sums(toy):
    seg = tiny()
    probs = seg.predict_proba(toy.images, batch_size=3)  # 3 does not divide 8
    assert probs.shape == (8, 3, 32, 32) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(seg.predict(toy.images), probs.argmax(1))
    feats = seg.features(toy.images)
    assert feats.shape == (8, 320) and feats.dtype == np.float32


def test_sizes_not_divisible_by_32_are_padded_and_cropped():
    data = make_toy_data(n=4, hw=(40, 50), seed=1)
    seg = tiny()
    report = seg.fit(data.images, data.masks, seed=0)
    assert np.isfinite(report["loss"])
    assert seg.predict_proba(data.images).shape == (4, 3, 40, 50)
    assert seg.features(data.images).shape == (4, 320)


def test_padding_reflects_then_crops_back():
    x = torch.arange(2 * 3 * 5 * 6, dtype=torch.float32).view(2, 3, 5, 6)
    padded = pad_images(x, 4)
    assert padded.shape == (2, 3, 8, 8)
    assert torch.equal(padded[..., :5, :6], x)
    assert torch.equal(padded[..., 5, :6], x[..., 3, :])  # reflect, not zeros
    assert pad_images(torch.zeros(1, 3, 2, 2), 32).shape == (1, 3, 32, 32)  # too small: replicate


def test_evaluate_perfect_prediction_scores_one(toy, monkeypatch):
    seg = tiny()
    data = toy.subset(range(4))
    masks = data.masks.copy()
    masks[:, :2] = IGNORE  # unscored rows
    data.masks[:] = masks

    def perfect(images, batch_size):
        onehot = torch.nn.functional.one_hot(torch.from_numpy(masks.astype(np.int64) % 255), 3)
        yield 0, onehot.permute(0, 3, 1, 2).float()

    monkeypatch.setattr(seg, "_logit_batches", perfect)
    scores = seg.evaluate(data)
    assert scores["miou"] == 1.0 and scores["mean_dice"] == 1.0
    assert scores["pixel_accuracy"] == 1.0
    assert scores["per_class_iou"] == [1.0, 1.0, 1.0]


def test_evaluate_real_model_is_consistent(toy):
    seg = tiny()
    scores = seg.evaluate(toy)
    assert 0.0 <= scores["miou"] <= 1.0
    assert len(scores["per_class_iou"]) == len(scores["dice"]) == 3
    cm = np.array(scores["confusion_matrix"])
    assert cm.sum() == toy.masks.size


# ---------------------------------------------------------------- persistence and config


def test_save_load_roundtrip(toy, tmp_path):
    seg = tiny()
    seg.fit(toy.images, toy.masks, seed=2)
    path = str(tmp_path / "model.pt")
    seg.save(path)
    other = tiny()
    other.load(path)
    assert_same_state(state(seg), state(other))
    np.testing.assert_array_equal(seg.predict_proba(toy.images), other.predict_proba(toy.images))
    with pytest.raises(ConfigError, match="num_classes"):
        tiny(num_classes=4).load(path)
    assert make_segmenter(**seg.config()).config() == seg.config()


def test_load_weights_takes_a_bare_state_dict_like_a_references_best_epoch(toy):
    seg = tiny()
    seg.fit(toy.images, toy.masks, seed=2)
    other = tiny()
    before = other.weights_version
    other.load_weights(seg.model.state_dict())
    assert other.weights_version > before  # what was computed from the old weights is stale
    np.testing.assert_array_equal(seg.predict_proba(toy.images), other.predict_proba(toy.images))
    with pytest.raises(RuntimeError, match="size mismatch"):
        tiny(num_classes=4).load_weights(seg.model.state_dict())


def test_random_init_differs_from_pretrained():
    pretrained, random = tiny(), tiny(encoder_weights=None)
    key = "encoder.conv_stem.weight"
    assert not torch.equal(pretrained.model.state_dict()[key], random.model.state_dict()[key])


def test_unknown_encoder_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        tiny(encoder="efficientnet-lite9")
    assert "timm-tf_efficientnet_lite0" in str(err.value) and "resnet34" in str(err.value)


def test_config_errors_are_clear():
    with pytest.raises(ConfigError, match="Valid: .*Unet"):
        tiny(arch="Unett")
    with pytest.raises(ConfigError, match="only fits encoder"):
        tiny(encoder="resnet18")  # with the default lite0 weights
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache"):
        tiny(encoder="resnet18", encoder_weights="imagenet")
    with pytest.raises(ConfigError, match="unknown keys"):
        make_segmenter(num_classes=3, epoch=1)


def test_bad_labels_are_rejected(toy):
    labels = toy.masks.copy()
    labels[0, 0, 0] = 7
    with pytest.raises(DataError, match="7"):
        tiny().fit(toy.images, labels, seed=0)


def test_weights_version_moves_with_every_change_of_the_weights_only(toy):
    """What a caller caches from the model (feature-space maps) is stale exactly when the
    version moved: a fit's epochs, a reset and a load move it; predicting does not."""
    seg = tiny(warm_start=True)
    versions = [seg.weights_version]
    seg.fit(toy.images, toy.masks, seed=0)
    versions.append(seg.weights_version)
    seg.predict(toy.images[:2])
    seg.feature_maps(toy.images[:2])
    versions.append(seg.weights_version)
    seg.fit(toy.images, toy.masks, seed=1)  # warm: the same model object trains on
    versions.append(seg.weights_version)
    seg.reset(0)
    versions.append(seg.weights_version)
    assert versions[1] > versions[0] and versions[2] == versions[1]
    assert versions[3] > versions[2] and versions[4] > versions[3]


def test_feature_maps_crop_the_padding_like_the_imagenet_encoder():
    """A 40x50 image is padded to 64x64 for the network; its maps must cover the image only,
    with Lite0Encoder.feature_maps' sizes, and not depend on the other images of the call."""
    seg = tiny()
    images = np.random.default_rng(0).integers(0, 255, (2, 40, 50, 3), dtype=np.uint8)
    maps = seg.feature_maps(images)
    assert [m.shape[2:] for m in maps] == [(10, 13), (5, 7), (3, 4), (2, 2)]
    assert [m.shape[:2] for m in maps] == [(2, 24), (2, 40), (2, 112), (2, 320)]
    alone = seg.feature_maps(images[1:])
    for both, one in zip(maps, alone, strict=True):
        np.testing.assert_allclose(both[1:], one, rtol=1e-5, atol=1e-5)
