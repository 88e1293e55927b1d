"""A simulated person annotating: one object with one method, and whole units for the loop.

``annotate_object`` runs the interaction loop for one object (user -> method, until the target
IoU or the cap) and prices it. ``SimulatedAnnotator`` implements the ``Annotator`` protocol: in
one unit it annotates every object instance (connected component of a class) on an image crop
with some context around the unit, pays for each, and returns the unit's class map.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from al_loop.core.errors import ConfigError
from al_loop.core.geometry import encode_gt, expand_box
from al_loop.core.interactions import ConfirmBackground, to_json
from al_loop.core.metrics import binary_iou
from al_loop.core.protocols import CostModel, InteractiveMethod, SimulatedUser, UnitAnnotation
from al_loop.core.units import Unit
from al_loop.data.base import BACKGROUND, IGNORE
from al_loop.interactive import make_method
from simulators import make_user

MAX_UNCAPPED_INTERACTIONS = 10_000  # guard for users that end by themselves (polygon tracers)


@dataclass
class ObjectResult:
    mask: np.ndarray  # bool, final mask of the session
    interactions: list[Any]
    seconds: float
    ious: list[float]  # IoU after each interaction
    start_iou: float = 0.0  # IoU of the starting mask (empty or the initial mask)

    @property
    def final_iou(self) -> float:
        return self.ious[-1] if self.ious else self.start_iou


def annotate_object(
    method: InteractiveMethod,
    user: SimulatedUser,
    image: np.ndarray,
    gt_bool: np.ndarray,
    cost: CostModel,
    max_interactions: int = 20,
    target_iou: float = 0.9,
    initial_mask: np.ndarray | None = None,
    ignore: np.ndarray | None = None,
) -> ObjectResult:
    """Annotate one object with a fresh ``user``; ``ignore`` pixels neither count as errors nor
    in the IoU. A user with ``stops_at_target = False`` runs until it returns None."""
    gt_bool = np.asarray(gt_bool, dtype=bool)
    user_gt = gt_bool if ignore is None else encode_gt(gt_bool, ignore)
    stops = getattr(user, "stops_at_target", True)
    cap = max_interactions if stops else MAX_UNCAPPED_INTERACTIONS
    session = method.start(image, initial_mask)
    mask = session.mask
    start_iou = iou = float(binary_iou(mask, gt_bool, ignore))
    interactions: list[Any] = []
    ious: list[float] = []
    while len(interactions) < cap and not (stops and iou >= target_iou):
        interaction = user.next_interaction(user_gt, mask)
        if interaction is None:
            break
        mask = session.add(interaction)
        iou = float(binary_iou(mask, gt_bool, ignore))
        interactions.append(interaction)
        ious.append(iou)
    return ObjectResult(
        mask, interactions, cost.seconds(interactions, method.name), ious, start_iou
    )


def object_seed(seed: int, unit: Unit, index: int) -> int:
    """The user's seed for object ``index`` of ``unit``: independent of order and global state."""
    return int(np.random.SeedSequence([seed, unit.image, unit.region, index]).generate_state(1)[0])


def shift_interaction(interaction: Any, dy: int, dx: int) -> Any:
    """The same interaction with every (y, x) coordinate moved by (dy, dx)."""
    if not dataclasses.is_dataclass(interaction):
        return interaction

    def move(name: str, value: Any) -> Any:
        if name in ("y", "y0", "y1"):
            return value + dy
        if name in ("x", "x0", "x1"):
            return value + dx
        if name == "inside":
            return (value[0] + dy, value[1] + dx)
        if name in ("points", "vertices", "corners"):
            return tuple((y + dy, x + dx) for y, x in value)
        return value

    changes = {
        f.name: move(f.name, getattr(interaction, f.name)) for f in dataclasses.fields(interaction)
    }
    return dataclasses.replace(interaction, **changes)


@dataclass
class Instance:
    cls: int
    mask: np.ndarray  # bool, crop-sized, inside the unit


def find_instances(
    gt: np.ndarray, region: np.ndarray, min_pixels: int, background: int | None = BACKGROUND
) -> tuple[list[Instance], np.ndarray]:
    """Connected components (8-connectivity) of each class but ``background`` (None: of every
    class) inside ``region``, largest first; and the bool mask of the components too small to
    annotate."""
    found: list[tuple[int, int, int, Instance]] = []
    tiny = np.zeros(gt.shape, bool)
    classes = [int(c) for c in np.unique(gt[region]) if c not in (background, IGNORE)]
    for c in classes:
        count, comp = cv2.connectedComponents(((gt == c) & region).astype(np.uint8), connectivity=8)
        for k in range(1, count):
            inst = comp == k
            area = int(inst.sum())
            if area < min_pixels:
                tiny |= inst
            else:
                first = int(np.flatnonzero(inst)[0])
                found.append((-area, c, first, Instance(c, inst)))
    found.sort(key=lambda t: t[:3])
    return [t[3] for t in found], tiny


@dataclass
class _Done:
    """One annotated object of a unit, ready to paint and log."""

    index: int
    cls: int
    result: ObjectResult
    seconds: float
    paint: np.ndarray = field(repr=False)  # bool, crop-sized: what this object paints
    removal: bool = False  # a predicted class with no instance in the unit, clicked away


class SimulatedAnnotator:
    """The ``Annotator`` for simulated runs: a simulated user drives an interactive method.

    Per unit: pixels default to background; each instance with at least ``min_instance_pixels``
    pixels inside the unit is annotated on the unit's box grown by ``context_margin`` (the
    method sees the context, the result is clipped to the unit) and painted with its class,
    largest first. Smaller instances and ground-truth IGNORE stay IGNORE. A unit in which the
    person makes no interaction costs one ``ConfirmBackground`` click. When the pool holds more
    than one object class, each object drawn from scratch also pays ``choose_class`` (if the
    table has it).

    ``use_initial``: the segmenter's class map is the starting point (model-assisted
    correction) for methods whose user corrects masks (clickers); instance k of class c starts
    from the current map == c, other pixels of class c do not count as its errors, and classes
    predicted in the unit without any instance there are removed with clicks (paid).
    """

    def __init__(
        self,
        pool_masks: np.ndarray,
        method_name: str,
        cost: CostModel,
        max_interactions: int = 20,
        target_iou: float = 0.9,
        context_margin: int = 16,
        min_instance_pixels: int = 16,
        seed: int = 0,
        use_initial: bool = False,
        method_params: dict | None = None,
        user_params: dict | None = None,
        background: int | None = BACKGROUND,
    ):
        if seed < 0:
            raise ConfigError(f"seed: must be >= 0 for the simulated user, got {seed}")
        self.pool_masks = pool_masks
        self.method = make_method(method_name, **(method_params or {}))
        self.cost = cost
        self.max_interactions, self.target_iou = max_interactions, target_iou
        self.context_margin, self.min_instance_pixels = context_margin, min_instance_pixels
        self.seed, self.use_initial = seed, use_initial
        self.user_params = dict(user_params or {})
        # what unannotated pixels of a unit become: the background, or unlabelled where every
        # class is an object (a dense street scene)
        self.background = background
        self.fill = IGNORE if background is None else background
        probe = make_user(self.method.interaction, seed=0, **self.user_params)  # fail early
        self.user_name = getattr(probe, "name", type(probe).__name__)
        self.corrects_initial = getattr(probe, "stops_at_target", True)
        counts = np.bincount(np.asarray(pool_masks, np.uint8).ravel(), minlength=256)
        present = counts[:IGNORE] > 0
        if background is not None:
            present[background] = False
        object_classes = int(np.count_nonzero(present))
        choose = getattr(cost, "get", lambda name, default=None: default)("choose_class", 0.0)
        self.class_seconds = float(choose or 0.0) if object_classes > 1 else 0.0

    @property
    def name(self) -> str:
        return f"simulated:{self.user_name}"

    def annotate(
        self,
        unit: Unit,
        image: np.ndarray,
        box: tuple[int, int, int, int],
        unit_mask: np.ndarray,
        initial_labels: np.ndarray | None = None,
    ) -> UnitAnnotation:
        y0, x0, y1, x1 = box
        cy0, cx0, cy1, cx1 = expand_box(box, self.context_margin, image.shape[:2])
        crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1])
        gt = self.pool_masks[unit.image, cy0:cy1, cx0:cx1]
        inside = np.zeros(gt.shape, bool)  # the unit, in crop coordinates
        inside[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = unit_mask
        instances, tiny = find_instances(gt, inside, self.min_instance_pixels, self.background)
        labels = None
        if self.use_initial and initial_labels is not None and self.corrects_initial:
            labels = np.array(initial_labels[cy0:cy1, cx0:cx1], dtype=np.uint8)
        outside = ~inside | (gt == IGNORE)

        done: list[_Done] = []
        for inst in instances:
            ignore = outside | ((gt == inst.cls) & ~inst.mask)  # other pixels of its class
            done.append(
                self._object(unit, len(done), inst.cls, crop, inst.mask, ignore, labels, inside)
            )
        if labels is not None:
            annotated = {inst.cls for inst in instances}
            leftover = [
                int(c) for c in np.unique(labels[~outside]) if c not in (self.background, IGNORE)
            ]
            for c in (c for c in leftover if c not in annotated):
                empty = np.zeros(gt.shape, bool)  # predicted class absent from the unit: remove it
                done.append(
                    self._object(
                        unit, len(done), c, crop, empty, outside | (gt == c), labels, inside
                    )
                )

        out = np.full(gt.shape, self.fill, np.uint8)
        # Removals first, then instances largest first: a small instance is painted over a
        # larger neighbour's leak, not the other way round.
        for d in [d for d in done if d.removal] + [d for d in done if not d.removal]:
            out[d.paint] = d.cls
        out[outside | tiny] = IGNORE
        log = [
            {
                **to_json(shift_interaction(it, cy0, cx0)),
                "object": d.index,
                "class": d.cls,
                "seconds": d.seconds,
                "iou": d.result.final_iou,
            }
            for d in done
            for it in d.result.interactions
        ]
        seconds = float(sum(d.seconds for d in done))
        if not log:  # nothing to draw or correct: one click to confirm the unit
            confirm = ConfirmBackground()
            seconds = self.cost.seconds([confirm], self.method.name)
            log = [
                {
                    **to_json(confirm),
                    "object": -1,
                    "class": self.fill,
                    "seconds": seconds,
                    "iou": 1.0,
                }
            ]
        return UnitAnnotation(
            unit=unit,
            box=box,
            mask=out[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0].copy(),
            seconds=seconds,
            interactions=log,
            method=self.method.name,
            annotator=self.name,
        )

    def _object(
        self,
        unit: Unit,
        index: int,
        cls: int,
        crop: np.ndarray,
        gt_bool: np.ndarray,
        ignore: np.ndarray,
        labels: np.ndarray | None,
        inside: np.ndarray,
    ) -> _Done:
        """Annotate one object; with a running class map, start from it and update it."""
        initial = None if labels is None else labels == cls
        user = make_user(
            self.method.interaction, seed=object_seed(self.seed, unit, index), **self.user_params
        )
        result = annotate_object(
            self.method,
            user,
            crop,
            gt_bool,
            self.cost,
            self.max_interactions,
            self.target_iou,
            initial,
            ignore,
        )
        drawn_from_scratch = initial is None or not (initial & gt_bool).any()
        seconds = result.seconds
        if result.interactions and gt_bool.any() and drawn_from_scratch:
            seconds += self.class_seconds
        paint = result.mask & inside
        if labels is not None:  # the map now shows what the person left for this class
            labels[inside & (labels == cls) & ~paint] = self.fill
            labels[paint] = cls
        return _Done(index, cls, result, seconds, paint, removal=not gt_bool.any())
