"""What labelling the whole pool by hand would cost: the denominator of "% of labelling everything".

Two bases, chosen by the data:

- **dense**: the data set's own published time to label one image densely, when its loader names
  a cost entry in ``meta["dense_cost"]`` (CamVid: ``dense_camvid``), times the pool's images;
- **polygons** otherwise: one ``polygon_instance`` (COCO's 79.2 s) per object of the pool, an
  object being a connected component (8-connectivity) of a class other than background (0) with at
  least ``min_instance_pixels`` pixels, as the simulated annotators count them.

``run_experiment`` stores the result in the run's store (meta ``whole_pool``), so the report can
read the % axis without loading the data.
"""

from __future__ import annotations

import numpy as np

from al_loop.annotators.simulated import find_instances
from al_loop.core.cost import CostTable
from al_loop.data.base import BACKGROUND, DENSE_COST, SegmentationData

POLYGON_ENTRY = "polygon_instance"


def count_objects(
    mask: np.ndarray, min_pixels: int = 16, background: int | None = BACKGROUND
) -> int:
    """Connected components (8-connectivity) of each class but ``background`` (None: every
    class is an object) and IGNORE with at least ``min_pixels`` pixels."""
    # the simulated annotators' own instance finder: the pool is priced as they would see it
    instances, _ = find_instances(mask, np.ones(mask.shape, bool), min_pixels, background)
    return len(instances)


def whole_pool_cost(
    pool: SegmentationData, cost: CostTable, min_instance_pixels: int = 16
) -> dict | None:
    """{"seconds", "basis", "assumption"} of labelling every pool image by hand; None for a pool
    without ground truth (nothing to count)."""
    entry = pool.meta.get(DENSE_COST)
    if entry is not None:
        per_image = cost[entry]
        basis = f"{entry}: {len(pool)} images x {per_image:g} s"
        return {
            "seconds": len(pool) * per_image,
            "basis": basis,
            "assumption": cost.entries[entry].assumption,
        }
    if pool.masks is None:
        return None
    objects = sum(count_objects(m, min_instance_pixels, pool.background) for m in pool.masks)
    per_object = cost[POLYGON_ENTRY]
    return {
        "seconds": objects * per_object,
        "basis": f"{POLYGON_ENTRY}: {objects} objects x {per_object:g} s",
        "assumption": cost.entries[POLYGON_ENTRY].assumption,
    }
