"""``al-loop train-interactive``: train the guided network for one kind of interaction.

Each step draws a batch of objects (one class of one image, or one connected component),
places the network's frame (a scale-jittered window around the object for clicks, the crop
around the opening's points for DEXTR / IOG), samples the opening guidance, then RITM's
iterative sampling: up to ``max_corrective_clicks`` rounds in which the network (eval mode, no
gradient) predicts, a click is placed on each sample's errors and the prediction becomes the
previous mask; the last forward pass is trained with the normalized focal loss.

Deterministic for a seed on CPU: the randomness of step ``s`` (samples, clicks, and the
torch RNG of the encoder's drop-path) is drawn from ``default_rng([seed, s])``, so a resumed run
continues exactly; the network's init comes from the seed. ``--minutes`` stops at a step
boundary; a checkpoint (model, optimiser, step) is written every ``checkpoint_every`` steps and
at the end, and ``--resume`` continues from it.

The data (``datasets``, copy-paste) is data.py's. The weights' metadata records the command,
seed, steps, minutes, date, git commit, the geometry inference repeats and ``trained_on``: the
data sets, splits and image names trained on (with those of ``init_weights``), which the leakage
guard reads (provenance.py). ``--ship`` writes the finished weights, float16, to the
repository's ``models/interactive/``.
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from al_loop.core.config import DatasetConfig, describe_validation_error, merge, read_yaml_mapping
from al_loop.core.errors import ConfigError
from al_loop.core.progress import ProgressFactory, no_progress
from al_loop.interactive.learned import data as training_data
from al_loop.interactive.learned.data import (
    SPLITS,
    CopyPasteConfig,
    TrainDataset,
    TrainingSet,
    composite,
)
from al_loop.interactive.learned.encodings import (
    DEFAULT_ENCODINGS,
    STRIDE,
    Frame,
    crop_frame,
    guidance_maps,
    to_frame,
    warp_to_frame,
)
from al_loop.interactive.learned.loss import normalized_focal_loss
from al_loop.interactive.learned.methods import SHIPPED_DIR, THRESHOLD, WEIGHTS_DIR
from al_loop.interactive.learned.network import (
    DEFAULT_DECODER_CHANNELS,
    GuidedUnet,
    build_network,
    export_weights,
    load_weights,
    read_metadata,
    save_weights,
)
from al_loop.interactive.learned.sampling import (
    error_click,
    opening_points,
    perturbed_mask,
    random_clicks,
)

Interaction = Literal["click", "extreme_points", "inside_outside"]
# what inference must repeat of training: stored with the weights
GEOMETRY_KEYS = ("interaction", "long_side", "crop_size", "margin_fraction", "min_margin")
GEOMETRY_KEYS += ("encoding", "radius", "sigma", "decoder_channels", "deep_guidance")


class TrainConfig(BaseModel):
    """Everything a training run needs; ``geometry()`` is what inference must repeat."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "ritm_clicks"  # the method the weights are for (default file name)
    interaction: Interaction = "click"
    # the data sets mixed, each with its splits (data.py); e.g. the synthetic set beside DAVIS:
    # its images hold several objects, so the network must read the clicks to know which is
    # meant. The older form ``dataset`` + ``extra_datasets`` + ``splits`` (one list of splits
    # for all) is read as this list.
    datasets: list[TrainDataset] = Field(default_factory=lambda: [TrainDataset()], min_length=1)
    copy_paste: CopyPasteConfig = CopyPasteConfig()
    # weights file; default models/interactive/<name>.pt; "{name}" in it is replaced by the
    # name, so `--set name=dextr` on a config with `out` cannot overwrite the click model's file
    out: str | None = None
    # fine-tune these weights (their geometry must match) instead of starting from ImageNet
    init_weights: str | None = None
    seed: int = Field(0, ge=0)
    device: str = "cpu"
    threads: int | None = Field(1, ge=1)
    # optimisation
    steps: int = Field(1000, ge=1)
    minutes: float | None = Field(None, gt=0)  # wall-clock cap of one invocation
    batch_size: int = Field(8, ge=1)
    lr: float = Field(5e-4, gt=0)
    encoder_lr_mult: float = Field(0.1, ge=0)  # RITM: the pretrained backbone learns slower
    guidance_lr_mult: float = Field(
        1.0, gt=0
    )  # Conv1S (and DeepGuidance): faster lets short runs use clicks
    weight_decay: float = Field(1e-4, ge=0)
    warmup_steps: int = Field(50, ge=0)
    checkpoint_every: int = Field(50, ge=1)
    decoder_channels: list[int] = list(DEFAULT_DECODER_CHANNELS)
    deep_guidance: bool = False  # guidance also added at the encoder's last stage (stride 32)
    pretrained_encoder: bool = True  # ImageNet Lite0 weights (False: random init, for tests)
    # frames and guidance (stored with the weights; inference repeats them)
    long_side: int = Field(448, ge=STRIDE)  # clicks: the whole image at this long side
    # clicks: the long side (image pixels) of what the method is shown at inference, when not
    # the whole image: the loop shows a unit's crop (e.g. a 32-pixel cell and its 16-pixel
    # context: 64), magnified to long_side, and training must see objects at that scale
    view_size: int | None = Field(None, ge=1)
    crop_size: int = Field(256, ge=STRIDE)  # training windows and DEXTR / IOG crops
    margin_fraction: float = Field(0.1, ge=0)  # crop margin, fraction of the points' box
    min_margin: float = Field(10.0, ge=0)  # crop margin at least (image pixels)
    # how points become guidance maps: default the interaction's (clicks "disk", DEXTR / IOG
    # "gaussian"); "distance" (clicks) reaches the whole object, not only the click's disk
    encoding: Literal["disk", "gaussian", "distance"] | None = None
    radius: float = Field(5.0, gt=0)  # click disks, or the distance maps' scale (network pixels)
    sigma: float = Field(5.0, gt=0)  # heat maps (network pixels; DEXTR: 10 at 512)
    # sampling
    scale_jitter: tuple[float, float] = (0.75, 1.33)
    max_corrective_clicks: int = Field(3, ge=0)
    max_positive: int = Field(3, ge=1)
    max_negative: int = Field(3, ge=0)
    point_jitter: float = Field(3.0, ge=0)  # opening points' noise (pixels)
    external_mask_prob: float = Field(0.2, ge=0, le=1)  # clicks start from a wrong mask
    # fine-tuning on few labels: batch norm keeps its running statistics (small batches of a
    # new domain would replace them within a few dozen steps)
    freeze_batchnorm: bool = False
    objects: Literal["class", "component"] = "class"
    min_object_pixels: int = Field(64, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _one_list_of_datasets(cls, data: Any) -> Any:
        """``dataset`` / ``extra_datasets`` / ``splits`` -> ``datasets``."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        legacy = {k: data.pop(k) for k in ("dataset", "extra_datasets", "splits") if k in data}
        if legacy:
            if "datasets" in data:
                raise ValueError("give datasets, or dataset / extra_datasets / splits, not both")
            first = legacy.get("dataset", DatasetConfig())
            splits = legacy.get("splits", list(SPLITS))
            data["datasets"] = [
                {**(d.model_dump() if isinstance(d, BaseModel) else dict(d)), "splits": splits}
                for d in [first, *legacy.get("extra_datasets", [])]
            ]
        return data

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.crop_size % STRIDE:
            raise ValueError(f"crop_size must be a multiple of {STRIDE}")
        if not 0 < self.scale_jitter[0] <= self.scale_jitter[1]:
            raise ValueError("scale_jitter must be (low, high) with 0 < low <= high")
        if len(self.decoder_channels) != 5:
            raise ValueError("decoder_channels needs 5 values")
        return self

    @property
    def weights_path(self) -> Path:
        if self.out:
            return Path(self.out.replace("{name}", self.name))
        return WEIGHTS_DIR / f"{self.name}.pt"

    @property
    def guidance_encoding(self) -> str:
        return self.encoding or DEFAULT_ENCODINGS[self.interaction]

    def geometry(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in GEOMETRY_KEYS} | {
            "decoder_channels": list(self.decoder_channels),
            "encoding": self.guidance_encoding,
        }


def load_train_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    data = merge(read_yaml_mapping(path), overrides or {})
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, str(path))) from None


# ------------------------------------------------------------------------------------- data


def training_set(
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    config: TrainConfig,
    trained_on: list[dict[str, Any]] | None = None,
) -> TrainingSet:
    """In-memory images and masks (e.g. a run's labels), ``trained_on`` their record."""
    return training_data.training_set(
        images, masks, config.objects, config.min_object_pixels, trained_on
    )


def load_training_set(config: TrainConfig) -> TrainingSet:
    """The images and objects of every data set's splits of ``config``."""
    return training_data.load_training_set(
        config.datasets, config.objects, config.min_object_pixels
    )


# --------------------------------------------------------------------------------- sampling


@dataclass
class Sample:
    """One training object seen in its frame (network coordinates)."""

    image: np.ndarray  # uint8 [h,w,3]
    gt: np.ndarray  # bool [h,w]
    valid: np.ndarray  # bool [h,w]
    positives: list = field(default_factory=list)
    negatives: list = field(default_factory=list)
    previous: np.ndarray | None = None  # bool [h,w]


def click_window(obj: np.ndarray, config: TrainConfig, rng: np.random.Generator) -> Frame:
    """A square window at the scale inference sees (the whole image, or ``view_size`` image
    pixels, at ``long_side``) times a random factor, centred on a random pixel of the object's
    box."""
    ys, xs = np.nonzero(obj)
    view = config.view_size or max(obj.shape)
    scale = config.long_side / view * rng.uniform(*config.scale_jitter)
    side = config.crop_size / scale
    cy, cx = rng.uniform(ys.min(), ys.max() + 1), rng.uniform(xs.min(), xs.max() + 1)
    box = (cy - side / 2, cx - side / 2, cy + side / 2, cx + side / 2)
    return Frame(box, (config.crop_size, config.crop_size))


def make_sample(
    image: np.ndarray,
    obj: np.ndarray,
    valid: np.ndarray,
    config: TrainConfig,
    rng: np.random.Generator,
) -> Sample | None:
    """The object in its frame with the opening guidance; None if the frame misses it."""
    opening: tuple[list, list] = ([], [])
    if config.interaction == "click":
        frame = click_window(obj, config, rng)
    else:
        opening = opening_points(config.interaction, obj, rng, config.point_jitter)
        frame = crop_frame(
            opening[0] + opening[1], config.crop_size, config.margin_fraction, config.min_margin
        )
    gt = warp_to_frame(obj.astype(np.uint8), frame, nearest=True) > 0
    inside = warp_to_frame(valid.astype(np.uint8), frame, nearest=True) > 0
    if int(gt.sum()) < 16:
        return None
    sample = Sample(warp_to_frame(image, frame), gt, inside)
    if config.interaction != "click":
        sample.positives = [tuple(p) for p in to_frame(opening[0], frame)]
        sample.negatives = [tuple(p) for p in to_frame(opening[1], frame)]
    elif rng.random() < config.external_mask_prob:
        sample.previous = perturbed_mask(gt, rng) & inside
        click = error_click(gt, sample.previous, inside, rng)
        if click is not None:
            (sample.positives if click[1] else sample.negatives).append(click[0])
    else:
        sample.positives, sample.negatives = random_clicks(
            gt, inside, rng, config.max_positive, config.max_negative
        )
    if rng.random() < 0.5:
        flip(sample)
    return sample


def flip(sample: Sample) -> None:
    """Mirror left-right in place (image, masks and points)."""
    w = sample.gt.shape[1]
    sample.image = np.ascontiguousarray(sample.image[:, ::-1])
    sample.gt, sample.valid = sample.gt[:, ::-1].copy(), sample.valid[:, ::-1].copy()
    if sample.previous is not None:
        sample.previous = sample.previous[:, ::-1].copy()
    sample.positives = [(y, w - 1 - x) for y, x in sample.positives]
    sample.negatives = [(y, w - 1 - x) for y, x in sample.negatives]


def draw_sample(data: TrainingSet, config: TrainConfig, rng: np.random.Generator) -> Sample | None:
    """One object of the set, or (``copy_paste.probability``) a pasted one in a composite."""
    paste = config.copy_paste.probability
    made = None
    if paste and rng.random() < paste:
        # None when nothing small enough to paste stays visible: a plain sample instead
        made = composite(data, config.copy_paste, config.min_object_pixels, rng)
    if made is not None:
        image, obj, valid = made
    else:
        picked = data.objects[int(rng.integers(len(data.objects)))]
        image, valid = data.images[picked.image], data.valid[picked.image]
        obj = picked.full(valid.shape)
    return make_sample(image, obj, valid, config, rng)


def draw_batch(data: TrainingSet, config: TrainConfig, rng: np.random.Generator) -> list[Sample]:
    batch: list[Sample] = []
    while len(batch) < config.batch_size:
        sample = draw_sample(data, config, rng)
        if sample is not None:
            batch.append(sample)
    return batch


def batch_tensors(
    batch: list[Sample], config: TrainConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images float [B,3,h,w] 0..255, guidance [B,3,h,w], gt [B,1,h,w], valid [B,1,h,w])."""
    style = config.guidance_encoding
    images = np.stack([s.image.transpose(2, 0, 1) for s in batch]).astype(np.float32)
    guidance = np.stack(
        [
            guidance_maps(
                s.gt.shape, s.positives, s.negatives, s.previous, style, config.radius, config.sigma
            )
            for s in batch
        ]
    )
    gt = np.stack([s.gt for s in batch])[:, None]
    valid = np.stack([s.valid for s in batch])[:, None]
    return (
        torch.from_numpy(images),
        torch.from_numpy(guidance),
        torch.from_numpy(gt),
        torch.from_numpy(valid),
    )


def add_error_clicks(batch: list[Sample], predictions: np.ndarray, rng: np.random.Generator) -> int:
    """RITM's iterative step: each prediction becomes its sample's previous mask and a click
    goes on its errors. Returns the number of clicks placed."""
    placed = 0
    for sample, pred in zip(batch, predictions, strict=True):
        sample.previous = pred
        click = error_click(sample.gt, pred, sample.valid, rng)
        if click is not None:
            (sample.positives if click[1] else sample.negatives).append(click[0])
            placed += 1
    return placed


def train_step(
    network: GuidedUnet,
    optimizer: torch.optim.Optimizer,
    batch: list[Sample],
    config: TrainConfig,
    rng: np.random.Generator,
    device: torch.device,
) -> float:
    """One optimiser step with iterative click sampling; returns the loss."""
    images, _, gt, valid = batch_tensors(batch, config)
    x = network.normalise(images.to(device))
    for _ in range(int(rng.integers(config.max_corrective_clicks + 1))):
        network.eval()
        with torch.no_grad():
            guidance = batch_tensors(batch, config)[1].to(device)
            prob = torch.sigmoid(network(x, guidance))[:, 0].cpu().numpy()
        add_error_clicks(batch, prob > THRESHOLD, rng)
    network.train()
    if config.freeze_batchnorm:  # keep the statistics the weights were trained with
        for module in network.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()
    guidance = batch_tensors(batch, config)[1].to(device)
    loss = normalized_focal_loss(network(x, guidance), gt.to(device), valid.to(device))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


# --------------------------------------------------------------------------------- the run


def group_learning_rates(config: TrainConfig) -> tuple[float, float, float]:
    """Base learning rates of the optimiser's groups: encoder, guidance block, the rest."""
    return (
        config.lr * config.encoder_lr_mult,
        config.lr * config.guidance_lr_mult,
        config.lr,
    )


def make_optimizer(network: GuidedUnet, config: TrainConfig) -> torch.optim.Optimizer:
    encoder = list(network.unet.encoder.parameters())
    guidance = list(network.guidance.parameters())
    if network.deep_guidance is not None:
        guidance += list(network.deep_guidance.parameters())
    taken = {id(p) for p in encoder + guidance}
    rest = [p for p in network.parameters() if id(p) not in taken]
    return torch.optim.AdamW(
        [
            {"params": params, "lr": lr}
            for params, lr in zip(
                (encoder, guidance, rest), group_learning_rates(config), strict=True
            )
        ],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5 % at ``steps``."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def checkpoint_path(weights: Path) -> Path:
    return weights.with_suffix(".ckpt")


def config_fingerprint(config: TrainConfig) -> str:
    """What must match to resume: everything but the stopping rules and where to run."""
    ignored = {"minutes", "steps", "device", "threads", "checkpoint_every"}
    return json.dumps(config.model_dump(mode="json", exclude=ignored), sort_keys=True)


@dataclass
class TrainResult:
    weights: Path
    steps: int
    seconds: float  # training wall time, summed over resumed invocations
    loss: float  # mean loss of the last checkpoint_every steps
    finished: bool  # False when stopped by the time limit before ``steps``


def refuse_unasked_resume(config: TrainConfig, resume: bool) -> None:
    """A checkpoint of these weights exists but ``resume`` was not asked for: ConfigError."""
    ckpt_file = checkpoint_path(config.weights_path)
    if ckpt_file.exists() and not resume:
        raise ConfigError(
            f"{ckpt_file}: a checkpoint exists; pass --resume to continue it or delete it"
        )


def initial_network(config: TrainConfig) -> GuidedUnet:
    """The network training starts from: ``init_weights`` (fine-tuning; their geometry must be
    the config's, or inference would not repeat training) or a fresh one."""
    if config.init_weights is None:
        return build_network(
            tuple(config.decoder_channels),
            pretrained=config.pretrained_encoder,
            seed=config.seed,
            deep_guidance=config.deep_guidance,
        )
    network, meta = load_weights(config.init_weights)
    for key, value in config.geometry().items():
        if meta.get(key) != value:
            raise ConfigError(
                f"{config.init_weights}: trained with {key}={meta.get(key)!r}, "
                f"the config says {value!r}"
            )
    return network


def git_commit() -> dict[str, Any]:
    """{"commit": HEAD, "dirty": uncommitted changes} of the code's repository, or {} outside one."""
    root = SHIPPED_DIR.parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {"commit": head, "dirty": bool(status.strip())}


def init_record(config: TrainConfig) -> dict[str, Any]:
    """What the init weights' metadata says of their training (``trained_on``, ``training``),
    read when training starts and kept in the checkpoint: a resumed run records it even if
    the init file was replaced since (e.g. by shipping this run's weights over it)."""
    if config.init_weights is None:
        return {}
    init = read_metadata(config.init_weights)
    return {key: init[key] for key in ("trained_on", "training") if key in init}


def seen_by(config: TrainConfig, data: TrainingSet, init: dict[str, Any]) -> dict[str, Any]:
    """``trained_on`` (data's records and the init weights', from :func:`init_record`) for the
    metadata; empty when the init weights do not record theirs (the guard then refuses the
    result too)."""
    inherited: list[dict[str, Any]] = []
    if config.init_weights is not None:
        if "trained_on" not in init:
            return {}
        inherited = init["trained_on"]
    # a fine-tune on the same data as its init weights lists each record once
    trained_on = [*inherited, *(r for r in data.trained_on if r not in inherited)]
    return {"trained_on": trained_on, "held_out": data.held_out}


def train(
    config: TrainConfig,
    data: TrainingSet,
    resume: bool = False,
    progress: ProgressFactory = no_progress,
    log: Callable[[str], None] = lambda _: None,
    clock: Callable[[], float] = time.monotonic,
    command: str | None = None,
) -> TrainResult:
    """Train, checkpointing as it goes; writes the weights and their metadata at the end."""
    device = torch.device(config.device)
    weights = config.weights_path
    ckpt_file = checkpoint_path(weights)
    network = initial_network(config)
    network.to(device)
    optimizer = make_optimizer(network, config)
    start_step, seconds_before = 0, 0.0
    recent: list[float] = []
    init: dict[str, Any] | None = None
    if ckpt_file.exists():
        refuse_unasked_resume(config, resume)
        ckpt = torch.load(ckpt_file, weights_only=True, map_location=device)
        if ckpt["fingerprint"] != config_fingerprint(config):
            raise ConfigError(f"{ckpt_file}: was trained with another config; cannot resume")
        network.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        start_step, seconds_before = int(ckpt["step"]), float(ckpt["seconds"])
        # the last steps' losses: a resumed (or re-shipped) run reports the same mean loss
        recent = [float(v) for v in ckpt.get("recent_losses", [])]
        init = ckpt.get("init_record")  # older checkpoints: read the file again
        log(f"resuming {ckpt_file} at step {start_step}")
    if init is None:
        init = init_record(config)
    started = clock()
    deadline = None if config.minutes is None else started + 60.0 * config.minutes
    step = start_step

    def save_checkpoint() -> None:
        ckpt_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt_file.with_suffix(".ckpt.tmp")
        torch.save(
            {
                "model": network.state_dict(),
                "optimizer": optimizer.state_dict(),
                "step": step,
                "seconds": seconds_before + clock() - started,
                "recent_losses": recent,
                "init_record": init,
                "fingerprint": config_fingerprint(config),
            },
            tmp,
        )
        tmp.replace(ckpt_file)

    desc = f"train {config.name}" + (f" from step {start_step}" if start_step else "")
    with progress(desc, max(0, config.steps - start_step)) as bar:
        while step < config.steps and (deadline is None or clock() < deadline):
            factor = learning_rate_factor(step, config)
            for group, base in zip(
                optimizer.param_groups, group_learning_rates(config), strict=True
            ):
                group["lr"] = base * factor
            rng = np.random.default_rng([config.seed, step])
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(rng.integers(2**63)))  # the encoder's drop-path draws
                batch = draw_batch(data, config, rng)
                loss = train_step(network, optimizer, batch, config, rng, device)
            recent = (recent + [loss])[-config.checkpoint_every :]
            step += 1
            bar.update(1)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{np.mean(recent):.4f}", refresh=False)
            if step % config.checkpoint_every == 0:
                save_checkpoint()
    save_checkpoint()
    seconds = seconds_before + clock() - started
    mean_loss = float(np.mean(recent)) if recent else float("nan")
    metadata = {
        **config.geometry(),
        "method": config.name,
        "encoder": "timm-tf_efficientnet_lite0 (lite0-imagenet)",
        **seen_by(config, data, init),
        "training": {
            "command": command,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            **git_commit(),
            "init_weights": config.init_weights,
            **({"init_training": init["training"]} if "training" in init else {}),
            "datasets": [d.model_dump(mode="json") for d in config.datasets],
            "copy_paste": config.copy_paste.model_dump(mode="json"),
            "objects": len(data.objects),
            "steps": step,
            "batch_size": config.batch_size,
            "seconds": round(seconds, 1),
            "minutes": round(seconds / 60.0, 1),
            "seed": config.seed,
            "loss": mean_loss if recent else None,
        },
    }
    save_weights(network, weights, metadata)
    log(f"{weights}: {step} steps, {seconds / 60:.1f} min, loss {mean_loss:.4f}")
    return TrainResult(weights, step, seconds, mean_loss, step >= config.steps)


def train_from_config(
    config: TrainConfig,
    resume: bool = False,
    progress: ProgressFactory = no_progress,
    log: Callable[[str], None] = lambda _: None,
    argv: Sequence[str] | None = None,
) -> TrainResult:
    """The CLI's entry: set threads, load the data, train; ``argv``: the command's arguments,
    recorded in the metadata."""
    refuse_unasked_resume(config, resume)  # before minutes of loading data
    if config.threads:
        torch.set_num_threads(config.threads)
    data = load_training_set(config)
    names = ", ".join(f"{d.name} {'+'.join(d.splits)}" for d in config.datasets)
    log(
        f"training {config.name} ({config.interaction}) on {names}: "
        f"{len(data.images)} images, {len(data.objects)} objects"
    )
    command = None if argv is None else shlex.join(["al-loop", *argv])
    return train(config, data, resume, progress, log, command=command)


def ship(weights: Path, shipped_dir: Path | None = None) -> Path:
    """Finished weights -> ``NAME.pt`` of ``shipped_dir`` (default: the repository's
    ``models/interactive/``) in the shipped format (float16 + metadata)."""
    return export_weights(weights, (shipped_dir or SHIPPED_DIR) / weights.name)
