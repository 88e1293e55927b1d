"""Tiny deterministic stand-ins for the heavy parts, for fast loop tests."""

from __future__ import annotations

import numpy as np

from al_loop.core.protocols import UnitAnnotation
from al_loop.data.base import IGNORE, ClassInfo, SegmentationData


def make_toy_data(n: int = 8, hw=(32, 32), seed: int = 0) -> SegmentationData:
    """Images whose class is readable from colour: 0 dark background, 1 red square, 2 green bar."""
    rng = np.random.default_rng(seed)
    images = np.full((n, *hw, 3), 30, dtype=np.uint8)
    masks = np.zeros((n, *hw), dtype=np.uint8)
    for i in range(n):
        y, x = rng.integers(0, hw[0] - 12, size=2)
        masks[i, y : y + 10, x : x + 10] = 1
        images[i, y : y + 10, x : x + 10] = (200, 40, 40)
        col = int(rng.integers(0, hw[1] - 4))
        masks[i, :, col : col + 3] = 2
        images[i, :, col : col + 3] = (40, 200, 40)
    noise = rng.integers(0, 20, size=images.shape, dtype=np.uint8)
    images = np.clip(images.astype(int) + noise, 0, 255).astype(np.uint8)
    classes = [
        ClassInfo("background", (0, 0, 0)),
        ClassInfo("square", (255, 0, 0)),
        ClassInfo("bar", (0, 255, 0)),
    ]
    return SegmentationData([f"toy{i:03d}" for i in range(n)], images, masks, classes, source="toy")


class CentroidSegmenter:
    """A fast deterministic stand-in for a network: nearest class-mean colour, softmax of -distance;
    all of the ``Segmenter`` protocol (tests/models/test_segmenter_contract.py)."""

    def __init__(self, num_classes: int = 3, warm_start: bool = True):
        self.num_classes = num_classes
        self.warm_start = warm_start
        self.means = np.zeros((num_classes, 3))
        self.fits = 0

    def reset(self, seed: int) -> None:
        self.means = np.random.default_rng(seed).uniform(0, 255, size=(self.num_classes, 3))

    def fit(self, images, labels, seed, progress=None):
        self.fits += 1
        for c in range(self.num_classes):
            sel = labels == c
            if sel.any():
                self.means[c] = images[sel].mean(axis=0)
        if progress:
            progress(1, 1)
        return {"loss": 0.0}

    def predict_proba(self, images):
        d = ((images[:, None].astype(float) - self.means[None, :, None, None]) ** 2).sum(-1)
        logits = -d / 500.0
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def features(self, images):
        return images.reshape(len(images), -1, 3).mean(1).astype(np.float32)

    def pixel_features(self, images):
        return images.astype(np.float32).transpose(0, 3, 1, 2) / 255.0

    def predict_proba_samples(self, images, samples, seed):
        """MC-dropout-like samples: seeded noise on the class means."""
        rng = np.random.default_rng(seed)
        means = self.means
        out = []
        for _ in range(samples):
            self.means = means + rng.normal(0, 20.0, size=means.shape)
            out.append(self.predict_proba(images))
        self.means = means
        return np.stack(out)

    def evaluate(self, data):
        pred = self.predict_proba(data.images).argmax(1)
        ious = []
        for c in range(self.num_classes):
            valid = data.masks != IGNORE
            inter = ((pred == c) & (data.masks == c) & valid).sum()
            union = (((pred == c) | (data.masks == c)) & valid).sum()
            ious.append(float(inter / union) if union else None)
        present = [v for v in ious if v is not None]
        return {"miou": float(np.mean(present)), "per_class_iou": ious}

    def save(self, path):
        with open(path, "wb") as f:
            np.save(f, self.means)

    def load(self, path):
        with open(path, "rb") as f:
            self.means = np.load(f)


class OracleAnnotator:
    """Copies ground truth inside the unit; a fixed price per labelled pixel class present."""

    def __init__(self, masks: np.ndarray, seconds_per_class: float = 2.0):
        self.masks, self.seconds_per_class = masks, seconds_per_class
        self.calls = 0

    def annotate(self, unit, image, box, unit_mask, initial_labels=None):
        self.calls += 1
        y0, x0, y1, x1 = box
        gt = self.masks[unit.image, y0:y1, x0:x1].copy()
        gt[~unit_mask] = IGNORE
        n_classes = len(np.unique(gt[gt != IGNORE]))
        return UnitAnnotation(
            unit=unit,
            box=box,
            mask=gt,
            seconds=self.seconds_per_class * max(n_classes, 1),
            interactions=[{"type": "Polygon", "object": k} for k in range(n_classes)],
            method="oracle",
            annotator="test",
        )
