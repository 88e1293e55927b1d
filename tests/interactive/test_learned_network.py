import json

import pytest
import torch

from al_loop.core.errors import ConfigError
from al_loop.interactive.learned.network import (
    GUIDANCE_CHANNELS,
    build_network,
    load_weights,
    metadata_path,
    read_metadata,
    save_weights,
)
from tests.interactive.learned_fakes import TINY_DECODER, tiny_geometry, tiny_weights


@pytest.fixture(scope="module")
def network():
    return build_network(TINY_DECODER, pretrained=False, seed=0).eval()


def inputs(h=64, w=96):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, h, w, generator=g) * 255
    guidance = torch.zeros(1, GUIDANCE_CHANNELS, h, w)
    return image, guidance


def test_forward_gives_one_logit_map_of_the_input_size(network):
    image, guidance = inputs()
    with torch.no_grad():
        out = network(network.normalise(image), guidance)
    assert out.shape == (1, 1, 64, 96)


def test_guidance_reaches_the_output_through_conv1s(network):
    image, guidance = inputs()
    clicked = guidance.clone()
    clicked[:, 0, 20:30, 40:50] = 1.0
    with torch.no_grad():
        x = network.normalise(image)
        plain, guided = network(x, guidance), network(x, clicked)
    assert not torch.allclose(plain, guided)
    assert network.guidance.scale.item() == pytest.approx(0.05)  # starts near the pretrained net


@pytest.mark.parametrize("deep", [False, True])
def test_deep_guidance_carries_clicks_when_conv1s_is_silent(deep):
    network = build_network(TINY_DECODER, pretrained=False, seed=0, deep_guidance=deep).eval()
    with torch.no_grad():
        network.guidance.scale.zero_()  # only the stride-32 path can carry the click
    image, guidance = inputs()
    clicked = guidance.clone()
    clicked[:, 0, 20:30, 40:50] = 1.0
    with torch.no_grad():
        x = network.normalise(image)
        moved = not torch.equal(network(x, guidance), network(x, clicked))
    assert moved == deep


def test_deep_guidance_adds_parameters_and_keeps_the_rest_of_the_network():
    plain = build_network(TINY_DECODER, pretrained=False, seed=0).state_dict()
    deep = build_network(TINY_DECODER, pretrained=False, seed=0, deep_guidance=True).state_dict()
    assert {k.split(".")[0] for k in set(deep) - set(plain)} == {"deep_guidance"}
    assert all(torch.equal(plain[k], deep[k]) for k in plain)  # same seed, same other weights


def test_the_same_seed_builds_the_same_network():
    a = build_network(TINY_DECODER, pretrained=False, seed=3).state_dict()
    b = build_network(TINY_DECODER, pretrained=False, seed=3).state_dict()
    c = build_network(TINY_DECODER, pretrained=False, seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_pretrained_encoder_holds_the_mapped_imagenet_weights():
    from al_loop.models.pretrained import lite0_state_dict

    encoder = build_network(TINY_DECODER, pretrained=True).unet.encoder.state_dict()
    expected, _, _ = lite0_state_dict()
    assert torch.equal(encoder["conv_stem.weight"], expected["conv_stem.weight"])


@pytest.mark.parametrize(
    "interaction, encoding",
    [("click", "disk"), ("extreme_points", "gaussian"), ("inside_outside", "gaussian")],
)
def test_metadata_without_newer_keys_reads_as_what_it_was_trained_with(
    tmp_path, network, interaction, encoding
):
    path = save_weights(network, tmp_path / "net.pt", tiny_geometry(interaction))  # no such keys
    meta = read_metadata(path)
    assert meta["encoding"] == encoding and meta["deep_guidance"] is False
    named = save_weights(
        network, tmp_path / "named.pt", {**tiny_geometry(interaction), "encoding": "distance"}
    )
    assert read_metadata(named)["encoding"] == "distance"


def test_save_load_round_trip_gives_the_same_outputs_and_metadata(tmp_path, network):
    path = save_weights(network, tmp_path / "net.pt", tiny_geometry("click"))
    assert metadata_path(path).is_file() and not list(tmp_path.glob("*.tmp"))
    loaded, meta = load_weights(path)
    assert meta["interaction"] == "click" and meta["format"] == 1
    image, guidance = inputs()
    with torch.no_grad():
        assert torch.equal(
            network(network.normalise(image), guidance), loaded(loaded.normalise(image), guidance)
        )


def test_missing_weights_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="weights not found") as err:
        load_weights(tmp_path / "nothing.pt")
    assert "\n" not in str(err.value)
    path = tiny_weights(tmp_path, "click")
    metadata_path(path).unlink()
    with pytest.raises(ConfigError, match="metadata"):
        read_metadata(path)


def test_weights_of_another_network_are_refused(tmp_path):
    path = tiny_weights(tmp_path, "click")
    meta = json.loads(metadata_path(path).read_text())
    meta["decoder_channels"] = [32, 32, 32, 32, 32]  # the file holds a 16-channel decoder
    metadata_path(path).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="not weights of this network"):
        load_weights(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(ConfigError):
        load_weights(path)
