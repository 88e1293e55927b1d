import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from al_loop.core.errors import ConfigError
from al_loop.interactive.learned.data import collect_objects
from al_loop.interactive.learned.network import build_network, load_weights
from al_loop.interactive.learned.train import (
    Sample,
    TrainConfig,
    add_error_clicks,
    click_window,
    draw_batch,
    learning_rate_factor,
    load_train_config,
    load_training_set,
    make_optimizer,
    make_sample,
    train,
    train_step,
    training_set,
)
from al_loop.wiring.cli import main
from tests.interactive.learned_fakes import TINY_DECODER

TINY = {
    "crop_size": 64,
    "long_side": 64,
    "batch_size": 2,
    "decoder_channels": list(TINY_DECODER),
    "pretrained_encoder": False,
    "checkpoint_every": 2,
    "min_object_pixels": 16,
    "warmup_steps": 1,
    "radius": 3.0,
    "sigma": 3.0,
}


def discs(n: int = 4, hw: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:hw, :hw]
    images = np.empty((n, hw, hw, 3), np.uint8)
    masks = np.zeros((n, hw, hw), np.uint8)
    for i in range(n):
        cy, cx, r = rng.integers(20, 44), rng.integers(20, 44), rng.integers(8, 14)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        images[i] = rng.integers(40, 120, size=(hw, hw, 3))
        images[i][disc] = (210, 70, 40)
        masks[i][disc] = 1
    return images, masks


def config(tmp_path: Path, **changes) -> TrainConfig:
    return TrainConfig(**{**TINY, "out": str(tmp_path / "net.pt"), **changes})


def test_config_errors_name_the_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: ritm_clicks\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate: unknown key"):
        load_train_config(path)
    path.write_text("name: ritm_clicks\ncrop_size: 100\n")
    with pytest.raises(ConfigError, match="multiple of 32"):
        load_train_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(tmp_path / "none.yaml")


def test_objects_are_whole_classes_or_components():
    masks = np.zeros((1, 20, 20), np.uint8)
    masks[0, 2:6, 2:6] = 1
    masks[0, 10:16, 10:16] = 1
    masks[0, 0, 19] = 2  # one pixel: too small
    masks[0, 18:20, 0:20] = 255  # IGNORE is never an object
    assert len(collect_objects(masks, "class", min_pixels=4)) == 1
    components = collect_objects(masks, "component", min_pixels=4)
    assert sorted(int(o.mask.sum()) for o in components) == [16, 36]


@pytest.mark.parametrize("interaction", ["click", "extreme_points", "inside_outside"])
def test_samples_hold_the_object_and_their_points_in_the_frame(tmp_path, interaction):
    images, masks = discs()
    cfg = config(tmp_path, interaction=interaction, point_jitter=0.0, external_mask_prob=0.0)
    for seed in range(5):
        sample = make_sample(
            images[0], masks[0] > 0, masks[0] < 255, cfg, np.random.default_rng(seed)
        )
        assert sample is not None and sample.image.shape == (64, 64, 3) and sample.gt.any()
        assert sample.positives and all(0 <= y < 64 and 0 <= x < 64 for y, x in sample.positives)
        if interaction == "extreme_points":
            assert len(sample.positives) == 4 and not sample.negatives
        if interaction == "inside_outside":
            assert len(sample.positives) == 1 and len(sample.negatives) == 2
            y, x = np.round(sample.positives[0]).astype(int)
            assert sample.gt[y, x]  # the inside click is on the object


def test_click_windows_see_objects_at_the_scale_inference_does(tmp_path):
    obj = np.zeros((64, 128), bool)
    obj[20:30, 40:50] = True
    rng = np.random.default_rng(0)
    whole = click_window(obj, config(tmp_path, scale_jitter=(1.0, 1.0)), rng)
    y0, x0, y1, x1 = whole.box
    assert (y1 - y0, x1 - x0) == pytest.approx((128, 128))  # 64 px of a 128-px long image at 64
    unit = click_window(obj, config(tmp_path, scale_jitter=(1.0, 1.0), view_size=32), rng)
    y0, x0, y1, x1 = unit.box
    assert (y1 - y0, x1 - x0) == pytest.approx((32, 32)) and unit.size == (64, 64)


def test_click_samples_can_start_from_a_wrong_external_mask(tmp_path):
    images, masks = discs()
    cfg = config(tmp_path, external_mask_prob=1.0)
    sample = make_sample(images[0], masks[0] > 0, masks[0] < 255, cfg, np.random.default_rng(0))
    assert sample.previous is not None and not np.array_equal(sample.previous, sample.gt)
    assert len(sample.positives) + len(sample.negatives) == 1  # one click on its errors


def test_error_clicks_land_on_each_samples_errors():
    gt = np.zeros((16, 16), bool)
    gt[4:12, 4:12] = True
    missed, spilled = Sample(None, gt, np.ones_like(gt)), Sample(None, gt, np.ones_like(gt))
    predictions = np.stack([np.zeros_like(gt), np.ones_like(gt)])
    assert add_error_clicks([missed, spilled], predictions, np.random.default_rng(0)) == 2
    ((y, x),) = missed.positives
    assert gt[y, x] and not missed.negatives
    ((y, x),) = spilled.negatives
    assert not gt[y, x] and not spilled.positives
    assert np.array_equal(spilled.previous, predictions[1])  # the prediction is fed back
    perfect = Sample(None, gt, np.ones_like(gt))
    assert add_error_clicks([perfect], gt[None], np.random.default_rng(0)) == 0


def test_training_steps_reduce_the_loss(tmp_path):
    images, masks = discs()
    cfg = config(tmp_path, max_corrective_clicks=0, lr=2e-3, encoder_lr_mult=1.0)
    data = training_set(images, masks, cfg)
    network = build_network(TINY_DECODER, pretrained=False)
    optimizer = make_optimizer(network, cfg)
    batch = draw_batch(data, cfg, np.random.default_rng(0))
    losses = [
        train_step(network, optimizer, copy.deepcopy(batch), cfg, np.random.default_rng(i), "cpu")
        for i in range(8)
    ]
    assert losses[-1] < losses[0]


def test_iterative_sampling_adds_clicks_and_previous_masks(tmp_path):
    images, masks = discs()
    cfg = config(tmp_path, max_corrective_clicks=3)
    data = training_set(images, masks, cfg)
    network = build_network(TINY_DECODER, pretrained=False)
    batch = draw_batch(data, cfg, np.random.default_rng(0))
    before = [len(s.positives) + len(s.negatives) for s in batch]
    rng = np.random.default_rng(1)  # draws 2 corrective rounds first
    assert int(np.random.default_rng(1).integers(4)) > 0
    train_step(network, make_optimizer(network, cfg), batch, cfg, rng, "cpu")
    after = [len(s.positives) + len(s.negatives) for s in batch]
    assert all(a > b for a, b in zip(after, before, strict=True))
    assert all(s.previous is not None for s in batch)


def test_optimizer_groups_take_their_learning_rates(tmp_path):
    cfg = config(tmp_path, lr=1e-3, encoder_lr_mult=0.1, guidance_lr_mult=10.0)
    network = build_network(TINY_DECODER, pretrained=False)
    groups = make_optimizer(network, cfg).param_groups
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-2, 1e-3])
    assert sum(len(g["params"]) for g in groups) == len(list(network.parameters()))
    assert any(p is network.guidance.scale for p in groups[1]["params"])


def test_learning_rate_warms_up_then_decays(tmp_path):
    cfg = config(tmp_path, steps=100, warmup_steps=10)
    factors = [learning_rate_factor(s, cfg) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] > factors[50] > factors[99] >= 0.05


def weights_of(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def test_training_is_deterministic_and_a_resumed_run_continues_exactly(tmp_path):
    images, masks = discs()
    straight = config(tmp_path / "a", steps=4)
    data = training_set(images, masks, straight)
    result = train(straight, data)
    assert result.steps == 4 and result.finished and result.weights.is_file()
    again = config(tmp_path / "b", steps=4)
    train(again, data)
    resumed = config(tmp_path / "c", steps=4)
    ticks = iter(range(0, 10_000, 45))  # a fake clock: 45 s per reading

    def clock():
        return float(next(ticks))

    stopped = train(resumed.model_copy(update={"minutes": 1.0}), data, clock=clock)
    assert not stopped.finished and 0 < stopped.steps < 4
    with pytest.raises(ConfigError, match="--resume"):
        train(resumed, data)
    train(resumed, data, resume=True)
    a, b, c = (weights_of(cfg.weights_path) for cfg in (straight, again, resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(a[k], c[k]) for k in a)
    _, meta = load_weights(straight.weights_path)
    assert meta["interaction"] == "click" and meta["training"]["steps"] == 4
    with pytest.raises(ConfigError, match="another config"):
        train(config(tmp_path / "c", steps=4, lr=0.1), data, resume=True)


def test_fine_tuning_starts_from_init_weights_of_the_same_geometry(tmp_path):
    images, masks = discs()
    base = train(config(tmp_path / "base", steps=2), training_set(images, masks, config(tmp_path)))
    tuned_cfg = config(tmp_path / "tuned", steps=1, lr=1e-9, init_weights=str(base.weights))
    tuned = train(tuned_cfg, training_set(images, masks, tuned_cfg))
    a, b = weights_of(base.weights), weights_of(tuned.weights)
    # a step of lr 1e-9 away from the base, nowhere near a fresh network
    fresh = build_network(TINY_DECODER, pretrained=False, seed=0).state_dict()
    key = "unet.decoder.blocks.0.conv1.0.weight"
    assert torch.allclose(a[key], b[key], atol=1e-6) and not torch.allclose(a[key], fresh[key])
    assert load_weights(tuned.weights)[1]["training"]["init_weights"] == str(base.weights)
    other = config(tmp_path / "other", steps=1, radius=7.0, init_weights=str(base.weights))
    with pytest.raises(ConfigError, match="radius=3.0"):
        train(other, training_set(images, masks, other))


def test_the_encoding_is_stored_with_the_weights_and_used_by_the_method(tmp_path, monkeypatch):
    from al_loop.core.interactions import Click
    from al_loop.interactive.learned import methods as learned

    images, masks = discs()
    cfg = config(tmp_path, steps=1, encoding="distance", radius=20.0)
    result = train(cfg, training_set(images, masks, cfg))
    assert load_weights(result.weights)[1]["encoding"] == "distance"
    styles = []
    real = learned.guidance_maps

    def spy(size, positive, negative, previous, style, radius, sigma):
        styles.append((style, radius))
        return real(size, positive, negative, previous, style, radius, sigma)

    monkeypatch.setattr(learned, "guidance_maps", spy)
    learned.ritm_clicks(weights=result.weights).start(images[0]).add(Click(32, 32, True))
    assert styles == [("distance", 20.0)]


def test_deep_guidance_weights_round_trip_and_fine_tune(tmp_path):
    images, masks = discs()
    cfg = config(tmp_path / "deep", steps=2, deep_guidance=True)
    result = train(cfg, training_set(images, masks, cfg))
    network, meta = load_weights(result.weights)
    assert meta["deep_guidance"] is True and network.deep_guidance is not None
    assert network.deep_guidance.scale.item() != pytest.approx(0.05)  # it was trained
    tuned = config(
        tmp_path / "tuned", steps=1, deep_guidance=True, init_weights=str(result.weights)
    )
    train(tuned, training_set(images, masks, tuned))
    plain = config(tmp_path / "plain", steps=1, init_weights=str(result.weights))
    with pytest.raises(ConfigError, match="deep_guidance=True"):
        train(plain, training_set(images, masks, plain))


def test_weights_that_do_not_name_their_encoding_use_the_interaction_default(tmp_path):
    import json

    images, masks = discs()
    base = train(config(tmp_path / "base", steps=1), training_set(images, masks, config(tmp_path)))
    meta_file = base.weights.with_suffix(".json")
    meta = json.loads(meta_file.read_text())
    assert meta.pop("encoding") == "disk" and meta.pop("deep_guidance") is False
    meta_file.write_text(json.dumps(meta))  # as written before encodings were configurable
    tuned = config(tmp_path / "tuned", steps=1, init_weights=str(base.weights))
    train(tuned, training_set(images, masks, tuned))  # same geometry: "disk" is the default
    other = config(tmp_path / "other", steps=1, encoding="distance", init_weights=str(base.weights))
    with pytest.raises(ConfigError, match="encoding='disk'"):
        train(other, training_set(images, masks, other))


def test_extra_datasets_are_mixed_in(tmp_path):
    cfg = config(
        tmp_path,
        dataset={"name": "synthetic", "params": {"num_images": 8, "hw": [64, 64], "seed": 1}},
        extra_datasets=[{"name": "synthetic", "params": {"num_images": 8, "hw": [96, 64]}}],
        objects="component",
    )
    data = load_training_set(cfg)
    assert {image.shape[:2] for image in data.images} == {(64, 64), (96, 64)}
    for o in data.objects:  # each object's box lies in its own image
        assert o.full(data.valid[o.image].shape).sum() == o.mask.sum() > 0
    assert {data.images[o.image].shape[0] for o in data.objects} == {64, 96}


def test_cli_trains_on_the_synthetic_set(tmp_path, capsys):
    cfg = tmp_path / "interactive.yaml"
    cfg.write_text(
        "name: iog\ninteraction: inside_outside\ndataset: {name: synthetic, params: "
        "{num_images: 6, hw: [64, 64]}}\nobjects: component\nsteps: 2\n"
        + "".join(f"{k}: {v}\n" for k, v in TINY.items() if k != "decoder_channels")
        + "decoder_channels: [16, 16, 16, 16, 16]\n"
    )
    out = tmp_path / "iog.pt"
    assert main(["train-interactive", str(cfg), "--out", str(out), "--device", "cpu"]) == 0
    assert out.is_file() and out.with_suffix(".json").is_file()
    assert main(["train-interactive", str(cfg), "--set", "bogus=1"]) == 2
    assert "bogus: unknown key" in capsys.readouterr().err
    assert main(["train-interactive", str(cfg), "--out", str(out)]) == 2
    assert "iog.ckpt: a checkpoint exists; pass --resume" in capsys.readouterr().err
