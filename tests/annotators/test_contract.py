"""Every annotator the config can name (``annotation.method``: each interactive method driven
by its simulated user, and each batch annotator), built by the builder: one well-formed,
priced, JSON-logged annotation per unit, in order, IGNORE outside the unit, the same again
for the same seed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from al_loop.annotators import BATCH_ANNOTATORS
from al_loop.core.config import parse_config
from al_loop.core.protocols import AnnotationRequest, annotate_units
from al_loop.core.units import GridUnits
from al_loop.data.base import IGNORE
from al_loop.interactive import LEARNED_METHODS, METHODS, make_method
from al_loop.wiring.build import build_annotator
from tests.annotators.test_simulated import scene
from tests.interactive.learned_fakes import tiny_weights

NAMES = sorted([*METHODS, *BATCH_ANNOTATORS])
# tiny-sized settings: an untrained small network for learned methods, PCA for the projection
PARAMS = {
    "feature_space": {"projection": "pca", "units_per_call": 8},
    "dense": {"entry": "dense_camvid"},
}


@pytest.fixture(scope="module")
def pool():
    (image0, gt0), (image1, gt1) = scene(seed=0), scene(seed=1)
    return np.stack([image0, image1]), np.stack([gt0, gt1])


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    return {
        name: str(tiny_weights(folder, make_method(name).interaction)) for name in LEARNED_METHODS
    }


def annotator(name: str, masks: np.ndarray, weights: dict):
    params = {"weights": weights[name]} if name in LEARNED_METHODS else PARAMS.get(name, {})
    annotation = {"method": name, "params": params, "max_interactions": 3}
    config = parse_config({"seed": 3, "annotation": annotation})
    return build_annotator(config, masks)


def requests(images: np.ndarray) -> list[AnnotationRequest]:
    space = GridUnits(len(images), images.shape[1:3], cell=16)
    units = [u for u in space.units() if u.image == 0][:4] + space.units()[-1:]
    return [AnnotationRequest(u, images[u.image], space.box(u), space.mask(u)) for u in units]


@pytest.mark.parametrize("name", NAMES)
def test_one_well_formed_priced_annotation_per_unit_deterministic_for_a_seed(name, pool, weights):
    images, masks = pool
    asked = requests(images)
    given = annotate_units(annotator(name, masks, weights), asked)
    assert [a.unit for a in given] == [r.unit for r in asked]
    for request, annotation in zip(asked, given, strict=True):
        y0, x0, y1, x1 = request.box
        assert annotation.box == request.box
        assert annotation.mask.dtype == np.uint8 and annotation.mask.shape == (y1 - y0, x1 - x0)
        assert (annotation.mask[~request.unit_mask] == IGNORE).all()
        labelled = set(np.unique(annotation.mask).tolist()) - {IGNORE}
        assert labelled <= {0, 1, 2}
        assert annotation.seconds >= 0 and annotation.method == name
        json.dumps(annotation.interactions)  # the store logs them as JSON
        gt = masks[request.unit.image, y0:y1, x0:x1][request.unit_mask]
        if ((gt != 0) & (gt != IGNORE)).sum() >= 16:  # an object to annotate: time was spent
            assert annotation.seconds > 0
    again = annotate_units(annotator(name, masks, weights), asked)
    for first, second in zip(given, again, strict=True):
        assert np.array_equal(first.mask, second.mask)
        assert (first.seconds, first.interactions) == (second.seconds, second.interactions)
