"""The NoC benchmark's runner: a fresh simulated user per image drives an interactive method.

The protocol, its threshold and the scores live with the methods (``al_loop.interactive.noc``);
this module pairs them with the users (``simulators``), as the loop's annotators do.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from al_loop.annotators.simulated import annotate_object
from al_loop.core.errors import DataError
from al_loop.core.interactions import to_json
from al_loop.core.protocols import CostModel, InteractiveMethod
from al_loop.data.base import IGNORE
from al_loop.interactive.noc import MAX_INTERACTIONS, TARGETS, ImageRecord, Thresholded
from simulators import make_user


def evaluate_image(
    name: str,
    method: InteractiveMethod,
    user,
    image: np.ndarray,
    gt: np.ndarray,
    cost: CostModel,
    max_interactions: int = MAX_INTERACTIONS,
    stop_iou: float | None = max(TARGETS),
) -> ImageRecord:
    """Run one image: ``gt`` uint8 (0 background, object > 0, IGNORE ignored)."""
    gt = np.asarray(gt)
    ignore = gt == IGNORE
    obj = (gt > 0) & ~ignore
    if not obj.any():
        raise DataError(f"{name}: the mask holds no object pixel")
    result = annotate_object(
        Thresholded(method),
        user,
        image,
        obj,
        cost,
        max_interactions,
        2.0 if stop_iou is None else stop_iou,  # above any IoU: never stop early
        None,
        ignore if ignore.any() else None,
    )
    seconds = [
        cost.seconds(result.interactions[: k + 1], method.name) for k in range(len(result.ious))
    ]
    kinds = [to_json(i)["type"] for i in result.interactions]
    return ImageRecord(name, list(result.ious), seconds, kinds)


def run_noc(
    method: InteractiveMethod,
    samples: Iterable,
    cost: CostModel,
    seed: int = 0,
    max_interactions: int = MAX_INTERACTIONS,
    stop_iou: float | None = max(TARGETS),
    user_params: dict | None = None,
) -> list[ImageRecord]:
    """One record per sample (``name, image, mask``); the user's seed is ``seed`` + index."""
    return [
        evaluate_image(
            s.name,
            method,
            make_user(method.interaction, seed=seed + index, **(user_params or {})),
            s.image,
            s.mask,
            cost,
            max_interactions,
            stop_iou,
        )
        for index, s in enumerate(samples)
    ]
