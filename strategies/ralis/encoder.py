"""Frozen Lite0 features for the policy-training episodes, computed once per image and cached.

The episodes train a small head on these features instead of fine-tuning the loop's segmenter,
so an action costs a few milliseconds of head training rather than epochs of a U-Net. The
encoder is the loop's pretrained EfficientNet-Lite0 (``al_loop/models/pretrained.py``), frozen;
its stages at strides 4, 8, 16 and 32 are upsampled to stride 4 and concatenated (a hypercolumn)
and kept as float16 in ``cache_dir`` under a key of the image bytes (never committed: runs/).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from al_loop.models.pretrained import LITE0_ENCODER, LITE0_MEAN, LITE0_STD
from strategies.ralis.features import STRIDE

STAGES = (2, 3, 4, 5)  # smp encoder outputs at strides 4, 8, 16, 32
MULTIPLE = 32
CACHE_VERSION = 1
BATCH = 8


def feature_hw(hw: tuple[int, int]) -> tuple[int, int]:
    return -(-hw[0] // STRIDE), -(-hw[1] // STRIDE)


def lite0_encoder() -> torch.nn.Module:
    from segmentation_models_pytorch.encoders import get_encoder

    from al_loop.models.pretrained import load_lite0_into_encoder

    with warnings.catch_warnings():  # smp deprecates "timm-" names in favour of "tu-"
        warnings.filterwarnings("ignore", message="`timm-` encoders are deprecated")
        encoder = get_encoder(LITE0_ENCODER, weights=None)
    return load_lite0_into_encoder(encoder).eval()


@torch.no_grad()
def encode(images: np.ndarray, encoder: torch.nn.Module) -> np.ndarray:
    """uint8 [N,H,W,3] -> float16 [N, D, ceil(H/4), ceil(W/4)] hypercolumns."""
    n, h, w, _ = images.shape
    fh, fw = feature_hw((h, w))
    mean = torch.tensor(LITE0_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(LITE0_STD).view(1, 3, 1, 1)
    out = []
    for start in range(0, n, BATCH):
        x = torch.from_numpy(images[start : start + BATCH]).permute(0, 3, 1, 2).float() / 255.0
        x = (x - mean) / std
        ph, pw = -h % MULTIPLE, -w % MULTIPLE
        x = F.pad(x, (0, pw, 0, ph), mode="reflect" if ph < h and pw < w else "replicate")
        stages = encoder(x)
        size = ((h + ph) // STRIDE, (w + pw) // STRIDE)
        maps = [
            F.interpolate(stages[k], size=size, mode="bilinear", align_corners=False)
            for k in STAGES
        ]
        out.append(torch.cat(maps, 1)[:, :, :fh, :fw].half().numpy())
    return np.concatenate(out)


def cache_key(images: np.ndarray) -> str:
    digest = hashlib.sha1(np.ascontiguousarray(images).tobytes())
    digest.update(f"{images.shape}|{STRIDE}|{STAGES}|{CACHE_VERSION}".encode())
    return digest.hexdigest()[:20]


def cached_features(images: np.ndarray, cache_dir: str | Path, log=lambda m: None) -> np.ndarray:
    """``encode(images)``, read from ``cache_dir`` when these exact images were encoded before."""
    path = Path(cache_dir) / f"lite0_{cache_key(images)}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    log(f"encoding {len(images)} images with the frozen Lite0 encoder -> {path}")
    features = encode(images, lite0_encoder())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp.npy")
    np.save(partial, features, allow_pickle=False)
    partial.replace(path)
    return features


def fit_projection(
    features: np.ndarray, dims: int, samples: int = 20000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(mean [D], matrix [D, dims]): PCA of the pixels of ``features`` [N,D,h,w], whitened so
    the head trains on unit-variance inputs. Fitted on a seeded sample of pixels."""
    pixels = features.transpose(0, 2, 3, 1).reshape(-1, features.shape[1])
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(pixels), size=min(samples, len(pixels)), replace=False)
    x = pixels[np.sort(rows)].astype(np.float64)
    mean = x.mean(0)
    values, vectors = np.linalg.eigh(np.cov(x - mean, rowvar=False))
    top = np.argsort(values)[::-1][: min(dims, x.shape[1])]
    vectors = vectors[:, top] * np.sign(vectors[np.abs(vectors[:, top]).argmax(0), top])
    matrix = vectors / np.sqrt(np.maximum(values[top], 1e-8))
    return mean.astype(np.float32), matrix.astype(np.float32)


def project(features: np.ndarray, mean: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """[N,D,h,w] -> float32 [N, h*w, dims] per-pixel projected features."""
    n, d, h, w = features.shape
    pixels = features.transpose(0, 2, 3, 1).reshape(n, h * w, d).astype(np.float32)
    return (pixels - mean) @ matrix
