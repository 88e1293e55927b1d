"""build_feature_space end to end on tiny images (cheap encoder, linear projection)."""

from __future__ import annotations

import numpy as np

from al_loop.data.base import IGNORE
from al_loop.feature_space import (
    FeatureSpace,
    build_feature_space,
    propagate_labels,
    select_in_box,
)
from tests.feature_space.test_features import mean_colour
from tests.feature_space.test_segments import three_regions


def tiny_pool() -> np.ndarray:
    image, _ = three_regions()
    return np.stack([image, image[:, ::-1].copy(), image[::-1].copy()])


def build(**kwargs) -> FeatureSpace:
    return build_feature_space(
        tiny_pool(), threshold=50.0, sigma=0, encoder=mean_colour, projection="pca", **kwargs
    )


def test_the_contract_the_app_relies_on():
    space = build()
    assert space.segments.shape == (3, 24, 32) and space.segments.dtype == np.int32
    assert (
        space.segment_image.dtype == np.int64
        and space.segment_image.tolist() == [0] * 3 + [1] * 3 + [2] * 3
    )
    assert space.features.shape == (9, 3) and space.features.dtype == np.float32
    assert space.coords.shape == (9, 2) and space.coords.dtype == np.float32
    assert sorted(np.unique(space.segments)) == list(range(9))
    assert space.boxes().shape == (9, 4)


def test_segments_of_one_colour_land_on_one_point_and_a_box_labels_them_all():
    space = build()
    red = np.flatnonzero(space.features[:, 0] > 150)
    assert len(red) == 3  # one red segment per image
    x, y = space.coords[red].T
    chosen = select_in_box(space.coords, x.min(), y.min(), x.max(), y.max())
    assert np.flatnonzero(chosen).tolist() == red.tolist()
    labels = np.full(space.num_segments, IGNORE, np.uint8)
    labels[chosen] = 1
    pixels = propagate_labels(space.segments, labels)
    is_red = tiny_pool()[..., 0] > 150
    assert ((pixels == 1) == is_red).all()


def test_extend_transforms_new_images_without_moving_the_old_points():
    space = build()
    grown = space.extend(tiny_pool()[:1], encoder=mean_colour)
    assert grown.num_segments == 12 and grown.segments.shape[0] == 4
    np.testing.assert_array_equal(grown.coords[:9], space.coords)
    np.testing.assert_allclose(grown.coords[9:], space.coords[:3], atol=1e-4)
    assert grown.segment_image[9:].tolist() == [3, 3, 3]


def test_refine_trains_a_head_and_reprojects():
    space = build()
    labels = np.full(space.num_segments, IGNORE, np.uint8)
    labels[:6] = [0, 1, 2, 0, 1, 2]
    refined = space.refine(labels)
    assert refined.head is not None and refined.coords.shape == (9, 2)
    assert refined.embedded().shape[0] == 9
    assert space.head is None  # the original is untouched
    assert space.local_view(np.arange(4)).shape == (4, 2)
