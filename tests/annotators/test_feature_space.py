"""The loop's feature-space annotator: a batch of units labelled by boxes, priced per unit."""

from __future__ import annotations

import numpy as np
import pytest

from al_loop.annotators.feature_space import FeatureSpaceAnnotator
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.interactions import from_json
from al_loop.core.protocols import AnnotationRequest, annotate_units, units_per_call
from al_loop.core.units import GridUnits
from al_loop.data.base import IGNORE
from al_loop.feature_space.features import ProbabilityMaps
from tests.fakes import make_toy_data


def mean_colour(crops):
    flat = crops.reshape(len(crops), -1, 3).astype(np.float32)
    lit = flat.sum(axis=-1, keepdims=True) > 0
    return (flat * lit).sum(axis=1) / np.maximum(lit.sum(axis=1), 1)


def requests(data, space, units):
    return [AnnotationRequest(u, data.images[u.image], space.box(u), space.mask(u)) for u in units]


def annotator(data, **params):
    params.setdefault("features", "crops")  # the cheap encoder encodes crops
    return FeatureSpaceAnnotator(
        data.masks, CostTable.load(), encoder=mean_colour, projection="pca", **params
    )


def test_a_batch_is_labelled_and_every_unit_pays_its_share():
    data = make_toy_data(6, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=8)
    units = space.units()[:40]
    ann = annotator(data)
    out = ann.annotate_batch(requests(data, space, units))
    assert [a.unit for a in out] == units
    assert all(a.method == "feature_space" and a.seconds > 0 for a in out)
    accuracy = []
    for a in out:
        y0, x0, y1, x1 = a.box
        gt = data.masks[a.unit.image, y0:y1, x0:x1]
        known = a.mask != IGNORE
        accuracy.append((a.mask[known] == gt[known]).mean())
        for record in a.interactions:  # the log replays as plain interactions
            fields = {
                k: v
                for k, v in record.items()
                if k not in ("class", "seconds", "box", "box_index", "box_size")
            }
            from_json(fields)
    assert np.mean(accuracy) > 0.9
    costs = CostTable.load()
    boxes = {r["box_index"] for a in out for r in a.interactions if "box_index" in r}
    clicks = sum(r["type"] == "Click" for a in out for r in a.interactions)
    singles = sum(
        "box_index" not in r and r["type"] == "SegmentLabel" for a in out for r in a.interactions
    )
    expected = (
        len(boxes) * costs["feature_space_box"]
        + (len(units) - singles) * costs["feature_space_segment"]
        + singles * (costs["region_label"] + costs["feature_space_segment"])
        + clicks * costs["feature_space_click"]
    )
    assert sum(a.seconds for a in out) == pytest.approx(expected)


def test_one_box_labels_units_of_many_images_so_a_batch_is_cheaper_than_one_by_one():
    data = make_toy_data(6, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=16)
    units = space.units()
    batch = sum(a.seconds for a in annotator(data).annotate_batch(requests(data, space, units)))
    single = annotator(data)
    alone = sum(
        single.annotate(r.unit, r.image, r.box, r.unit_mask).seconds
        for r in requests(data, space, units)
    )
    assert batch < alone


def test_same_batch_same_labels_and_seconds():
    data = make_toy_data(4, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=16)
    a = annotator(data).annotate_batch(requests(data, space, space.units()))
    b = annotator(data).annotate_batch(requests(data, space, space.units()))
    assert [x.seconds for x in a] == [x.seconds for x in b]
    assert all((x.mask == y.mask).all() for x, y in zip(a, b, strict=True))


def test_it_is_a_batch_annotator_for_the_loop():
    data = make_toy_data(2, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=16)
    ann = annotator(data, units_per_call=7)
    assert units_per_call(ann) == 7
    assert len(annotate_units(ann, requests(data, space, space.units()))) == 8
    assert ann.annotate_batch([]) == []


def test_metric_learning_projects_later_batches_with_the_earlier_labels(monkeypatch):
    import al_loop.annotators.feature_space as module

    trained = []

    def spy(features, labels, *args, **kwargs):
        trained.append(len(features))
        return module_train_head(features, labels, *args, **kwargs)

    module_train_head = module.train_head
    monkeypatch.setattr(module, "train_head", spy)
    data = make_toy_data(6, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=8)
    units = space.units()
    ann = annotator(data, metric_learning=True, history=50)
    first = ann.annotate_batch(requests(data, space, units[:48]))
    assert trained == [] and len(ann._past_labels) == 48  # nothing known before the first
    second = ann.annotate_batch(requests(data, space, units[48:96]))
    assert trained == [48]  # the head learnt from the first batch's labels
    assert len(second) == 48 and len(ann._past_labels) == 50  # capped at ``history``
    assert all(a.seconds > 0 for a in first + second)


def test_metric_rounds_reproject_within_a_call_deterministically(monkeypatch):
    """``metric_rounds``: the call's own labels train a head and the rest is re-projected
    (every box here), the same twice; the earlier call's labels join with metric learning."""
    import al_loop.annotators.feature_space as module

    made = []

    class Spy(module.MetricReprojection):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(module, "MetricReprojection", Spy)
    data = make_toy_data(6, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=8)
    units = space.units()[:48]
    runs = []
    for _ in range(2):
        ann = annotator(data, metric_rounds=3, reproject_every=1)
        runs.append(ann.annotate_batch(requests(data, space, units)))
        assert ann.labeller.reprojections == len(made[-1].rounds) > 0
    assert [a.seconds for a in runs[0]] == [a.seconds for a in runs[1]]
    assert all((a.mask == b.mask).all() for a, b in zip(*runs, strict=True))
    learning = annotator(data, metric_rounds=3, reproject_every=1, metric_learning=True)
    learning.annotate_batch(requests(data, space, units[:24]))
    assert len(made[-1].known_labels) == 0  # nothing known before the first call
    learning.annotate_batch(requests(data, space, units[24:]))
    assert len(made[-1].known_labels) == 24


class ColourMaps:
    """A cheap map encoder: one level, the image's colour at stride 2."""

    def feature_maps(self, images):
        return [images[:, ::2, ::2].transpose(0, 3, 1, 2).astype(np.float32)]


def test_map_features_average_each_units_part_of_its_images_maps():
    """Units of two images in one call: each unit's features are the mean of its image's map
    over the unit, standardised over the call's units."""
    data = make_toy_data(3, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=16)
    units = [u for u in space.units() if u.image in (0, 2)]
    ann = FeatureSpaceAnnotator(
        data.masks, CostTable.load(), encoder=ColourMaps(), projection="pca", features="maps"
    )
    got = ann._features(requests(data, space, units))
    means = []
    for u in units:
        y0, x0, y1, x1 = space.box(u)
        cells = data.images[u.image, y0:y1:2, x0:x1:2].reshape(-1, 3).astype(np.float64)
        means.append(cells.mean(axis=0))
    means = np.array(means) - np.mean(means, axis=0)
    expected = means / np.sqrt((means**2).mean())
    assert got == pytest.approx(expected.astype(np.float32), abs=1e-5)
    out = ann.annotate_batch(requests(data, space, units))
    assert [a.unit for a in out] == units and all(a.seconds > 0 for a in out)


class CountingMaps(ColourMaps):
    """ColourMaps that records every image it encodes (by its pixel sum: the toy images differ)."""

    def __init__(self):
        self.seen = []

    def feature_maps(self, images):
        self.seen += [int(image.sum()) for image in images]
        return super().feature_maps(images)


def units_of(space, images):
    return [u for u in space.units() if u.image in images]


def map_annotator(data, encoder, features="maps", **params):
    """An annotator that averages ``encoder``'s maps over each unit, projected by PCA."""
    return FeatureSpaceAnnotator(
        data.masks, CostTable.load(), encoder=encoder, projection="pca", features=features, **params
    )


def test_a_pool_image_is_encoded_once_across_calls_and_the_features_do_not_change():
    data = make_toy_data(4, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=16)
    encoder = CountingMaps()
    ann = map_annotator(data, encoder)
    ann.annotate_batch(requests(data, space, units_of(space, (0, 1))))
    second = requests(data, space, units_of(space, (1, 2, 3)))
    got = ann._features(second)
    assert ann.encoded_images == 4  # image 1 came from the first call's maps
    assert sorted(encoder.seen) == sorted(int(image.sum()) for image in data.images)
    fresh = map_annotator(data, ColourMaps())
    assert np.array_equal(got, fresh._features(second))


def test_kept_maps_stay_within_map_cache_mb_oldest_out_first():
    data = make_toy_data(3, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=16)
    one_image = 3 * 16 * 16 * 4  # ColourMaps: 3 float32 channels at stride 2
    ann = FeatureSpaceAnnotator(
        data.masks,
        CostTable.load(),
        encoder=CountingMaps(),
        projection="pca",
        features="maps",
        map_cache_mb=1.5 * one_image / 2**20,
    )
    for image in (0, 1, 2):
        ann._features(requests(data, space, units_of(space, (image,))))
    assert list(ann._maps) == [2]  # only the newest fits
    ann._features(requests(data, space, units_of(space, (1, 2))))
    assert ann.encoded_images == 4  # 0, 1, 2, then 1 again; 2 was kept
    none = FeatureSpaceAnnotator(
        data.masks, CostTable.load(), encoder=CountingMaps(), features="maps", map_cache_mb=0
    )
    for _ in range(2):
        none._features(requests(data, space, units_of(space, (0,))))
    assert none.encoded_images == 2 and not none._maps


def test_a_negative_map_cache_is_a_config_error():
    data = make_toy_data(2, hw=(16, 16))
    with pytest.raises(ConfigError, match="map_cache_mb: must be >= 0"):
        FeatureSpaceAnnotator(data.masks, CostTable.load(), map_cache_mb=-1)


def test_maps_need_an_encoder_with_feature_maps():
    data = make_toy_data(2, hw=(16, 16))
    space = GridUnits(len(data), data.hw, cell=8)
    ann = FeatureSpaceAnnotator(data.masks, CostTable.load(), encoder=mean_colour)
    with pytest.raises(ConfigError, match="'maps' needs an encoder with feature_maps"):
        ann.annotate_batch(requests(data, space, space.units()))


def test_an_unknown_feature_source_is_named():
    data = make_toy_data(2, hw=(16, 16))
    with pytest.raises(
        ConfigError,
        match="features: unknown 'pixels'; valid: crops, maps, segmenter_maps, segmenter_probs",
    ):
        FeatureSpaceAnnotator(data.masks, CostTable.load(), features="pixels")


class TrainingMaps(CountingMaps):
    """A map encoder whose weights change: its maps scale with ``weights_version``."""

    weights_version = 0

    def feature_maps(self, images):
        return [m * (1 + self.weights_version) for m in super().feature_maps(images)]


def test_segmenter_maps_are_re_encoded_after_the_segmenter_trains_and_kept_until_then():
    data = make_toy_data(3, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=16)
    segmenter = TrainingMaps()
    ann = map_annotator(data, segmenter, features="segmenter_maps")
    first = ann._features(requests(data, space, units_of(space, (0, 1))))
    ann._features(requests(data, space, units_of(space, (1, 2))))
    assert ann.encoded_images == 3  # same weights: image 1's maps were kept
    segmenter.weights_version = 1  # a round's fit
    again = ann._features(requests(data, space, units_of(space, (0, 1))))
    assert ann.encoded_images == 5 and sorted(ann._maps) == [0, 1]  # the stale maps dropped
    # the call's standardisation hides a uniform scale, so compare the raw kept maps
    assert np.array_equal(again, first)
    assert np.array_equal(ann._maps[0][0], 2 * ColourMaps().feature_maps(data.images[:1])[0][0])


class LearningSegmenter(TrainingMaps):
    """A segmenter stand-in for ``segmenter_probs``: colour maps (3 channels) until it has
    trained, then 2-class probabilities from the image's brightness."""

    trained = False

    def predict_proba(self, images):
        bright = images.mean(axis=-1, dtype=np.float32)[:, None] / 255.0
        return np.concatenate([bright, 1 - bright], axis=1)


def test_segmenter_probs_before_the_first_fit_are_the_encoder_maps_and_history_restarts():
    data = make_toy_data(4, hw=(32, 32))
    space = GridUnits(len(data), data.hw, cell=8)
    segmenter = LearningSegmenter()
    ann = map_annotator(
        data, ProbabilityMaps(segmenter), features="segmenter_probs", metric_learning=True
    )
    ann.annotate_batch(requests(data, space, units_of(space, (0, 1))))
    assert ann._past_features.shape == (32, 3)  # the colour maps' 3 channels
    segmenter.trained, segmenter.weights_version = True, 1  # the loop's first fit
    out = ann.annotate_batch(requests(data, space, units_of(space, (2, 3))))
    # the earlier labels lie in the maps' space: the history starts again in the new one
    assert ann._past_features.shape == (32, 2) and len(ann._past_labels) == 32
    assert len(out) == 32 and all(a.seconds > 0 for a in out)


@pytest.mark.parametrize("source", ["segmenter_maps", "segmenter_probs"])
def test_segmenter_features_need_the_loops_segmenter(source):
    data = make_toy_data(2, hw=(16, 16))
    space = GridUnits(len(data), data.hw, cell=8)
    ann = FeatureSpaceAnnotator(data.masks, CostTable.load(), features=source)
    with pytest.raises(ConfigError, match=f"'{source}' needs the loop's segmenter"):
        ann.annotate_batch(requests(data, space, space.units()))
