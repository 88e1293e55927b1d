"""Dense labelling: every pixel of the unit painted by hand, exactly, priced per image.

The classic baseline of active learning for segmentation, and how CamVid and Cityscapes were
labelled: whole frames, every pixel, at the data set's published time per frame (a cost-table
entry such as ``dense_camvid``). With ``units.kind: image`` a unit costs exactly that entry;
a smaller unit (a grid cell, a superpixel) costs the entry times its share of the image's
pixels, which assumes painting time grows with area (not measured). The log keeps the entry.

Model-free and deterministic: the unit gets its ground truth (void stays void) and the same
seconds every time. Against the cheap methods it answers "how many seconds to reach full
supervision if the labels are exact", the line every cheaper method is measured against.
"""

from __future__ import annotations

import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.protocols import UnitAnnotation
from al_loop.core.units import Unit
from al_loop.data.base import IGNORE

METHOD = "dense"


class DenseAnnotator:
    """``Annotator`` for ``annotation.method: dense`` (simulated, from the pool's GT).

    ``seconds_per_image``: what labelling one whole pool image densely costs; ``entry``: the
    cost-table entry it came from (kept in the log)."""

    name = "simulated:dense"
    method = METHOD

    def __init__(self, pool_masks: np.ndarray, seconds_per_image: float, entry: str = ""):
        if not seconds_per_image > 0:
            raise ConfigError(
                f"annotation.params.entry: '{entry}' must price an image above 0 s, "
                f"got {seconds_per_image}"
            )
        self.pool_masks = np.asarray(pool_masks)
        self.seconds_per_image = float(seconds_per_image)
        self.entry = entry

    def seconds(self, unit_pixels: int) -> float:
        """The price of ``unit_pixels`` pixels: the image's price times their share of it."""
        image_pixels = self.pool_masks.shape[1] * self.pool_masks.shape[2]
        return self.seconds_per_image * unit_pixels / image_pixels

    def annotate(
        self,
        unit: Unit,
        image: np.ndarray,
        box: tuple[int, int, int, int],
        unit_mask: np.ndarray,
        initial_labels: np.ndarray | None = None,  # unused: painted from scratch
    ) -> UnitAnnotation:
        y0, x0, y1, x1 = box
        gt = self.pool_masks[unit.image, y0:y1, x0:x1]
        mask = np.where(unit_mask, gt, IGNORE).astype(np.uint8)
        pixels = int(unit_mask.sum())
        seconds = self.seconds(pixels)
        log = [
            {
                "painted_pixels": pixels,
                "labelled_pixels": int((mask != IGNORE).sum()),
                "entry": self.entry,
                "seconds": seconds,
            }
        ]
        return UnitAnnotation(
            unit=unit,
            box=box,
            mask=mask,
            seconds=seconds,
            interactions=log,
            method=METHOD,
            annotator=self.name,
        )


def dense_annotator(pool_masks: np.ndarray, cost, seed: int = 0, *, entry: str) -> DenseAnnotator:
    """The ``BATCH_ANNOTATORS`` entry: ``entry`` names the cost table's price of one image
    labelled densely (CamVid: ``dense_camvid``); deterministic, so ``seed`` is not used."""
    del seed
    return DenseAnnotator(pool_masks, cost[entry], entry=entry)
