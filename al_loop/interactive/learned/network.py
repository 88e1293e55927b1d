"""The guided segmentation network shared by the learned methods, and its weights files.

An smp Unet on the EfficientNet-Lite0 encoder (ImageNet weights mapped by al_loop/models/pretrained.py)
takes the RGB image as a pretrained encoder expects it; the three guidance maps (positive,
negative, previous mask) enter through RITM's Conv1S: a small conv block whose output is added
to the output of the encoder's first stage (stem conv + BN + activation, stride 2). Why Conv1S
rather than extra input channels: the pretrained stem keeps exactly the input it was trained on
(no new, randomly scaled input weights disturbing ImageNet features at step 0), the block starts
near zero (scale 0.05) so training begins from the pretrained network, and RITM (Sofiiuk et al.
2022, Table 4) found it as good or better than extra input channels at the same cost.

Weights are a state_dict (``NAME.pt``, read with ``torch.load(weights_only=True)``) next to a
small JSON file (``NAME.json``) holding what rebuilds the network and how it was trained.
Shipped weights (``models/interactive/``, written by ``train-interactive --ship``) store the
state_dict as float16, half the size (the ImageNet weights' precision is not what limits these
models); every file is read back as float32, so inference and fine-tuning run as before.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from al_loop.core.errors import ConfigError
from al_loop.interactive.learned.encodings import DEFAULT_ENCODINGS
from al_loop.models.pretrained import LITE0_ENCODER, LITE0_MEAN, LITE0_STD, load_lite0_into_encoder

GUIDANCE_CHANNELS = 3  # positive, negative, previous mask
WEIGHTS_FORMAT = 1
DEFAULT_DECODER_CHANNELS = (128, 64, 32, 16, 16)  # half smp's default: CPU latency


class Conv1S(nn.Module):
    """Guidance maps -> features added to the encoder's stride-2 stem output (RITM's Conv1S):
    1x1 conv, LeakyReLU, 3x3 stride-2 conv, and a learnt scale starting at 0.05."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 16):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=1),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Conv2d(hidden, out_channels, kernel_size=3, stride=2, padding=1),
        )
        self.scale = nn.Parameter(torch.tensor(0.05))

    def forward(self, guidance: torch.Tensor) -> torch.Tensor:
        return self.block(guidance) * self.scale


class DeepGuidance(nn.Module):
    """Guidance maps, averaged down to the encoder's last stage (stride 32), -> features added
    to that stage's output. Why: Conv1S's features reach the decoder mostly through the stride-2
    skip, where a decoder sees only a few pixels around each click (measured: a positive click
    changed the prediction only within its disk); at stride 32 one conv sees the whole object.
    3x3 conv, LeakyReLU, 1x1 conv, and a learnt scale starting at 0.05."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 32):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1),
            nn.LeakyReLU(negative_slope=0.2),
            nn.Conv2d(hidden, out_channels, kernel_size=1),
        )
        self.scale = nn.Parameter(torch.tensor(0.05))

    def forward(self, guidance: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.block(nn.functional.adaptive_avg_pool2d(guidance, size)) * self.scale


class GuidedUnet(nn.Module):
    """``forward(image [B,3,H,W] normalised, guidance [B,3,H,W] in [0,1]) -> logits [B,1,H,W]``;
    H and W multiples of 32. ``deep_guidance`` also adds the guidance to the last stage."""

    def __init__(
        self,
        decoder_channels: tuple[int, ...],
        pretrained: bool,
        seed: int = 0,
        deep_guidance: bool = False,
    ):
        super().__init__()
        import segmentation_models_pytorch as smp

        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`timm-` encoders are deprecated")
            torch.manual_seed(seed)  # decoder and Conv1S init: deterministic for a seed
            self.unet = smp.Unet(
                encoder_name=LITE0_ENCODER,
                encoder_weights=None,
                decoder_channels=tuple(decoder_channels),
                classes=1,
            )
            self.guidance = Conv1S(GUIDANCE_CHANNELS, self.unet.encoder.out_channels[1])
            self.deep_guidance = (
                DeepGuidance(GUIDANCE_CHANNELS, self.unet.encoder.out_channels[-1])
                if deep_guidance
                else None
            )
        if pretrained:
            load_lite0_into_encoder(self.unet.encoder)
        else:  # TF "SAME" padding is part of the architecture the weights were trained with
            from al_loop.models.pretrained import make_tf_compatible

            make_tf_compatible(self.unet.encoder)
        self.register_buffer("mean", torch.tensor(LITE0_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(LITE0_STD).view(1, 3, 1, 1), persistent=False)

    def normalise(self, image_uint8: torch.Tensor) -> torch.Tensor:
        """uint8-valued [B,3,H,W] -> the encoder's input scale ([-1, 1] for Lite0)."""
        return (image_uint8 / 255.0 - self.mean) / self.std

    def forward(self, image: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        image = image.contiguous(memory_format=torch.channels_last)  # faster convs on CPU
        added = self.guidance(guidance.contiguous(memory_format=torch.channels_last))
        stem = self.unet.encoder.bn1  # the first stage ends with the stem's BN + activation
        handles = [stem.register_forward_hook(lambda _module, _inputs, out: out + added)]
        if self.deep_guidance is not None:

            def add_deep(_module, _inputs, features: list[torch.Tensor]) -> list[torch.Tensor]:
                last = features[-1]
                return [*features[:-1], last + self.deep_guidance(guidance, last.shape[-2:])]

            handles.append(self.unet.encoder.register_forward_hook(add_deep))
        try:
            return self.unet(image)
        finally:
            for handle in handles:
                handle.remove()


def build_network(
    decoder_channels: tuple[int, ...] = DEFAULT_DECODER_CHANNELS,
    pretrained: bool = True,
    seed: int = 0,
    deep_guidance: bool = False,
) -> GuidedUnet:
    network = GuidedUnet(tuple(decoder_channels), pretrained, seed, deep_guidance)
    return network.to(memory_format=torch.channels_last)  # about 1.5x faster on CPU


def fuse_batchnorm(network: nn.Module) -> nn.Module:
    """Fold every batch norm into the convolution just before it, in place (inference only:
    eval-mode statistics become the conv's weight and bias). Every BN of this network follows
    its conv as the next child of the same parent (timm blocks, smp's Conv2dReLU); a timm
    BatchNormAct2d keeps its dropout and activation. Saves about a fifth of a forward on CPU
    and gives the same outputs up to float rounding."""
    from torch.nn.utils.fusion import fuse_conv_bn_weights

    for parent in list(network.modules()):
        children = list(parent.named_children())
        for (_, conv), (name, bn) in zip(children, children[1:], strict=False):
            if not (
                isinstance(conv, nn.Conv2d)
                and isinstance(bn, nn.BatchNorm2d)
                and bn.num_features == conv.out_channels
                and bn.track_running_stats
            ):
                continue
            weight, bias = fuse_conv_bn_weights(
                conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                bn.weight, bn.bias,
            )  # fmt: skip
            conv.weight, conv.bias = weight, bias
            # timm's BatchNormAct2d: BN, then dropout and activation (kept)
            rest = [
                getattr(bn, k)
                for k in ("drop", "act")
                if isinstance(getattr(bn, k, None), nn.Module)
            ]
            setattr(parent, name, nn.Sequential(*rest) if rest else nn.Identity())
    return network


def metadata_path(weights: str | Path) -> Path:
    return Path(weights).with_suffix(".json")


def save_weights(
    network: nn.Module | dict[str, torch.Tensor],
    path: str | Path,
    metadata: dict[str, Any],
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``path`` (state_dict, floating tensors cast to ``dtype`` if given) and its JSON
    metadata; files are replaced atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".pt.tmp")
    state = network.state_dict() if isinstance(network, nn.Module) else network
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    torch.save({k: v.detach().cpu().contiguous() for k, v in state.items()}, tmp)
    meta_tmp = path.with_suffix(".json.tmp")
    meta_tmp.write_text(json.dumps({"format": WEIGHTS_FORMAT, **metadata}, indent=2))
    tmp.replace(path)
    meta_tmp.replace(metadata_path(path))
    return path


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON next to weights ``path``; ConfigError naming the file when missing or bad."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: interactive model weights not found; train them with "
            "`al-loop train-interactive CONFIG` or pass weights=PATH"
        )
    meta_file = metadata_path(path)
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{meta_file}: missing or unreadable weights metadata ({err})") from err
    if meta.get("format") != WEIGHTS_FORMAT:
        raise ConfigError(f"{meta_file}: format {meta.get('format')!r}, expected {WEIGHTS_FORMAT}")
    # keys that weights written before they existed do not hold: what those were trained with
    if meta.get("interaction") in DEFAULT_ENCODINGS:
        meta.setdefault("encoding", DEFAULT_ENCODINGS[meta["interaction"]])
    meta.setdefault("deep_guidance", False)
    return meta


def export_weights(
    source: str | Path, target: str | Path, extra: dict[str, Any] | None = None
) -> Path:
    """Weights ``source`` written to ``target`` as float16 (the shipped format) with the same
    metadata, plus ``extra`` keys; ``target`` may be ``source`` itself."""
    meta = read_metadata(source)
    try:
        state = torch.load(source, weights_only=True, map_location="cpu")
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:
        raise ConfigError(f"{source}: unreadable weights ({err})") from None
    meta.pop("format", None)
    return save_weights(state, target, {**meta, **(extra or {})}, dtype=torch.float16)


def load_weights(path: str | Path, device: str = "cpu") -> tuple[GuidedUnet, dict[str, Any]]:
    """(network in eval mode, metadata) from weights written by :func:`save_weights`."""
    meta = read_metadata(path)
    network = build_network(
        tuple(meta["decoder_channels"]),
        pretrained=False,
        deep_guidance=bool(meta["deep_guidance"]),
    )
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        # shipped files are float16: computed in float32 like trained ones
        state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
        network.load_state_dict(state)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"{path}: not weights of this network ({reason})") from None
    return network.to(device).eval(), meta
