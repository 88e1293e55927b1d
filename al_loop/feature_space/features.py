"""Segment features: each segment cropped with a margin, its outside zeroed, resized, encoded.

An encoder is any callable ``uint8 [B,h,w,3] -> float32 [B,D]``: the pretrained Lite0 encoder
(default, :func:`lite0_encoder`) or a trained downstream segmenter's ``features`` method (the
``Segmenter`` protocol has exactly this shape), so the feature space can follow the model.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from al_loop.feature_space.segments import segment_boxes

Encoder = Callable[[np.ndarray], np.ndarray]

CROP_SIZE = 64  # pixels; Lite0 downsamples 32x, so a 2x2 deepest map is pooled
CROP_MARGIN = 0.15  # context around the segment's box, as a fraction of its longer side
ENCODE_BATCH = 64


def square_window(box: np.ndarray, margin: float) -> tuple[int, int, int]:
    """(top, left, side) of the square centred on ``box`` (y0, x0, y1, x1), grown by
    ``margin`` times its longer side on each side; it may extend past the image."""
    y0, x0, y1, x1 = (int(v) for v in box)
    side = max(y1 - y0, x1 - x0)
    side = max(1, int(round(side * (1 + 2 * margin))))
    top = (y0 + y1 - side) // 2
    left = (x0 + x1 - side) // 2
    return top, left, side


def segment_crop(
    image: np.ndarray,
    inside: np.ndarray,
    box: np.ndarray,
    size: int = CROP_SIZE,
    margin: float = CROP_MARGIN,
) -> np.ndarray:
    """uint8 [size,size,3]: the square window around ``box``; pixels where ``inside`` (bool
    [H,W], the segment) is False and pixels past the image border are zero."""
    top, left, side = square_window(box, margin)
    h, w = image.shape[:2]
    window = np.zeros((side, side, 3), np.uint8)
    sy0, sx0 = max(top, 0), max(left, 0)
    sy1, sx1 = min(top + side, h), min(left + side, w)
    patch = image[sy0:sy1, sx0:sx1] * inside[sy0:sy1, sx0:sx1, None]
    window[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = patch
    shrinking = side > size
    return cv2.resize(
        window, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    )


def iter_segment_crops(
    images: np.ndarray,
    segments: np.ndarray,
    segment_image: np.ndarray,
    ids: np.ndarray | None = None,
    size: int = CROP_SIZE,
    margin: float = CROP_MARGIN,
    batch: int = ENCODE_BATCH,
) -> Iterator[np.ndarray]:
    """Crops uint8 [b,size,size,3] of segments ``ids`` (default: all), in order, in batches."""
    boxes = segment_boxes(segments)
    ids = np.arange(len(segment_image)) if ids is None else np.asarray(ids, np.int64)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        crops = np.empty((len(chunk), size, size, 3), np.uint8)
        for k, s in enumerate(chunk):
            i = int(segment_image[s])
            crops[k] = segment_crop(images[i], segments[i] == s, boxes[s], size, margin)
        yield crops


def segment_features(
    images: np.ndarray,
    segments: np.ndarray,
    segment_image: np.ndarray,
    encoder: Encoder,
    ids: np.ndarray | None = None,
    size: int = CROP_SIZE,
    margin: float = CROP_MARGIN,
    batch: int = ENCODE_BATCH,
) -> np.ndarray:
    """float32 [len(ids),D]: the encoder's pooled features of each segment's crop."""
    chunks = [
        np.asarray(encoder(crops), np.float32)
        for crops in iter_segment_crops(images, segments, segment_image, ids, size, margin, batch)
    ]
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(chunks)


class Lite0Encoder:
    """EfficientNet-Lite0 with the shipped ImageNet weights (al_loop.models.pretrained), deepest map
    globally averaged: ``uint8 [B,h,w,3] -> float32 [B,320]``. Frozen, eval mode."""

    def __init__(self, threads: int | None = None):
        import torch
        from segmentation_models_pytorch.encoders import get_encoder

        from al_loop.models.pretrained import (
            LITE0_ENCODER,
            LITE0_MEAN,
            LITE0_STD,
            load_lite0_into_encoder,
        )

        if threads:
            torch.set_num_threads(threads)
        with warnings.catch_warnings():  # smp deprecates "timm-" names in favour of "tu-"
            warnings.filterwarnings("ignore", message="`timm-` encoders are deprecated")
            template = get_encoder(LITE0_ENCODER, weights=None)
        self.encoder = load_lite0_into_encoder(template).eval()
        self.mean = torch.tensor(LITE0_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(LITE0_STD).view(1, 3, 1, 1)
        self.dim = int(self.encoder.out_channels[-1])

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        import torch

        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255
            deepest = self.encoder((x - self.mean) / self.std)[-1]
            return deepest.mean(dim=(2, 3)).numpy().astype(np.float32)

    def feature_maps(self, images: np.ndarray, levels: tuple[int, ...] = (2, 3, 4, 5)) -> list:
        """float32 [N,D_l,H/2**l,W/2**l] maps of whole images (uint8 [N,H,W,3]), one per
        level of ``levels`` (2: stride 4 ... 5: stride 32, the deepest), one image at a time."""
        import torch

        out: list[list[np.ndarray]] = [[] for _ in levels]
        with torch.inference_mode():
            for image in images:
                x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None] / 255
                maps = self.encoder((x.float() - self.mean) / self.std)
                for k, level in enumerate(levels):
                    out[k].append(maps[level][0].numpy())
        return [np.stack(m).astype(np.float32) for m in out]


class ProbabilityMaps:
    """A segmenter's class probabilities as one feature map (``feature_maps``' contract, at
    full resolution: 1.9 MB per CamVid frame at 180x240): averaged over a segment they say
    what the segmenter predicts there, so the segments it gets right gather by class in the
    projection (CamVid, paper protocol: 13.4 boxes a frame against 19.6 with Lite0 maps;
    README). Its ``weights_version`` is the segmenter's, so kept maps go stale when it
    trains. Until the segmenter has trained (its ``trained`` is False: a loop's round 0 labels
    before the first fit), its randomly initialised decoder's probabilities are noise, so the
    segmenter's own encoder maps stand in (``features: segmenter_maps``' source)."""

    def __init__(self, segmenter):
        self.segmenter = segmenter

    @property
    def weights_version(self):
        return getattr(self.segmenter, "weights_version", None)

    def feature_maps(self, images: np.ndarray) -> list[np.ndarray]:
        if not getattr(self.segmenter, "trained", True):
            return self.segmenter.feature_maps(images)
        return [np.asarray(self.segmenter.predict_proba(images), np.float32)]


@functools.cache
def lite0_encoder() -> Lite0Encoder:
    """The default encoder, built once per process (loading the weights takes a second)."""
    return Lite0Encoder()


def segment_statistics(images: np.ndarray, segments: np.ndarray, num_segments: int) -> np.ndarray:
    """float32 [S,11]: each segment's colour and place, no network: mean and standard deviation
    of its CIELAB colour (0-1 scaled), its centroid (y, x) and box size (h, w) as fractions of
    the image, and the square root of its area fraction. ``segments`` [N,H,W] holds ids
    0..num_segments-1 unique across ``images`` [N,H,W,3] (uint8 RGB)."""
    images, segments = np.asarray(images), np.asarray(segments)
    n, h, w = segments.shape
    lab = np.stack([cv2.cvtColor(image, cv2.COLOR_RGB2LAB) for image in images]) / 255.0
    ids = segments.ravel().astype(np.int64)
    area = np.bincount(ids, minlength=num_segments).astype(np.float64)
    safe = np.maximum(area, 1)
    columns = []
    for c in range(3):
        values = lab[..., c].ravel()
        mean = np.bincount(ids, values, num_segments) / safe
        square = np.bincount(ids, values**2, num_segments) / safe
        columns += [mean, np.sqrt(np.maximum(square - mean**2, 0))]
    yy, xx = np.broadcast_to(np.mgrid[:h, :w][:, None], (2, n, h, w)).reshape(2, -1)
    columns += [np.bincount(ids, yy, num_segments) / safe / h]
    columns += [np.bincount(ids, xx, num_segments) / safe / w]
    boxes = segment_boxes(segments)
    columns += [(boxes[:, 2] - boxes[:, 0]) / h, (boxes[:, 3] - boxes[:, 1]) / w]
    columns += [np.sqrt(area / (h * w))]
    return np.stack(columns, axis=1).astype(np.float32)


def mask_pooled_features(maps: np.ndarray, segments: np.ndarray, num_segments: int) -> np.ndarray:
    """float32 [S,D]: the mean of a dense feature map [N,D,h,w] over each segment, the segment
    map [N,H,W] (ids 0..num_segments-1) resized to h x w by nearest neighbour; a segment with
    no cell there (smaller than a cell) takes the cell under its first pixel."""
    from scipy import sparse

    maps, segments = np.asarray(maps, np.float32), np.asarray(segments)
    n, d, h, w = maps.shape
    small = np.stack(
        [cv2.resize(s, (w, h), interpolation=cv2.INTER_NEAREST) for s in segments.astype(np.int32)]
    )
    ids = small.ravel().astype(np.int64)
    cells = maps.transpose(0, 2, 3, 1).reshape(-1, d)
    member = sparse.csr_matrix(
        (np.ones(len(ids)), (ids, np.arange(len(ids)))), shape=(num_segments, len(ids))
    )
    sums = np.asarray(member @ cells.astype(np.float64))
    counts = np.bincount(ids, minlength=num_segments)
    flat = segments.reshape(n, -1)
    present, first_seen = np.unique(flat.ravel(), return_index=True)
    first = np.full(num_segments, -1, np.int64)
    first[present] = first_seen
    missing = np.flatnonzero((counts == 0) & (first >= 0))  # an id with no pixel stays 0
    if len(missing):  # segments too small to own a cell: the cell at their first pixel
        image, pixel = np.divmod(first[missing], flat.shape[1])
        y, x = np.divmod(pixel, segments.shape[2])
        cy = np.minimum(y * h // segments.shape[1], h - 1)
        cx = np.minimum(x * w // segments.shape[2], w - 1)
        sums[missing] = maps[image, :, cy, cx]
        counts[missing] = 1
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


MAP_LEVELS = (2, 3, 4, 5)  # Lite0 maps at strides 4, 8, 16, 32 (24, 40, 112, 320 channels)


def standardise_block(block: np.ndarray) -> np.ndarray:
    """Columns centred, the block scaled to unit mean column variance, so that blocks of
    different widths weigh alike when concatenated."""
    block = block - block.mean(axis=0)
    return block / max(float(np.sqrt((block**2).mean())), 1e-12)


def map_features(
    maps: list[np.ndarray], segments: np.ndarray, num_segments: int, keep: int | None = None
) -> np.ndarray:
    """float32 [keep,sum D_l]: each level's map (``Lite0Encoder.feature_maps``) averaged over
    every segment (:func:`mask_pooled_features`), the first ``keep`` segments (default all)
    standardised per level, then concatenated. Unlike a crop with its outside zeroed, a segment keeps its context and a
    small segment keeps its size; the encoder runs once per image, not once per segment."""
    keep = num_segments if keep is None else keep
    blocks = [
        standardise_block(mask_pooled_features(m, segments, num_segments)[:keep]) for m in maps
    ]
    return np.concatenate(blocks, axis=1).astype(np.float32)
