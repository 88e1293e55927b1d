"""The learned methods: one guided network, three ways for a person to guide it.

- ``ritm_clicks`` (RITM, Sofiiuk et al. 2022): clicks as disks on the whole image plus the
  previous mask; can start from an external mask (the downstream segmenter's) and correct it.
- ``dextr`` (Maninis et al. 2018): four extreme points -> a crop around them with a margin ->
  a Gaussian heat map of the points; further clicks refine (heat maps of clicks).
- ``iog`` (Zhang et al. 2020): two box corners (background heat map) and an inside click
  (foreground heat map) on the crop; further clicks refine.

What a network was trained with (interaction kind, input size, radius, sigma, crop margin) is
read from its weights' metadata, so inference always matches training. Without a ``weights``
parameter a method uses ``models/interactive/NAME.pt`` of the working directory if there is one
(what ``train-interactive`` writes by default), else the one shipped in the repository's
``models/interactive/`` (float16, see network.py). Weights are read on
the first ``start`` (cheap to build and list; the CLI and app introspect the registry), a
missing file is a one-line ConfigError naming it. Masks are the network's probability
thresholded at 0.49 (the NoC protocol's threshold); ``session.probabilities`` has the map.

Clicks (``ritm_clicks``) see the whole image at ``first_long_side`` (288, at most ``long_side``)
for the first click, then, with ``zoom_in`` (RITM's ZoomIn), a crop around the current mask and
the positive clicks, grown 1.4 times, at the training crop size (``zoom_size``), pasted back;
the crop is kept while the clicks stay inside it and it overlaps the new one by half (RITM), so
its network input is reused. The crop's scale stays within ``zoom_scale`` times the whole
image's, (0.5, 1.33): small objects are not magnified past training's largest scale jitter
(1.33); a large object's crop grows past 256 pixels rather than drop below half the whole
image's scale (RITM always shows 400 pixels). Measured on all 50 GrabCut images with the
2,000-step weights (first click at 448): NoC@90 7.40 at (0.5, 1.33), 7.34 at (0.75, 1.33)
(paired difference +0.06 +- 0.32) and 7.90 whole-frame, the lower bound 0.5 about 20 % faster
per click than 0.75. Why zoom in: per-click latency at 640x480 on one core (the whole frame at
448 costs 2.5x a 256x256 crop) and RITM's refinement on the object. Batch norms are folded into
the convolutions once the weights are read (``fuse_batchnorm``). The first click at 288 px
instead of the weights' 448 (``first_long_side``; later clicks are unchanged): all 50 GrabCut
images NoC@85 / NoC@90 5.54 / 6.98 instead of 6.00 / 7.36 (paired differences -0.46 +- 0.52 and
-0.38 +- 0.53, 95 %), IoU after one click 0.45 instead of 0.31; 60 held-out DAVIS frames 10.27 /
14.22 instead of 10.67 / 14.45; 160-256 px score alike within noise (README). A 640x480 image's
first click then costs 0.45-0.50x what it did, about 0.12 s beside a zoomed click's 0.10-0.11
(benchmarks/bench_interactive_latency.py, README).

DEXTR's and IOG's crop is seen at ``crop_scale`` (1.25) times the training's side, 320 px for
256-px weights, its heat maps' sigma grown alike. With the shipped weights, NoC@90 on all 50
GrabCut images: iog 4.10 -> 3.22, dextr 3.06 -> 2.58; on 137 held-out DAVIS frames 12.52 ->
10.77 and 12.06 -> 10.17; 1.5 was better still on DAVIS (10.30, 9.69) but worse on GrabCut
(3.38, 2.98). About 78 ms per interaction at 640x480 against 47 ms at 256 px (README).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from al_loop.core.errors import ConfigError, DataError
from al_loop.core.interactions import Click, ExtremePoints, InsideOutside
from al_loop.interactive.learned.encodings import (
    DEFAULT_ENCODINGS,
    STRIDE,
    Frame,
    box_iou,
    contains,
    crop_frame,
    frame_region,
    guidance_maps,
    to_frame,
    warp_from_frame,
    warp_to_frame,
    whole_frame,
    zoom_frame,
)
from al_loop.interactive.noc import PROB_THRESHOLD as THRESHOLD

if TYPE_CHECKING:  # torch is imported on first use: listing METHODS stays light
    import torch

    from al_loop.interactive.learned.network import GuidedUnet

WEIGHTS_DIR = Path("models/interactive")  # where `al-loop train-interactive` writes by default
# the repository's shipped weights (al_loop/interactive/learned/ -> the repository root)
SHIPPED_DIR = Path(__file__).resolve().parents[3] / "models" / "interactive"
OPENINGS = {"extreme_points": ExtremePoints, "inside_outside": InsideOutside}
ZOOM_EXPANSION = 1.4  # RITM's ZoomIn: the object's box grown 1.4 times
ZOOM_KEEP_IOU = 0.5  # RITM: the crop is recomputed when the new one overlaps it less
FIRST_LONG_SIDE = 288  # the first click's whole image (at most long_side): see the docstring
CROP_SCALE = 1.25  # DEXTR's and IOG's crop at 1.25x the training side (320 px): see the docstring


def check_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DataError(
            f"{name}: expects a uint8 RGB image [H,W,3], got {image.dtype} {image.shape}"
        )
    return np.ascontiguousarray(image)


def frame_input(network: GuidedUnet, image: np.ndarray, frame: Frame) -> torch.Tensor:
    """The network's image input for ``frame``: [1,3,h,w] normalised float32, channels last."""
    import torch

    device = next(network.parameters()).device
    x = torch.from_numpy(warp_to_frame(image, frame)).to(device)  # [h,w,3] uint8
    x = x.permute(2, 0, 1)[None].float()  # a channels-last view, no copy of the layout
    with torch.inference_mode():
        return network.normalise(x).contiguous(memory_format=torch.channels_last)


def predict_frame(
    network: GuidedUnet,
    image: np.ndarray,
    frame: Frame,
    positives: list,
    negatives: list,
    previous: np.ndarray,
    geometry: dict[str, Any],
    x: torch.Tensor | None = None,
) -> np.ndarray:
    """float32 [H,W] object probability on the image grid: the network's inside ``frame``,
    ``previous`` (0/1) outside it. Points and ``previous`` are in image coordinates; ``x`` is
    :func:`frame_input` of ``image`` and ``frame`` when already made."""
    import torch

    device = next(network.parameters()).device
    if x is None:
        x = frame_input(network, image, frame)
    frame_previous = warp_to_frame(previous.astype(np.uint8), frame, nearest=True)
    guidance = guidance_maps(
        frame.size,
        to_frame(positives, frame),
        to_frame(negatives, frame),
        frame_previous,
        geometry["encoding"],
        geometry["radius"],
        geometry["sigma"],
    )
    g = torch.from_numpy(guidance)[None].to(device)
    with torch.inference_mode():
        prob = torch.sigmoid(network(x, g))[0, 0].cpu().numpy()
    shape = image.shape[:2]
    out = previous.astype(np.float32)
    ys, xs = frame_region(frame, shape)
    out[ys, xs] = warp_from_frame(prob, frame, shape)[ys, xs]
    return out


def default_weights(name: str) -> Path:
    """``models/interactive/NAME.pt`` of the working directory when it exists, else the
    repository's shipped file when that exists, else the former (errors name it)."""
    local, shipped = WEIGHTS_DIR / f"{name}.pt", SHIPPED_DIR / f"{name}.pt"
    return shipped if not local.is_file() and shipped.is_file() else local


class LearnedMethod:
    """A learned interactive method; ``weights`` is a file written by train-interactive."""

    def __init__(
        self,
        name: str,
        interaction: str,
        weights: str | Path | None = None,
        device: str = "cpu",
        threshold: float = THRESHOLD,
        zoom_in: bool = True,
        zoom_size: int | None = None,
        zoom_scale: tuple[float, float] = (0.5, 1.33),
        long_side: int | None = None,
        first_long_side: int | None = FIRST_LONG_SIDE,
        crop_scale: float = CROP_SCALE,
        fuse_batchnorm: bool = True,
    ):
        """``zoom_in``: clicks after the first on a crop around the mask (clicks only);
        ``zoom_size``: its long side in network pixels (default the weights' ``crop_size``);
        ``zoom_scale``: its scale's bounds relative to the whole image's; ``long_side``: the whole
        image's (default the weights'); ``first_long_side``: the whole image's for a session's
        first click, at most ``long_side`` (None: ``long_side``); ``crop_scale``: DEXTR's and
        IOG's crop side in network pixels over the weights' ``crop_size`` (rounded to a
        multiple of 32; 1.0: the training size); ``fuse_batchnorm``: fold batch norms into
        the convolutions (same outputs, faster)."""
        if interaction not in DEFAULT_ENCODINGS:
            raise ValueError(f"{name}: interaction must be one of {sorted(DEFAULT_ENCODINGS)}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"{name}: threshold must be in (0, 1)")
        sizes = (("zoom_size", zoom_size), ("long_side", long_side))
        for key, size in sizes + (("first_long_side", first_long_side),):
            if size is not None and (int(size) != size or size < STRIDE or size % STRIDE):
                raise ValueError(f"{name}: {key} must be a multiple of {STRIDE}, got {size}")
        low, high = (float(v) for v in zoom_scale)
        if not 0.0 < low <= high:
            raise ValueError(f"{name}: zoom_scale must be (low, high) with 0 < low <= high")
        self.zoom_in, self.zoom_size, self.zoom_scale = bool(zoom_in), zoom_size, (low, high)
        self.long_side, self.first_long_side = long_side, first_long_side
        if not 0.5 <= float(crop_scale) <= 4.0:
            raise ValueError(f"{name}: crop_scale must be in [0.5, 4], got {crop_scale}")
        self.crop_scale = float(crop_scale)
        self.fuse_batchnorm = bool(fuse_batchnorm)
        self.name, self.interaction, self.device, self.threshold = (
            name,
            interaction,
            device,
            threshold,
        )
        self.weights = Path(weights) if weights is not None else default_weights(name)
        self._loaded: tuple[GuidedUnet, dict[str, Any]] | None = None

    def use_weights(self, weights: str | Path) -> None:
        """Switch to other weights (e.g. retrained on a run's labels); read on the next start."""
        self.weights, self._loaded = Path(weights), None

    def load(self) -> tuple[GuidedUnet, dict[str, Any]]:
        """(network, metadata), read once; ConfigError when missing or trained for another
        interaction."""
        if self._loaded is None:
            from al_loop.interactive.learned.network import load_weights

            network, meta = load_weights(self.weights, self.device)
            if meta.get("interaction") != self.interaction:
                raise ConfigError(
                    f"{self.weights}: trained for {meta.get('interaction')!r} interactions, "
                    f"method {self.name} takes {self.interaction!r}"
                )
            if self.fuse_batchnorm:
                from al_loop.interactive.learned.network import fuse_batchnorm

                fuse_batchnorm(network)
            self._loaded = network, meta
        return self._loaded

    def start(self, image: np.ndarray, initial_mask: np.ndarray | None = None) -> LearnedSession:
        network, meta = self.load()
        return LearnedSession(self, network, meta, check_image(image, self.name), initial_mask)


class LearnedSession:
    def __init__(
        self,
        method: LearnedMethod,
        network: GuidedUnet,
        meta: dict[str, Any],
        image: np.ndarray,
        initial_mask: np.ndarray | None,
    ):
        self.method, self.network, self.meta, self.image = method, network, meta, image
        self.shape = image.shape[:2]
        if initial_mask is None:
            self.probabilities = np.zeros(self.shape, np.float32)
        else:
            initial = np.asarray(initial_mask, dtype=bool)
            if initial.shape != self.shape:
                raise DataError(
                    f"{method.name}: initial mask {initial.shape} differs from the image "
                    f"{self.shape}"
                )
            self.probabilities = initial.astype(np.float32)
        self.anchors: list[tuple[int, int]] = []  # the opening's points (they fix the crop)
        self.positives: list[tuple[int, int]] = []
        self.negatives: list[tuple[int, int]] = []
        self.frame: Frame | None = None
        self._input: tuple[Frame, torch.Tensor] | None = None  # the last frame's network input

    @property
    def mask(self) -> np.ndarray:
        return self.probabilities > self.method.threshold

    def add(self, interaction) -> np.ndarray:
        opening = OPENINGS.get(self.method.interaction)
        if opening is not None and isinstance(interaction, opening):
            self._open(interaction)
        elif isinstance(interaction, Click):
            self._click(interaction)
        else:
            raise TypeError(
                f"{self.method.name}: expects {self.method.interaction} or Click interactions, "
                f"got {type(interaction).__name__}"
            )
        previous = self.mask
        if not self.positives and not previous.any():
            # Nothing was ever marked as object: keep the mask empty rather than let the
            # network guess one from negative clicks alone.
            return previous
        if self._input is None or self._input[0] != self.frame:
            self._input = self.frame, frame_input(self.network, self.image, self.frame)
        self.probabilities = predict_frame(
            self.network,
            self.image,
            self.frame,
            self.positives,
            self.negatives,
            previous,
            self._guidance_geometry(),
            self._input[1],
        )
        return self.mask

    def _point(self, y: int, x: int) -> tuple[int, int]:
        if not (0 <= y < self.shape[0] and 0 <= x < self.shape[1]):
            raise ValueError(f"{self.method.name}: point ({y}, {x}) outside image {self.shape}")
        return int(y), int(x)

    def _crop_side(self) -> int:
        """DEXTR's and IOG's crop side in network pixels: ``crop_scale`` x the training's."""
        side = round(self.meta["crop_size"] * self.method.crop_scale / STRIDE) * STRIDE
        return max(STRIDE, side)

    def _crop(self, points: list) -> Frame:
        m = self.meta
        return crop_frame(points, self._crop_side(), m["margin_fraction"], m["min_margin"])

    def _guidance_geometry(self) -> dict[str, Any]:
        """The weights' geometry, with a crop method's radius and sigma grown with its crop
        side, so its heat maps cover the object as they did in training."""
        if self.method.interaction == "click":
            return self.meta
        grow = self._crop_side() / self.meta["crop_size"]
        return {**self.meta, "radius": self.meta["radius"] * grow,
                "sigma": self.meta["sigma"] * grow}  # fmt: skip

    def _open(self, interaction) -> None:
        if isinstance(interaction, ExtremePoints):
            if len(interaction.points) != 4:
                raise ValueError(f"{self.method.name}: expects four extreme points")
            positives, negatives = [self._point(*p) for p in interaction.points], []
        else:
            positives = [self._point(*interaction.inside)]
            negatives = [self._point(*c) for c in interaction.corners]
        self.anchors = positives + negatives
        self.positives, self.negatives = positives, negatives
        self.probabilities = np.zeros(self.shape, np.float32)  # the person draws the object anew
        self.frame = self._crop(self.anchors)

    def _click(self, click: Click) -> None:
        point = self._point(click.y, click.x)
        (self.positives if click.positive else self.negatives).append(point)
        if self.method.interaction == "click":
            self.frame = self._click_frame()
        elif self.frame is None or not contains(self.frame, point):
            # Clicks before any opening (correcting an initial mask) or outside the crop grow
            # the crop to hold every point so far.
            self.frame = self._crop(self.anchors + self.positives + self.negatives)

    def _click_frame(self) -> Frame:
        """The whole image for the first click or without zoom-in; else RITM's zoom-in crop,
        the current one kept while it holds every positive click and overlaps the new one by
        ``ZOOM_KEEP_IOU``."""
        method = self.method
        long_side = method.long_side or self.meta["long_side"]
        first = whole_frame(self.shape, min(method.first_long_side or long_side, long_side))
        if len(self.positives) + len(self.negatives) <= 1:
            return first
        whole = whole_frame(self.shape, long_side)
        if not method.zoom_in:
            return whole
        # the whole image's scale: the zoomed crop's is bounded relative to it
        scale = long_side / max(self.shape)
        zoom = zoom_frame(
            self.mask,
            self.positives,
            ZOOM_EXPANSION,
            (scale * method.zoom_scale[0], scale * method.zoom_scale[1]),
            method.zoom_size or self.meta["crop_size"],
        )
        if zoom is None:
            return whole
        current = self.frame
        if (
            current is not None
            and current not in (whole, first)
            and all(contains(current, p) for p in self.positives)
            and box_iou(current.box, zoom.box) >= ZOOM_KEEP_IOU
        ):
            return current
        return zoom


def ritm_clicks(**params) -> LearnedMethod:
    return LearnedMethod(**{"name": "ritm_clicks", "interaction": "click", **params})


def dextr(**params) -> LearnedMethod:
    return LearnedMethod(**{"name": "dextr", "interaction": "extreme_points", **params})


def iog(**params) -> LearnedMethod:
    return LearnedMethod(**{"name": "iog", "interaction": "inside_outside", **params})
