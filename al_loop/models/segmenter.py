"""The downstream segmenter: a segmentation-models-pytorch network behind the Segmenter protocol.

Images enter as uint8 [N,H,W,3] numpy arrays and are converted batch by batch (one copy:
uint8 NHWC -> float32, normalised in place). Sizes that are not a multiple of the encoder's
output stride are reflect-padded on the bottom/right and cropped back, so any size works.
Training is deterministic for a seed on CPU: the model is built and trained under a seeded,
forked torch RNG (the caller's global RNG state is left untouched) and batches are drawn from
a seeded torch.Generator. With ``windows`` set, a fit trains on windows around the labelled
pixels instead of whole images (``al_loop.models.windows``; README "Speed").
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from al_loop.core.errors import ConfigError, DataError
from al_loop.core.metrics import (
    confusion_matrix,
    dice_per_class,
    iou_per_class,
    mean_dice,
    mean_iou,
    pixel_accuracy,
)
from al_loop.core.protocols import Progress
from al_loop.data.base import IGNORE, SegmentationData
from al_loop.models.pretrained import (
    LITE0_ENCODER,
    LITE0_MEAN,
    LITE0_STD,
    load_lite0_into_encoder,
    make_tf_compatible,
)
from al_loop.models.windows import WindowSpec, crop_windows, make_window_spec, plan_epoch

LITE0_WEIGHTS = "lite0-imagenet"
ENCODER_WEIGHTS = (LITE0_WEIGHTS, "imagenet", None)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHECKPOINT_FORMAT = 1


@functools.cache
def architectures() -> dict[str, type[nn.Module]]:
    """smp's segmentation architectures by class name (Unet, FPN, DeepLabV3Plus, ...)."""
    import segmentation_models_pytorch as smp

    return {cls.__name__: cls for cls in smp.MODEL_ARCHITECTURES_MAPPING.values()}


@functools.cache
def encoder_names() -> list[str]:
    """smp's own encoders; any timm model is also accepted as ``tu-<timm name>``."""
    import segmentation_models_pytorch as smp

    return sorted(smp.encoders.get_encoder_names())


def _unknown(kind: str, value: str, valid: list[str]) -> ConfigError:
    close = difflib.get_close_matches(value, valid, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown {kind} {value!r}.{hint} Valid: {', '.join(valid)}")


def resolve_architecture(arch: str) -> type[nn.Module]:
    archs = architectures()
    by_lower = {name.lower(): cls for name, cls in archs.items()}
    if arch.lower() not in by_lower:
        raise _unknown("arch", arch, list(archs))
    return by_lower[arch.lower()]


def check_encoder(encoder: str) -> None:
    if encoder.startswith("tu-"):
        import timm

        if not timm.is_model(encoder[3:].split(".")[0]):
            raise ConfigError(f"unknown timm encoder {encoder!r} (see timm.list_models())")
        return
    names = encoder_names()
    if encoder not in names:
        raise _unknown("encoder", encoder, [*names, "tu-<any timm model>"])


def check_encoder_weights(encoder: str, weights: str | None) -> None:
    if weights not in ENCODER_WEIGHTS:
        raise ConfigError(
            f"encoder_weights must be one of {list(ENCODER_WEIGHTS)}, got {weights!r}"
        )
    if weights == LITE0_WEIGHTS and encoder != LITE0_ENCODER:
        raise ConfigError(
            f"encoder_weights={LITE0_WEIGHTS!r} only fits encoder {LITE0_ENCODER!r}, "
            f"not {encoder!r}; use 'imagenet' (cached weights) or None"
        )


# ---------------------------------------------------------------- offline "imagenet" weights


def _cached_hub_file(repo_id: str, filenames: tuple[str, ...], revision: str | None = None) -> str:
    """Path of a file already in the Hugging Face cache; never touches the network."""
    from huggingface_hub import hf_hub_download

    for filename in filenames:
        try:
            return hf_hub_download(repo_id, filename, revision=revision, local_files_only=True)
        except FileNotFoundError:  # LocalEntryNotFoundError: not cached, try the next name
            continue
    raise ConfigError(
        f"encoder_weights='imagenet': {repo_id} is not in the local Hugging Face cache and "
        f"nothing may be downloaded here; use encoder_weights='{LITE0_WEIGHTS}' with "
        f"encoder='{LITE0_ENCODER}', or encoder_weights=None"
    )


def _smp_imagenet_settings(encoder: str) -> dict[str, Any]:
    import segmentation_models_pytorch as smp

    settings = smp.encoders.encoders[encoder]["pretrained_settings"]
    if "imagenet" not in settings:
        raise ConfigError(f"encoder {encoder!r} has no 'imagenet' weights; has {list(settings)}")
    return settings["imagenet"]


def _load_cached_imagenet(encoder_module: nn.Module, encoder: str) -> None:
    """Load smp's ImageNet weights for ``encoder`` from the local cache (smp would download)."""
    from safetensors.torch import load_file

    settings = _smp_imagenet_settings(encoder)
    path = _cached_hub_file(settings["repo_id"], ("model.safetensors",), settings["revision"])
    encoder_module.load_state_dict(load_file(path, device="cpu"))


def _timm_cached_weights_overlay(encoder: str) -> dict[str, Any]:
    """timm kwargs that make a ``tu-`` encoder load cached weights from a file, offline."""
    import timm

    cfg = timm.models.get_pretrained_cfg(encoder[3:])
    if cfg is None or not cfg.hf_hub_id:
        raise ConfigError(f"timm model {encoder[3:]!r} has no pretrained weights on the hub")
    path = _cached_hub_file(cfg.hf_hub_id, ("model.safetensors", "pytorch_model.bin"))
    return {"pretrained_cfg_overlay": {"file": path}}


def input_normalization(
    encoder: str, weights: str | None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) on [0,1] pixels matching how the encoder weights were trained."""
    if weights == LITE0_WEIGHTS or (weights is None and encoder == LITE0_ENCODER):
        return LITE0_MEAN, LITE0_STD
    if weights == "imagenet" and encoder.startswith("tu-"):
        import timm

        cfg = timm.models.get_pretrained_cfg(encoder[3:])
        return tuple(cfg.mean), tuple(cfg.std)
    if weights == "imagenet":
        settings = _smp_imagenet_settings(encoder)
        path = _cached_hub_file(settings["repo_id"], ("config.json",), settings["revision"])
        with open(path) as f:
            config = json.load(f)
        return tuple(config["mean"]), tuple(config["std"])
    return IMAGENET_MEAN, IMAGENET_STD  # random init: any sane centring works


# ---------------------------------------------------------------- tensors in and out


def to_input(
    images: np.ndarray, scale: torch.Tensor, shift: torch.Tensor, channels_last: bool
) -> torch.Tensor:
    """uint8 [B,H,W,3] -> normalised float32 [B,3,H,W] with a single copy.

    ``permute`` is a view; ``.float()`` keeps its strides, so the result is already in
    channels_last memory (NHWC). ``scale``/``shift`` are [1,3,1,1]: x*scale+shift = (x/255-m)/s.
    """
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x.mul_(scale).add_(shift)
    return x if channels_last else x.contiguous()


def pad_amount(size: int, multiple: int) -> int:
    return -size % multiple


def pad_images(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflect-pad bottom/right up to a multiple (replicate when the image is too small)."""
    ph, pw = pad_amount(x.shape[-2], multiple), pad_amount(x.shape[-1], multiple)
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < x.shape[-2] and pw < x.shape[-1] else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def pad_labels(y: torch.Tensor, multiple: int) -> torch.Tensor:
    ph, pw = pad_amount(y.shape[-2], multiple), pad_amount(y.shape[-1], multiple)
    if ph == 0 and pw == 0:
        return y
    return F.pad(y, (0, pw, 0, ph), value=IGNORE)  # padding carries no loss


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over labelled pixels; IGNORE pixels get exactly zero gradient."""
    return F.cross_entropy(logits, labels, ignore_index=IGNORE)


def check_images(images: np.ndarray) -> None:
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise DataError(f"images must be uint8 [N,H,W,3], got {images.dtype} {images.shape}")


def check_labels(images: np.ndarray, labels: np.ndarray) -> None:
    if labels.shape != images.shape[:3] or labels.dtype != np.uint8:
        raise DataError(
            f"labels must be uint8 {images.shape[:3]}, got {labels.dtype} {labels.shape}"
        )


def label_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Pixels per class id (256 bins); raises if a label is neither a class nor IGNORE."""
    counts = np.bincount(labels.ravel(), minlength=256)
    bad = np.flatnonzero(counts[num_classes:IGNORE])
    if bad.size:
        raise DataError(f"labels hold class ids {(bad + num_classes).tolist()} >= {num_classes}")
    return counts


def epoch_batches(indices: np.ndarray, batch_size: int, generator: torch.Generator) -> list:
    """Shuffled batches of near-equal size: with batch_size >= 3 there is no lone 1-image
    remainder batch (train-mode BatchNorm fails on a single 1x1 feature map) unless n == 1."""
    order = indices[torch.randperm(len(indices), generator=generator).numpy()]
    return np.array_split(order, math.ceil(len(order) / batch_size))


# ---------------------------------------------------------------- the segmenter


class SmpSegmenter:
    """An smp model (default: Unet on ImageNet-pretrained EfficientNet-Lite0) for the loop."""

    def __init__(
        self,
        num_classes: int,
        arch: str = "Unet",
        encoder: str = LITE0_ENCODER,
        encoder_weights: str | None = LITE0_WEIGHTS,
        epochs: int = 10,
        batch_size: int = 8,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        device: str = "cpu",
        warm_start: bool = False,
        augment: bool = True,
        threads: int | None = None,
        channels_last: bool = True,
        seed: int = 0,
        dropout: float = 0.0,
        min_steps: int = 0,
        windows: WindowSpec | dict | None = None,
        bf16: bool = False,
    ):
        self.arch_cls = resolve_architecture(arch)
        check_encoder(encoder)
        check_encoder_weights(encoder, encoder_weights)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"segmenter.dropout must be in [0, 1), got {dropout}")
        if num_classes < 1 or epochs < 0 or batch_size < 1 or lr <= 0 or weight_decay < 0:
            raise ConfigError(
                "segmenter: need num_classes >= 1, epochs >= 0, batch_size >= 1, lr > 0, "
                f"weight_decay >= 0; got {num_classes}, {epochs}, {batch_size}, {lr}, {weight_decay}"
            )
        self.num_classes = int(num_classes)
        self.arch = self.arch_cls.__name__
        self.encoder = encoder
        self.encoder_weights = encoder_weights
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.device = torch.device(device)
        self.warm_start = bool(warm_start)
        self.augment = bool(augment)
        self.threads = threads
        self.channels_last = bool(channels_last)
        self.dropout = float(dropout)  # on the segmentation head's input (MC dropout for BALD)
        # small labelled sets get at least this many optimiser steps: early rounds of a loop
        # would otherwise train for a handful of steps and draw a curve of noise
        self.min_steps = int(min_steps)
        # None: fit on whole images; else on windows around labelled pixels (models/windows.py)
        self.windows = make_window_spec(windows)
        self.bf16 = bool(bf16)  # bfloat16 autocast for the training forward pass
        self._mc_samples = 0  # > 0 while predict_proba_samples runs: dropout on, input repeated
        self._head_inputs: list[torch.Tensor] | None = None  # set while pixel_features runs
        if threads:
            torch.set_num_threads(int(threads))
        mean, std = input_normalization(encoder, encoder_weights)
        std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._scale = 1.0 / (255.0 * std_t)  # CPU: inputs are normalised before .to(device)
        self._shift = -mean_t / std_t
        self._init_seed = seed
        self._model: nn.Module | None = None  # built on first use: a cold fit rebuilds anyway
        # bumped whenever the weights change (a new model, a training epoch): whoever keeps
        # what the model computed (feature-space annotation's cached maps) knows it is stale
        self.weights_version = 0
        # False until an optimiser step or loaded weights: an untrained decoder's outputs say
        # nothing of the data (feature-space annotation reads the encoder's maps meanwhile)
        self.trained = False

    def config(self) -> dict[str, Any]:
        """Plain values that rebuild this segmenter with :func:`make_segmenter`."""
        return {
            "num_classes": self.num_classes,
            "arch": self.arch,
            "encoder": self.encoder,
            "encoder_weights": self.encoder_weights,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "device": str(self.device),
            "warm_start": self.warm_start,
            "augment": self.augment,
            "threads": self.threads,
            "channels_last": self.channels_last,
            "seed": self._init_seed,
            "dropout": self.dropout,
            "min_steps": self.min_steps,
            "windows": None if self.windows is None else self.windows.to_dict(),
            "bf16": self.bf16,
        }

    # -- building

    def _build_model(self, seed: int, pretrained: bool) -> nn.Module:
        """Deterministic: the decoder/head init is drawn from ``seed`` in a forked RNG."""
        timm_kwargs: dict[str, Any] = {}
        tu_pretrained = self.encoder.startswith("tu-") and self.encoder_weights == "imagenet"
        if tu_pretrained and pretrained:
            timm_kwargs = _timm_cached_weights_overlay(self.encoder)
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`timm-` encoders are deprecated")
            torch.manual_seed(seed)
            model = self.arch_cls(
                encoder_name=self.encoder,
                encoder_weights=True if tu_pretrained and pretrained else None,
                classes=self.num_classes,
                **timm_kwargs,
            )
            if self.encoder_weights == LITE0_WEIGHTS:
                # TF "SAME" padding is part of the architecture these weights need, so it is
                # applied also when the weights will come from a checkpoint (pretrained=False).
                if pretrained:
                    load_lite0_into_encoder(model.encoder)
                else:
                    make_tf_compatible(model.encoder)
            elif self.encoder_weights == "imagenet" and pretrained and not tu_pretrained:
                _load_cached_imagenet(model.encoder, self.encoder)
        model.segmentation_head.register_forward_pre_hook(self._head_input_hook)
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        return model.to(self.device, memory_format=memory_format)

    def _head_input_hook(
        self, head: nn.Module, inputs: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, ...]:
        """Before the segmentation head: tap its input (pixel_features), repeat it for MC
        samples, and apply dropout while training or sampling. Only the head is stochastic, so
        T samples cost one encoder/decoder pass plus T cheap head convolutions."""
        x = inputs[0]
        if self._head_inputs is not None:
            self._head_inputs.append(x)
        if self._mc_samples:
            x = x.repeat(self._mc_samples, 1, 1, 1)  # [T*B, D, H, W], sample-major
        if self.dropout and (head.training or self._mc_samples):
            x = F.dropout(x, self.dropout, training=True)
        return (x, *inputs[1:])

    @property
    def model(self) -> nn.Module:
        if self._model is None:
            self._model = self._build_model(self._init_seed, pretrained=True)
        return self._model

    @model.setter
    def model(self, model: nn.Module) -> None:
        self._model = model
        self.weights_version += 1

    @property
    def _multiple(self) -> int:
        return int(getattr(self.model.encoder, "output_stride", 32))

    def reset(self, seed: int) -> None:
        self.model = self._build_model(seed, pretrained=True)
        self.trained = False

    # -- training

    def fit(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        seed: int,
        progress: Progress | None = None,
    ) -> dict[str, float]:
        """Train on the labelled pixels; images without any labelled pixel are skipped. At
        least ``epochs`` epochs and ``min_steps`` optimiser steps (window steps, with windows)."""
        check_images(images)
        check_labels(images, labels)
        counts = label_counts(labels, self.num_classes)
        self.start_fit(seed)
        labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
        if labelled.size == 0 or self.epochs == 0:
            return {"loss": float("nan"), "steps": 0, "labelled_pixels": 0, "images": 0}
        session = TrainingSession(self, images, labels, labelled, seed, progress)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # dropout / drop-path draws
            loss = session.run(lambda: session.epochs < session.epochs_needed())
        return {
            "loss": loss,
            "steps": session.steps,
            "labelled_pixels": int(counts[: self.num_classes].sum()),
            "images": int(labelled.size),
        }

    def start_fit(self, seed: int) -> None:
        """Before a fit: a cold start, unless warm-starting from weights already trained (a
        warm run's first fit is a cold one)."""
        if not self.warm_start or self._model is None:
            self.reset(seed)

    def _epochs_for(self, steps_per_epoch: int) -> int:
        """``epochs``, raised so that the fit makes at least ``min_steps`` optimiser steps."""
        return max(self.epochs, math.ceil(self.min_steps / max(steps_per_epoch, 1)))

    def _training_batch(
        self, images: np.ndarray, labels: np.ndarray, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised, flipped, padded tensors of uint8 images and their labels."""
        x = to_input(images, self._scale, self._shift, self.channels_last)
        y = torch.from_numpy(labels).long()
        if self.augment:  # horizontal flips only: vertical ones break street/scene layouts
            flip = torch.rand(len(images), generator=generator) < 0.5
            if flip.any():
                x[flip] = x[flip].flip(-1)
                y[flip] = y[flip].flip(-1)
        x = pad_images(x.to(self.device), self._multiple)
        y = pad_labels(y.to(self.device), self._multiple)
        return x, y

    # -- inference

    def _input_batches(
        self, images: np.ndarray, batch_size: int | None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """(start index, padded network input) per batch. Callers set eval + inference mode."""
        check_images(images)
        step = batch_size or self.batch_size
        for start in range(0, len(images), step):
            x = to_input(images[start : start + step], self._scale, self._shift, self.channels_last)
            yield start, pad_images(x.to(self.device), self._multiple)

    def _logit_batches(
        self, images: np.ndarray, batch_size: int | None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """(start index, logits [B,C,H,W] cropped back to the image size)."""
        h, w = images.shape[1:3]
        self.model.eval()
        for start, x in self._input_batches(images, batch_size):
            yield start, self.model(x)[:, :, :h, :w]

    @torch.inference_mode()
    def predict_proba(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """float32 [N,C,H,W] softmax probabilities."""
        check_images(images)
        n, h, w = images.shape[:3]
        out = np.empty((n, self.num_classes, h, w), dtype=np.float32)
        out_t = torch.from_numpy(out)
        for start, logits in self._logit_batches(images, batch_size):
            out_t[start : start + len(logits)].copy_(logits.softmax(dim=1))
        return out

    @torch.inference_mode()
    def predict_proba_samples(
        self, images: np.ndarray, samples: int, seed: int, batch_size: int | None = None
    ) -> np.ndarray:
        """float32 [T,N,C,H,W]: ``samples`` softmax outputs with dropout kept on (MC dropout,
        Gal & Ghahramani 2016). Deterministic for a seed; needs ``dropout`` > 0."""
        check_images(images)
        if self.dropout <= 0:
            raise ConfigError(
                "segmenter.dropout is 0: MC-dropout samples would all be equal; set "
                "segmenter.dropout > 0 (e.g. 0.2) for BALD"
            )
        if samples < 1:
            raise ConfigError(f"MC-dropout samples must be >= 1, got {samples}")
        n, h, w = images.shape[:3]
        out = np.empty((samples, n, self.num_classes, h, w), dtype=np.float32)
        out_t = torch.from_numpy(out)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self._mc_samples = samples
            try:
                for start, logits in self._logit_batches(images, batch_size):
                    b = len(logits) // samples
                    probs = logits.softmax(dim=1).reshape(samples, b, self.num_classes, h, w)
                    out_t[:, start : start + b].copy_(probs)
            finally:
                self._mc_samples = 0
        return out

    @torch.inference_mode()
    def pixel_features(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """float32 [N,D,H,W]: the segmentation head's input (the penultimate layer, per pixel)."""
        h, w = images.shape[1:3]
        chunks = []
        self.model.eval()
        self._head_inputs = []
        try:
            for _, x in self._input_batches(images, batch_size):
                self.model(x)
                features = self._head_inputs.pop()
                if features.shape[-2:] != x.shape[-2:]:  # heads that upsample (FPN, DeepLab)
                    features = F.interpolate(features, size=x.shape[-2:], mode="bilinear")
                chunks.append(features[:, :, :h, :w].float().cpu())
        finally:
            self._head_inputs = None
        return torch.cat(chunks).numpy() if chunks else np.empty((0, 0, h, w), np.float32)

    @torch.inference_mode()
    def feature_maps(
        self, images: np.ndarray, levels: tuple[int, ...] = (2, 3, 4, 5)
    ) -> list[np.ndarray]:
        """float32 [N,D_l,ceil(H/2**l),ceil(W/2**l)] encoder maps of whole images, one per level
        (2: stride 4 ... 5: stride 32), the padding cropped off: the contract of
        ``Lite0Encoder.feature_maps``, so a trained segmenter can stand in for the ImageNet
        encoder of feature-space annotation (``al_loop.feature_space.features.map_features``)."""
        h, w = images.shape[1:3]
        out: list[list[torch.Tensor]] = [[] for _ in levels]
        self.model.eval()
        for _, x in self._input_batches(images, 1):
            maps = self.model.encoder(x)
            for k, level in enumerate(levels):
                size = (-(-h // 2**level), -(-w // 2**level))
                out[k].append(maps[level][:, :, : size[0], : size[1]].float().cpu())
        return [torch.cat(m).numpy() for m in out]

    @torch.inference_mode()
    def predict(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """uint8 [N,H,W] arg-max class map (without materialising all probabilities)."""
        check_images(images)
        out = np.empty(images.shape[:3], dtype=np.uint8)
        out_t = torch.from_numpy(out)
        for start, logits in self._logit_batches(images, batch_size):
            out_t[start : start + len(logits)].copy_(logits.argmax(dim=1))
        return out

    @torch.inference_mode()
    def features(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """float32 [N,D]: global average of the deepest encoder feature map."""
        self.model.eval()
        chunks = [
            self.model.encoder(x)[-1].mean(dim=(2, 3)).float().cpu()
            for _, x in self._input_batches(images, batch_size)
        ]
        dim = self.model.encoder.out_channels[-1]
        return torch.cat(chunks).numpy() if chunks else np.empty((0, dim), np.float32)

    @torch.inference_mode()
    def evaluate(self, data: SegmentationData, batch_size: int | None = None) -> dict[str, Any]:
        """mIoU, per-class IoU / Dice (NaN = class absent), pixel accuracy; IGNORE not scored."""
        if data.masks is None:
            raise DataError(f"{data.source}: cannot evaluate without masks")
        if data.num_classes != self.num_classes:
            raise DataError(
                f"{data.source}: {data.num_classes} classes but the segmenter has {self.num_classes}"
            )
        cm = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        for start, logits in self._logit_batches(data.images, batch_size):
            pred = logits.argmax(dim=1).cpu().numpy()
            cm += confusion_matrix(pred, data.masks[start : start + len(pred)], self.num_classes)
        return scores_from_confusion(cm)

    # -- persistence

    def save(self, path: str) -> None:
        torch.save(
            {
                "format": CHECKPOINT_FORMAT,
                "config": self.config(),
                "state_dict": self.model.state_dict(),
            },
            path,
        )

    def load(self, path: str) -> None:
        """Load weights saved by :meth:`save` from a segmenter of the same architecture."""
        blob = torch.load(path, weights_only=True, map_location=self.device)
        saved = blob.get("config", {})
        for key in ("arch", "encoder", "num_classes", "encoder_weights"):
            if saved.get(key) != getattr(self, key):
                raise ConfigError(
                    f"{path}: checkpoint has {key}={saved.get(key)!r}, this segmenter has "
                    f"{getattr(self, key)!r}"
                )
        self.load_weights(blob["state_dict"])

    def load_weights(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Set the weights to ``state_dict`` (a saved segmenter's, a fit's best epoch, a
        reference checkpoint's) in place, so that an optimiser over the parameters stays valid,
        and move ``weights_version`` (caches of features of the old weights are stale)."""
        if self._model is None:  # not built yet: no pretrained weights to load and overwrite
            self.model = self._build_model(seed=0, pretrained=False)
        self._model.load_state_dict(state_dict)
        self.weights_version += 1
        self.trained = True


class TrainingSession:
    """One fit's optimiser and random streams, run an epoch at a time so that a caller can
    evaluate between epochs (``fit_until_plateau``). The caller forks and seeds torch's global
    RNG around it (dropout draws); batches, flips and windows come from the session's own
    seeded generators, so a session replays exactly for a seed.

    Whole-image mode: an epoch is every labelled image once, in batches of ``batch_size``.
    Window mode: an epoch is a random cover of the labelled pixels by windows, shuffled, in
    batches of ``batch_size`` windows, plus batches of the images that are cheaper whole
    (``al_loop.models.windows.plan_epoch``); the batches come in random order."""

    def __init__(
        self,
        segmenter: SmpSegmenter,
        images: np.ndarray,
        labels: np.ndarray,
        labelled: np.ndarray,
        seed: int,
        progress: Progress | None = None,
    ):
        self.seg = segmenter
        self.images, self.labels, self.labelled = images, labels, labelled
        self.progress = progress
        self.generator = torch.Generator().manual_seed(seed)  # order and flips
        self.rng = np.random.default_rng(seed)  # window placement
        self.optimizer = torch.optim.AdamW(
            segmenter.model.parameters(), lr=segmenter.lr, weight_decay=segmenter.weight_decay
        )
        self.epochs, self.steps, self.loss = 0, 0, float("nan")
        self._next = self._draw_epoch()
        # window covers vary a little from epoch to epoch: the first one sets the step count
        self.steps_per_epoch = len(self._next)

    def epochs_needed(self) -> int:
        return self.seg._epochs_for(self.steps_per_epoch)

    def discard_drawn_epoch(self) -> None:
        """Forget the epoch drawn ahead at construction: a session restored from a checkpoint
        draws its next epoch from the restored generators."""
        self._next = None

    def _draw_epoch(self) -> list[np.ndarray]:
        """The epoch's batches: int64 [B] image indices or [B,3] (image, top, left) windows,
        cut out only when trained on (``_pixels``)."""
        seg, b = self.seg, self.seg.batch_size
        if seg.windows is None:
            return epoch_batches(self.labelled, b, self.generator)
        windows, whole = plan_epoch(self.labels[self.labelled], seg.windows, self.rng)
        windows = windows[torch.randperm(len(windows), generator=self.generator).numpy()]
        windows[:, 0] = self.labelled[windows[:, 0]]
        whole = self.labelled[whole[torch.randperm(len(whole), generator=self.generator).numpy()]]
        batches = [
            group
            for items in (windows, whole)
            for group in np.array_split(items, max(1, math.ceil(len(items) / b)))
            if len(group)
        ]
        order = torch.randperm(len(batches), generator=self.generator).tolist()
        return [batches[i] for i in order]

    def _pixels(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 (images, labels) of a batch of image indices or of windows."""
        if batch.ndim == 1:
            return self.images[batch], self.labels[batch]
        shape = self.seg.windows.shape(self.images.shape[1:3])
        return crop_windows(self.images, self.labels, batch, shape)

    def epoch(self) -> float:
        """Train one epoch; its mean step loss."""
        seg = self.seg
        batches = self._next if self._next is not None else self._draw_epoch()
        self._next = None
        seg.model.train()
        total = self.epochs_needed() * self.steps_per_epoch
        epoch_loss = 0.0
        for batch in batches:
            x, y = seg._training_batch(*self._pixels(batch), self.generator)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(seg.device.type, dtype=torch.bfloat16, enabled=seg.bf16):
                logits = seg.model(x)
            loss = masked_cross_entropy(logits.float(), y)
            loss.backward()
            self.optimizer.step()
            epoch_loss += loss.item()
            self.steps += 1
            if self.progress is not None:
                self.progress(self.steps, max(total, self.steps))
        self.epochs += 1
        seg.weights_version += 1
        seg.trained = True
        self.loss = epoch_loss / len(batches)
        return self.loss

    def run(self, more: Callable[[], bool]) -> float:
        """Epochs while ``more()``; the last epoch's mean step loss."""
        while more():
            self.epoch()
        return self.loss


def scores_from_confusion(cm: np.ndarray) -> dict[str, Any]:
    return {
        "miou": mean_iou(cm),
        "per_class_iou": iou_per_class(cm).tolist(),
        "dice": dice_per_class(cm).tolist(),
        "mean_dice": mean_dice(cm),
        "pixel_accuracy": pixel_accuracy(cm),
        "confusion_matrix": cm.tolist(),
    }


SEGMENTER_KEYS = frozenset(inspect.signature(SmpSegmenter).parameters)


def make_segmenter(**config: Any) -> SmpSegmenter:
    """Build an :class:`SmpSegmenter` from plain config values (unknown keys are an error)."""
    unknown = sorted(set(config) - SEGMENTER_KEYS)
    if unknown:
        raise ConfigError(f"segmenter: unknown keys {unknown}; valid: {sorted(SEGMENTER_KEYS)}")
    if "num_classes" not in config:
        raise ConfigError("segmenter: num_classes is required")
    return SmpSegmenter(**config)
