"""GrabCut (Rother et al., SIGGRAPH 2004) driven by clicks instead of a box.

Each click is a disk of definite foreground or background. The previous result is the prior
(probable foreground / background) from which GrabCut re-learns its colour models; where a click
contradicts the prior, the prior is flipped in a disk reaching up to the nearest pixel that
agrees with the click (capped), so that a click on a missed region or a false positive moves the
colour models, not only the few pixels under the disk.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from al_loop.core.distance import distance_to_zero
from al_loop.core.interactions import Click

BGD, FGD, PR_BGD, PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD
MIN_GMM_SAMPLES = 10  # GrabCut fits 5-component GMMs by k-means on each side


def check_click(interaction: object, shape: tuple[int, int], method: str) -> Click:
    """The interaction as a Click inside the image, or a clear error."""
    if not isinstance(interaction, Click):
        raise TypeError(f"{method}: expects Click interactions, got {type(interaction).__name__}")
    if not (0 <= interaction.y < shape[0] and 0 <= interaction.x < shape[1]):
        raise ValueError(
            f"{method}: click ({interaction.y}, {interaction.x}) outside image {shape}"
        )
    return interaction


def paint_clicks(
    labels: np.ndarray, clicks: Iterable[Click], radius: int, pos: int, neg: int
) -> None:
    """Draw each click as a filled disk of ``pos`` or ``neg`` in place; later clicks win."""
    for c in clicks:
        cv2.circle(labels, (int(c.x), int(c.y)), radius, int(pos if c.positive else neg), -1)


def local_radius(prior: np.ndarray, click: Click, cap: float, reach: float = 1.0) -> float:
    """How far the error a click points at is taken to extend: ``reach`` times the distance from
    the click to the nearest prior pixel that agrees with it, at most ``cap``; 0 when the prior
    already agrees with the click."""
    if bool(prior[click.y, click.x]) == click.positive:
        return 0.0
    disagree = (prior != click.positive).astype(np.uint8)
    if disagree.all():
        return float(cap)
    return float(min(reach * distance_to_zero(disagree)[click.y, click.x], cap))


def keep_anchored(
    mask: np.ndarray, clicks: Iterable[Click], anchor: np.ndarray | None
) -> np.ndarray:
    """Drop foreground blobs that hold no positive click and do not overlap ``anchor``."""
    count, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    keep = np.zeros(count, dtype=bool)
    for c in clicks:
        if c.positive:
            keep[comp[c.y, c.x]] = True
    if anchor is not None:
        keep[np.unique(comp[anchor])] = True
    keep[0] = False
    return keep[comp]


class GrabCutClicks:
    """``grabcut_clicks``: OpenCV GrabCut seeded by click disks; deterministic."""

    interaction = "click"

    def __init__(
        self,
        radius: int = 5,
        iterations: int = 3,
        prior_radius: float = 0.15,
        reach: float = 1.0,
        keep_connected: bool = True,
        name: str = "grabcut_clicks",
    ):
        """``radius``: click disk (pixels) of definite labels. ``prior_radius``: cap of the
        prior flip around a click, as a fraction of the image's shorter side (the first click's
        guess of the object's extent). ``reach``: the flip extends this many times the click's
        distance to the nearest agreeing prior pixel. ``keep_connected``: drop blobs no positive click touches.
        """
        if radius < 1 or iterations < 1 or reach <= 0 or not 0 < prior_radius <= 1:
            raise ValueError(
                "grabcut_clicks: radius, iterations >= 1, reach > 0 and 0 < prior_radius <= 1"
            )
        self.name, self.radius, self.iterations = name, radius, iterations
        self.prior_radius, self.reach, self.keep_connected = prior_radius, reach, keep_connected

    def start(self, image: np.ndarray, initial_mask: np.ndarray | None = None) -> GrabCutSession:
        return GrabCutSession(self, image, initial_mask)


class GrabCutSession:
    def __init__(self, method: GrabCutClicks, image: np.ndarray, initial_mask: np.ndarray | None):
        self.method = method
        self.image = np.ascontiguousarray(image, dtype=np.uint8)
        shape = self.image.shape[:2]
        self.initial = None if initial_mask is None else np.asarray(initial_mask, dtype=bool)
        self._mask = np.zeros(shape, bool) if self.initial is None else self.initial.copy()
        self._prior = self._mask.copy()  # probable labels: the previous result
        self.clicks: list[Click] = []

    @property
    def mask(self) -> np.ndarray:
        return self._mask.copy()

    def add(self, interaction: Click) -> np.ndarray:
        m = self.method
        click = check_click(interaction, self._mask.shape, m.name)
        self.clicks.append(click)
        cap = m.prior_radius * min(self._mask.shape)
        prior = self._prior.astype(np.uint8)
        radius = int(round(local_radius(self._prior, click, cap, m.reach)))
        if radius > 0:
            cv2.circle(prior, (click.x, click.y), radius, int(click.positive), -1)
        labels = np.where(prior > 0, PR_FGD, PR_BGD).astype(np.uint8)
        paint_clicks(labels, self.clicks, m.radius, FGD, BGD)
        result = run_grabcut(self.image, labels, m.iterations)
        if m.keep_connected:
            result = keep_anchored(result, self.clicks, self.initial)
        self._prior = result
        self._mask = result
        return self.mask


def run_grabcut(image: np.ndarray, labels: np.ndarray, iterations: int) -> np.ndarray:
    """Foreground of GrabCut initialised from ``labels`` (GC_* values); handles one-sided input."""
    return grabcut_models(image, labels, iterations)[0]


def grabcut_models(
    image: np.ndarray,
    labels: np.ndarray,
    iterations: int,
    models: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """GrabCut's foreground and its (background, foreground) colour models after the run.
    ``models`` None: the models are fitted anew from ``labels`` (k-means, then ``iterations``
    rounds); given (a previous run's): each round starts from them and re-learns them from
    ``labels``, no k-means (a warm start, most of a run's cost saved when little changed).
    Too few pixels on one side to fit a model: the labels' foreground and no models."""
    fg = (labels == FGD) | (labels == PR_FGD)
    if min(int(fg.sum()), int((~fg).sum())) < MIN_GMM_SAMPLES:
        return fg, None  # too few pixels on one side to fit a colour model
    work = labels.copy()
    if models is None:
        bgd_model, fgd_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        mode = cv2.GC_INIT_WITH_MASK
    else:  # copies: the caller's models stay as they were (an undo returns to them)
        bgd_model, fgd_model = models[0].copy(), models[1].copy()
        mode = cv2.GC_EVAL
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG: fix it per call
    cv2.grabCut(image, work, None, bgd_model, fgd_model, iterations, mode)
    bgd_model.setflags(write=False)  # shared by session snapshots, never written
    fgd_model.setflags(write=False)
    return (work == FGD) | (work == PR_FGD), (bgd_model, fgd_model)
