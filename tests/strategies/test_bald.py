import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import SelectionContext
from al_loop.core.units import ImageUnits, Unit
from al_loop.models.segmenter import SmpSegmenter
from strategies import make_strategy
from tests.fakes import CentroidSegmenter, make_toy_data


@pytest.fixture(scope="module")
def smp_segmenter():
    segmenter = SmpSegmenter(3, encoder_weights=None, dropout=0.3, batch_size=2)
    segmenter.reset(0)
    return segmenter


def test_mc_dropout_samples_are_seeded_and_vary(smp_segmenter):
    images = make_toy_data(3).images
    a = smp_segmenter.predict_proba_samples(images, 4, seed=1)
    assert a.shape == (4, 3, 3, 32, 32)
    assert np.allclose(a.sum(axis=2), 1.0, atol=1e-5)
    assert np.array_equal(a, smp_segmenter.predict_proba_samples(images, 4, seed=1))
    assert not np.array_equal(a, smp_segmenter.predict_proba_samples(images, 4, seed=2))
    assert not np.allclose(a[0], a[1])  # dropout stays on between samples
    single = smp_segmenter.predict_proba(images)  # ... and off for the ordinary prediction
    assert np.array_equal(single, smp_segmenter.predict_proba(images))


def test_pixel_features_are_the_heads_input(smp_segmenter):
    features = smp_segmenter.pixel_features(make_toy_data(3).images)
    assert features.shape == (3, 16, 32, 32) and features.dtype == np.float32


def test_mc_samples_without_dropout_are_a_config_error():
    segmenter = SmpSegmenter(3, encoder_weights=None)
    with pytest.raises(ConfigError, match="segmenter.dropout"):
        segmenter.predict_proba_samples(make_toy_data(1).images, 4, seed=0)


def test_bald_prefers_images_where_samples_disagree():
    data = make_toy_data(4)
    segmenter = CentroidSegmenter()
    segmenter.reset(0)
    segmenter.fit(data.images, data.masks, seed=0)
    # image 3 sits exactly between two class means: noise on the means flips its prediction
    data.images[3] = np.clip((segmenter.means[1] + segmenter.means[2]) / 2, 0, 255).astype(np.uint8)
    ctx = SelectionContext(
        pool=data,
        unit_space=ImageUnits(4, data.hw),
        labelled=set(),
        segmenter=segmenter,
        rng=np.random.default_rng(0),
        round_index=1,
    )
    ranked = make_strategy("bald", samples=8).rank(ctx, 4)
    assert ranked.units[0] == Unit(3, 0)
    with pytest.raises(ConfigError, match="at least 2"):
        make_strategy("bald", samples=1)
