"""What train-interactive records with the weights, and --ship."""

from __future__ import annotations

import json

import numpy as np
import torch

from al_loop.interactive.learned import train as training
from al_loop.interactive.learned.network import read_metadata
from al_loop.interactive.learned.train import TrainConfig, load_training_set, train, training_set
from al_loop.wiring.cli import main
from tests.interactive.learned_fakes import TINY_DECODER

TINY = {
    "crop_size": 64,
    "long_side": 64,
    "batch_size": 2,
    "decoder_channels": list(TINY_DECODER),
    "pretrained_encoder": False,
    "min_object_pixels": 16,
    "warmup_steps": 1,
    "objects": "component",
}
SYNTH = {"name": "synthetic", "params": {"num_images": 6, "hw": [64, 64], "seed": 3}}


def test_the_metadata_records_the_run_and_every_image_trained_on(tmp_path):
    cfg = TrainConfig(**TINY, datasets=[{**SYNTH, "splits": ["train", "val"]}], steps=1,
                      seed=2, out=str(tmp_path / "a.pt"))  # fmt: skip
    data = load_training_set(cfg)
    result = train(cfg, data, command="al-loop train-interactive x.yaml")
    meta = read_metadata(result.weights)
    seen = [(r["source"], r["split"], len(r["items"])) for r in meta["trained_on"]]
    assert [s[:2] for s in seen] == [("synthetic:seed=3", "train"), ("synthetic:seed=3", "val")]
    held = {n for r in meta["held_out"] for n in r["items"]}
    assert sum(s[2] for s in seen) + len(held) == 6 and held  # the test split is held out
    run = meta["training"]
    assert run["command"] == "al-loop train-interactive x.yaml" and run["seed"] == 2
    assert run["steps"] == 1 and run["minutes"] >= 0 and run["date"].startswith("20")
    assert run["datasets"][0]["splits"] == ["train", "val"] and "copy_paste" in run
    assert meta["crop_size"] == 64 and meta["encoding"] == "disk"  # what rebuilds it

    # fine-tuning adds its images to those of the weights it started from
    images = np.zeros((2, 64, 64, 3), np.uint8)
    masks = np.zeros((2, 64, 64), np.uint8)
    masks[:, 10:30, 10:30] = 1
    tuned_cfg = TrainConfig(**TINY, steps=1, init_weights=str(result.weights),
                            out=str(tmp_path / "b.pt"))  # fmt: skip
    own = [{"name": "run", "source": "folder:/x", "split": "pool", "items": ["p"]}]
    tuned = train(tuned_cfg, training_set(images, masks, tuned_cfg, own))
    tuned_meta = read_metadata(tuned.weights)
    assert tuned_meta["trained_on"] == meta["trained_on"] + own
    assert tuned_meta["training"]["init_training"] == run  # every stage's steps and minutes

    # a fine-tune on its init weights' own data lists each record once
    again_cfg = cfg.model_copy(update={"init_weights": str(result.weights),
                                       "out": str(tmp_path / "c.pt")})  # fmt: skip
    again = train(again_cfg, data)
    assert read_metadata(again.weights)["trained_on"] == meta["trained_on"]


def test_a_finished_run_resumed_records_the_same_loss(tmp_path):
    """``--resume --ship`` of a finished run rewrites its weights' metadata: the loss of its
    last steps comes from the checkpoint, not from the no steps of the resumed call."""
    cfg = TrainConfig(**TINY, datasets=[SYNTH], steps=2, out=str(tmp_path / "a.pt"))
    data = load_training_set(cfg)
    first = train(cfg, data)
    loss = read_metadata(first.weights)["training"]["loss"]
    resumed = train(cfg, data, resume=True)
    assert resumed.steps == 2 and np.isfinite(loss)
    assert read_metadata(resumed.weights)["training"]["loss"] == loss == first.loss


def test_cli_ships_finished_weights_as_float16_with_the_command(tmp_path, monkeypatch):
    shipped_dir = tmp_path / "repo" / "models" / "interactive"
    monkeypatch.setattr(training, "SHIPPED_DIR", shipped_dir)
    cfg = tmp_path / "c.yaml"
    body = {**TINY, "datasets": [SYNTH], "steps": 1, "threads": 1}
    cfg.write_text("\n".join(f"{k}: {v}" for k, v in body.items()).replace("'", '"'))
    out = tmp_path / "runs" / "dextr.pt"
    argv = ["train-interactive", str(cfg), "--out", str(out), "--set", "name=dextr"]
    argv += ["--set", "interaction=extreme_points"]
    assert main([*argv, "--ship"]) == 0
    shipped = shipped_dir / "dextr.pt"
    state = torch.load(shipped, weights_only=True)
    assert state["guidance.scale"].dtype == torch.float16
    assert torch.load(out, weights_only=True)["guidance.scale"].dtype == torch.float32
    meta = read_metadata(shipped)
    assert meta["interaction"] == "extreme_points" and meta["trained_on"]
    assert meta["training"]["command"].startswith(f"al-loop train-interactive {cfg} --out")


def test_the_weights_file_takes_the_methods_name(tmp_path):
    out = str(tmp_path / "{name}_no_camvid.pt")
    assert TrainConfig(out=out).weights_path == tmp_path / "ritm_clicks_no_camvid.pt"
    dextr = TrainConfig(out=out, name="dextr", interaction="extreme_points")
    assert dextr.weights_path == tmp_path / "dextr_no_camvid.pt"


def test_an_unset_object_classes_key_leaves_the_resume_fingerprint_as_before():
    """Checkpoints written before ``object_classes`` existed still resume (their fingerprint
    has no such key); setting it is a different training."""
    plain = TrainConfig(**TINY, datasets=[SYNTH])
    assert "object_classes" not in json.loads(training.config_fingerprint(plain))["datasets"][0]
    discs = TrainConfig(**TINY, datasets=[{**SYNTH, "object_classes": ["disc"]}])
    assert training.config_fingerprint(discs) != training.config_fingerprint(plain)


def test_a_resumed_fine_tune_records_its_init_weights_as_they_were_at_the_start(tmp_path):
    """Shipping a fine-tune over the file it started from, then resuming it, must not record
    the fine-tune as its own init: the init's record is kept in the checkpoint."""
    base_cfg = TrainConfig(**TINY, datasets=[SYNTH], steps=1, seed=1, out=str(tmp_path / "a.pt"))
    data = load_training_set(base_cfg)
    base = read_metadata(train(base_cfg, data, command="first").weights)
    tuned_cfg = base_cfg.model_copy(update={"init_weights": str(tmp_path / "a.pt"),
                                            "out": str(tmp_path / "b.pt")})  # fmt: skip
    train(tuned_cfg, data, command="tune")
    other = base_cfg.model_copy(update={"seed": 9, "out": str(tmp_path / "c.pt")})
    replacement = train(other, data, command="other").weights
    for suffix in (".pt", ".json"):  # the init file replaced by other weights
        (tmp_path / f"a{suffix}").write_bytes(replacement.with_suffix(suffix).read_bytes())
    resumed = train(tuned_cfg.model_copy(update={"steps": 2}), data, resume=True)
    meta = read_metadata(resumed.weights)
    assert meta["training"]["init_training"] == base["training"]
    assert meta["training"]["init_training"]["command"] == "first"
