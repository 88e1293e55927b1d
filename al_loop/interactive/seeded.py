"""Classic, learning-free methods that start from a box-like interaction or from scribbles.

``grabcut_box`` is GrabCut as published (Rother et al. 2004): outside the box is definite
background, inside is probable foreground. ``extreme_points_grabcut`` is DEXTR's classic
baseline (Maninis et al. 2018): the box of the four extreme points, the points themselves as
foreground seeds. ``iog_grabcut`` is the same for IOG's input (Zhang et al. 2020): two corners
give the box, the inside click a foreground seed. After the opening interaction every method
takes corrective clicks (and strokes) exactly like ``grabcut_clicks``: the previous result is the
prior, a contradicting click flips it locally, the seeds stay definite.

``scribbles`` runs GrabCut on the seeded watershed of the strokes (the watershed gives a spatial
prior, GrabCut re-learns the colours); ``watershed_markers`` is the seeded watershed alone.
A method receiving its opening interaction replaces any initial mask (the person draws the
object anew); clicks and strokes correct it.
"""

from __future__ import annotations

import cv2
import higra as hg
import numpy as np

from al_loop.core.distance import distance_to_zero
from al_loop.core.interactions import Box, Click, ExtremePoints, InsideOutside, Scribble
from al_loop.interactive.grabcut import (
    BGD,
    FGD,
    PR_BGD,
    PR_FGD,
    check_click,
    grabcut_models,
    keep_anchored,
    local_radius,
    paint_clicks,
    run_grabcut,
)
from al_loop.interactive.watershed import (
    BACKGROUND_MARKER,
    NO_MARKER,
    OBJECT_MARKER,
    border_markers,
    gradient_graph,
    mask_markers,
)


def check_point(point: tuple[int, int], shape: tuple[int, int], method: str) -> tuple[int, int]:
    """(y, x) as ints inside the image, or a clear error."""
    y, x = int(point[0]), int(point[1])
    if not (0 <= y < shape[0] and 0 <= x < shape[1]):
        raise ValueError(f"{method}: point ({y}, {x}) outside image {tuple(shape)}")
    return y, x


def box_of(points, shape: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1), end exclusive, of ``points`` grown by ``margin`` and clipped."""
    ys, xs = [p[0] for p in points], [p[1] for p in points]
    return (
        max(0, min(ys) - margin),
        max(0, min(xs) - margin),
        min(shape[0], max(ys) + 1 + margin),
        min(shape[1], max(xs) + 1 + margin),
    )


def outside_box(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    outside = np.ones(shape, bool)
    y0, x0, y1, x1 = box
    outside[y0:y1, x0:x1] = False
    return outside


def check_scribble(interaction: object, shape: tuple[int, int], method: str) -> Scribble:
    if not isinstance(interaction, Scribble):
        raise TypeError(f"{method}: expects Scribble strokes, got {type(interaction).__name__}")
    if not interaction.points:
        raise ValueError(f"{method}: a stroke needs at least one point")
    for point in interaction.points:
        check_point(point, shape, method)
    return interaction


def paint_strokes(labels: np.ndarray, strokes, width: int, pos: int, neg: int) -> None:
    """Draw each stroke as a polyline of ``width`` pixels in place; later strokes win."""
    for s in strokes:
        points = np.asarray(s.points, np.int32).reshape(-1, 2)[:, ::-1].reshape(-1, 1, 2)
        value = int(pos if s.positive else neg)
        cv2.polylines(labels, [points], False, value, thickness=max(1, width))
        for x, y in points[:, 0]:  # single-point strokes and the ends
            cv2.circle(labels, (int(x), int(y)), max(0, width // 2), value, -1)


def stroke_mask(shape: tuple[int, int], stroke: Scribble, width: int) -> np.ndarray:
    canvas = np.zeros(shape, np.uint8)
    paint_strokes(canvas, [stroke], width, 1, 1)
    return canvas > 0


class BoxGrabCut:
    """GrabCut opened by a Box, ExtremePoints or InsideOutside, then corrected by clicks/strokes.

    ``opening``: the interaction type that opens the session (its ``interaction`` kind names
    the simulated user). ``margin``: pixels the box is grown by (points lie on the object's
    edge, so the object must not touch the definite background). ``point_radius``: disk of the
    opening's foreground points (extreme points sit on the edge: a wide disk would teach the
    foreground model background colours).
    """

    def __init__(
        self,
        name: str = "grabcut_box",
        interaction: str = "box",
        margin: int = 0,
        radius: int = 5,
        iterations: int = 3,
        prior_radius: float = 0.15,
        reach: float = 1.0,
        stroke_width: int = 5,
        point_radius: int = 1,
    ):
        if radius < 1 or iterations < 1 or margin < 0 or reach <= 0 or not 0 < prior_radius <= 1:
            raise ValueError(
                f"{name}: radius, iterations >= 1, margin >= 0, reach > 0, 0 < prior_radius <= 1"
            )
        self.name, self.interaction, self.margin = name, interaction, margin
        self.radius, self.iterations, self.stroke_width = radius, iterations, stroke_width
        self.prior_radius, self.reach, self.point_radius = prior_radius, reach, point_radius

    def start(self, image: np.ndarray, initial_mask: np.ndarray | None = None) -> BoxGrabCutSession:
        return BoxGrabCutSession(self, image, initial_mask)


def grabcut_box(**params) -> BoxGrabCut:
    return BoxGrabCut(**{"name": "grabcut_box", "interaction": "box", **params})


def extreme_points_grabcut(**params) -> BoxGrabCut:
    return BoxGrabCut(
        **{"name": "extreme_points_grabcut", "interaction": "extreme_points", "margin": 5, **params}
    )


def iog_grabcut(**params) -> BoxGrabCut:
    return BoxGrabCut(**{"name": "iog_grabcut", "interaction": "inside_outside", **params})


class BoxGrabCutSession:
    def __init__(self, method: BoxGrabCut, image: np.ndarray, initial_mask: np.ndarray | None):
        self.method = method
        self.image = np.ascontiguousarray(image, dtype=np.uint8)
        self.shape = self.image.shape[:2]
        self.initial = None if initial_mask is None else np.asarray(initial_mask, dtype=bool)
        self._mask = np.zeros(self.shape, bool) if self.initial is None else self.initial.copy()
        self._prior = self._mask.copy()
        self.frame: np.ndarray | None = None  # definite background: outside the opening box
        self.released = np.zeros(self.shape, bool)  # frame pixels a positive click reopened
        self.points: list[Click] = []  # the opening's foreground points (on the object's edge)
        self.clicks: list[Click] = []  # corrective clicks: definite disks
        self.strokes: list[Scribble] = []

    @property
    def mask(self) -> np.ndarray:
        return self._mask.copy()

    def add(self, interaction) -> np.ndarray:
        if isinstance(interaction, (Box, ExtremePoints, InsideOutside)):
            self._open(interaction)
        elif isinstance(interaction, Scribble):
            self._correct_stroke(check_scribble(interaction, self.shape, self.method.name))
        else:
            self._correct_click(check_click(interaction, self.shape, self.method.name))
        return self._run()

    def _open(self, interaction) -> None:
        name, shape = self.method.name, self.shape
        if isinstance(interaction, Box):
            corners = [(interaction.y0, interaction.x0), (interaction.y1 - 1, interaction.x1 - 1)]
            seeds: list[tuple[int, int]] = []
        elif isinstance(interaction, ExtremePoints):
            if len(interaction.points) != 4:
                raise ValueError(f"{name}: expects four extreme points")
            corners = seeds = list(interaction.points)
        else:
            corners, seeds = list(interaction.corners), [interaction.inside]
        corners = [check_point(p, shape, name) for p in corners]
        seeds = [check_point(p, shape, name) for p in seeds]
        box = box_of(corners, shape, self.method.margin)
        if box[0] >= box[2] - 1 or box[1] >= box[3] - 1:
            raise ValueError(f"{name}: the box {box} is empty")
        self.frame = outside_box(shape, box)
        self.released[:] = False
        self._prior = ~self.frame
        self.initial = None  # the person draws the object anew
        self.points = [Click(y, x, True) for y, x in seeds]
        self.clicks = []
        self.strokes = []

    def _flip_prior(self, region: np.ndarray, positive: bool) -> None:
        self._prior = np.where(region, positive, self._prior)
        if positive:
            self.released |= region

    def _correct_click(self, click: Click) -> None:
        cap = self.method.prior_radius * min(self.shape)
        radius = int(round(local_radius(self._prior, click, cap, self.method.reach)))
        disk = np.zeros(self.shape, np.uint8)
        cv2.circle(disk, (click.x, click.y), max(radius, self.method.radius), 1, -1)
        if radius > 0:
            self._flip_prior(disk > 0, click.positive)
        elif click.positive:
            self.released |= disk > 0
        self.clicks.append(click)

    def _correct_stroke(self, stroke: Scribble) -> None:
        self._flip_prior(stroke_mask(self.shape, stroke, self.method.stroke_width), stroke.positive)
        self.strokes.append(stroke)

    def _run(self) -> np.ndarray:
        m = self.method
        labels = np.where(self._prior, PR_FGD, PR_BGD).astype(np.uint8)
        if self.frame is not None:
            labels[self.frame & ~self.released] = BGD
        paint_strokes(labels, self.strokes, m.stroke_width, FGD, BGD)
        paint_clicks(labels, self.points, m.point_radius, FGD, BGD)
        paint_clicks(labels, self.clicks, m.radius, FGD, BGD)
        result = run_grabcut(self.image, labels, m.iterations)
        anchors = (
            self.points
            + self.clicks
            + [Click(int(y), int(x), True) for s in self.strokes if s.positive for y, x in s.points]
        )
        if any(a.positive for a in anchors) or self.initial is not None:
            result = keep_anchored(result, anchors, self.initial)  # a bare box anchors nothing
        self._prior = self._mask = result
        return self.mask


class WatershedMarkers:
    """``watershed_markers``: seeded watershed (higra) on the mean-shift colour gradient from
    Scribble strokes; the image border is background until a negative stroke is drawn. With an
    initial mask, its eroded inside/outside are markers and a contradicting stroke clears the
    opposite markers within ``reach`` times its distance to agreeing pixels (capped)."""

    interaction = "scribble"

    def __init__(
        self,
        name: str = "watershed_markers",
        stroke_width: int = 3,
        spatial_radius: int = 6,
        color_radius: float = 15.0,
        mean_shift_levels: int = 1,
        erosion: int = 2,
        reach: float = 3.0,
        prior_radius: float = 0.5,
    ):
        if stroke_width < 1 or erosion < 0 or reach <= 0 or not 0 < prior_radius <= 1:
            raise ValueError(
                f"{name}: stroke_width >= 1, erosion >= 0, reach > 0, 0 < prior_radius <= 1"
            )
        self.name, self.stroke_width, self.erosion = name, stroke_width, erosion
        self.spatial_radius, self.color_radius = spatial_radius, color_radius
        self.mean_shift_levels, self.reach, self.prior_radius = (
            mean_shift_levels,
            reach,
            prior_radius,
        )

    def start(self, image: np.ndarray, initial_mask: np.ndarray | None = None) -> MarkerSession:
        return MarkerSession(self, image, initial_mask)


class MarkerSession:
    def __init__(self, method: WatershedMarkers, image: np.ndarray, initial_mask):
        self.method = method
        self.image = np.ascontiguousarray(image, dtype=np.uint8)
        self.shape = self.image.shape[:2]
        self.graph, self.weights = gradient_graph(
            self.image, method.spatial_radius, method.color_radius, method.mean_shift_levels
        )
        if initial_mask is None:
            self.initial = None
            self.base = border_markers(self.shape)
        else:
            self.initial = np.asarray(initial_mask, dtype=bool)
            self.base = mask_markers(self.initial, method.erosion)
        self._mask = np.zeros(self.shape, bool) if self.initial is None else self.initial.copy()
        self.strokes: list[Scribble] = []

    @property
    def mask(self) -> np.ndarray:
        return self._mask.copy()

    def add(self, interaction) -> np.ndarray:
        stroke = check_scribble(interaction, self.shape, self.method.name)
        self.strokes.append(stroke)
        self._clear_contradicted(stroke)
        self._mask = self._segment()
        return self.mask

    def _clear_contradicted(self, stroke: Scribble) -> None:
        if self.initial is None:
            return
        disagree = (self.initial != stroke.positive).astype(np.uint8)
        if not disagree.any():
            return
        dist = distance_to_zero(disagree)
        cap = self.method.prior_radius * min(self.shape)
        radius = min(cap, self.method.reach * max(float(dist[y, x]) for y, x in stroke.points))
        if radius > 0:
            region = stroke_mask(self.shape, stroke, 2 * int(round(radius)) + 1)
            self.base[region & (self.base != NO_MARKER)] = NO_MARKER

    def _segment(self) -> np.ndarray:
        markers = self.base.copy()
        paint_strokes(
            markers, self.strokes, self.method.stroke_width, OBJECT_MARKER, BACKGROUND_MARKER
        )
        if not (markers == OBJECT_MARKER).any():
            return np.zeros(self.shape, bool)
        if not (markers == BACKGROUND_MARKER).any():
            return np.ones(self.shape, bool)
        return np.asarray(hg.labelisation_seeded_watershed(self.graph, self.weights, markers)) == (
            OBJECT_MARKER
        )


class ScribbleGrabCut:
    """``scribbles``: strokes -> seeded watershed (spatial prior) -> GrabCut with the strokes as
    definite seeds (colour models learnt from the watershed's regions).

    ``warm_iterations``: 0 fits GrabCut's colour models anew for every stroke (k-means, then
    ``iterations`` rounds); n > 0 fits them so for the first stroke only and starts each later
    stroke from the previous stroke's models, n rounds (no k-means). ``local_margin`` > 0 (with
    warm strokes): a later stroke recomputes only a window around it, the stroke's box grown
    by that fraction of the image's shorter side; the rest keeps the previous mask and the
    window's edge inside the image is held to it. What lets the app answer a stroke at once
    (benchmarks/app_scaled_quality.py measures the NoC of both).
    """

    interaction = "scribble"

    def __init__(
        self,
        name: str = "scribbles",
        iterations: int = 3,
        warm_iterations: int = 0,
        local_margin: float = 0.0,
        **watershed_params,
    ):
        if iterations < 1 or warm_iterations < 0 or local_margin < 0:
            raise ValueError(f"{name}: iterations >= 1, warm_iterations >= 0 and local_margin >= 0")
        self.name, self.iterations, self.warm_iterations = name, iterations, warm_iterations
        self.local_margin = local_margin
        self.watershed = WatershedMarkers(name=name, **watershed_params)

    def start(self, image: np.ndarray, initial_mask: np.ndarray | None = None) -> ScribbleSession:
        return ScribbleSession(self, image, initial_mask)


def frame_inside(shape: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """bool ``shape``: the one-pixel edge of ``box`` (y0, x0, y1, x1), where it is not the
    image's own border."""
    y0, x0, y1, x1 = box
    edge = np.zeros(shape, bool)
    if y0 > 0:
        edge[y0, x0:x1] = True
    if y1 < shape[0]:
        edge[y1 - 1, x0:x1] = True
    if x0 > 0:
        edge[y0:y1, x0] = True
    if x1 < shape[1]:
        edge[y0:y1, x1 - 1] = True
    return edge


class ScribbleSession:
    def __init__(self, method: ScribbleGrabCut, image: np.ndarray, initial_mask):
        self.method = method
        self.markers = method.watershed.start(image, initial_mask)
        self._mask = self.markers.mask
        self.models: tuple[np.ndarray, np.ndarray] | None = None  # the last stroke's, read-only

    @property
    def mask(self) -> np.ndarray:
        return self._mask.copy()

    def add(self, interaction) -> np.ndarray:
        m = self.method
        prior = self.markers.add(interaction)
        labels = np.where(prior, PR_FGD, PR_BGD).astype(np.uint8)
        warm = m.warm_iterations > 0 and self.models is not None
        box = (0, 0, *self.markers.shape)
        if warm and m.local_margin > 0:
            margin = int(round(m.local_margin * min(self.markers.shape)))
            box = box_of(self.markers.strokes[-1].points, self.markers.shape, margin)
            edge = frame_inside(self.markers.shape, box)
            labels[edge] = np.where(self._mask[edge], FGD, BGD)
        paint_strokes(labels, self.markers.strokes, m.watershed.stroke_width, FGD, BGD)
        y0, x0, y1, x1 = box
        window, models = grabcut_models(
            np.ascontiguousarray(self.markers.image[y0:y1, x0:x1]),
            labels[y0:y1, x0:x1],
            m.warm_iterations if warm else m.iterations,
            self.models if warm else None,
        )
        if models is not None or not warm:
            self.models = models
        result = self._mask.copy() if warm and m.local_margin > 0 else np.zeros_like(prior)
        result[y0:y1, x0:x1] = window
        anchors = [
            Click(int(y), int(x)) for s in self.markers.strokes if s.positive for y, x in s.points
        ]
        self._mask = keep_anchored(result, anchors, self.markers.initial)
        return self.mask
