"""The shipped EfficientNet-Lite0 weights, mapped onto smp's encoder, still classify ImageNet."""

from __future__ import annotations

import pytest
import torch
from skimage import data

from al_loop.core.errors import ConfigError
from al_loop.models.pretrained import (
    classifier_input,
    lite0_classifier,
    lite0_state_dict,
    load_source_state_dict,
    map_by_order,
)

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def test_mapping_covers_every_encoder_tensor():
    encoder_state, fc_weight, fc_bias = lite0_state_dict()
    assert len(encoder_state) == 294
    assert list(encoder_state)[0] == "conv_stem.weight"
    assert "conv_head.weight" in encoder_state  # smp keeps the head conv; we map it too
    assert tuple(fc_weight.shape) == (1000, 1280) and tuple(fc_bias.shape) == (1000,)


def test_mapping_rejects_shape_mismatch():
    source = load_source_state_dict()
    target = dict(lite0_state_dict()[0])
    first = next(iter(target))
    target[first] = torch.zeros(1)
    body = {k: v for k, v in source.items() if not k.startswith("_fc.")}
    with pytest.raises(ConfigError, match="shape mismatch mapping _conv_stem.weight"):
        map_by_order(body, target)
    with pytest.raises(ConfigError, match="296 source tensors"):
        map_by_order(source, target)


def test_chelsea_is_a_cat():
    model = lite0_classifier()
    with torch.inference_mode():
        probs = model(classifier_input(data.chelsea())).softmax(dim=1)[0]
    top5 = probs.topk(5)
    assert int(top5.indices[0]) in CAT_CLASSES, top5
    assert float(probs[281:286].sum()) > 0.8  # confidently a cat, not a lucky argmax
