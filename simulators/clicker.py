"""The standard NoC clicker (as in RITM's evaluation), with an optional, seeded noise model.

The next click goes to the pixel of the largest error region that lies farthest from that
region's boundary: positive on a missed object pixel (false negative), negative on a false
positive. Ground truth is ``bool`` or ``uint8`` with ``IGNORE`` marking pixels that never count
as errors (GrabCut's boundary band, pixels outside a unit); see ``encode_gt``.
"""

from __future__ import annotations

import numpy as np

from al_loop.core.geometry import error_distance, split_gt
from al_loop.core.interactions import Click


def farthest_error_click(
    gt: np.ndarray, pred: np.ndarray, not_clicked: np.ndarray | None = None
) -> Click | None:
    """The noiseless NoC click, or None when no error pixel is left.

    Ties between the FN and FP maxima go to a negative click and ties between pixels to the
    first in raster order, exactly as RITM's clicker.
    """
    obj, ignore = split_gt(gt)
    pred = np.asarray(pred, dtype=bool)
    valid = ~ignore
    fn_dist = error_distance(obj & ~pred & valid)
    fp_dist = error_distance(~obj & pred & valid)
    if not_clicked is not None:
        fn_dist *= not_clicked
        fp_dist *= not_clicked
    fn_max, fp_max = float(fn_dist.max()), float(fp_dist.max())
    if max(fn_max, fp_max) <= 0.0:
        return None
    positive = fn_max > fp_max
    dist, best = (fn_dist, fn_max) if positive else (fp_dist, fp_max)
    ys, xs = np.nonzero(dist == best)
    return Click(int(ys[0]), int(xs[0]), positive)


class NocClicker:
    """Simulated user for click methods. Deterministic for a given seed; noise is off by default.

    ``jitter``: standard deviation (pixels) of Gaussian noise added to each click position.
    ``wrong_click_prob``: probability that a click carries the wrong sign.
    """

    name = "noc_clicker"
    stops_at_target = True  # the annotation loop stops it at the target IoU or the cap

    def __init__(self, seed: int = 0, jitter: float = 0.0, wrong_click_prob: float = 0.0):
        if jitter < 0 or not 0.0 <= wrong_click_prob <= 1.0:
            raise ValueError("jitter must be >= 0 and wrong_click_prob in [0, 1]")
        self.seed, self.jitter, self.wrong_click_prob = seed, jitter, wrong_click_prob
        self.reset()

    def reset(self) -> None:
        self.clicks: list[Click] = []
        self._rng = np.random.default_rng(self.seed)

    @property
    def noisy(self) -> bool:
        return self.jitter > 0 or self.wrong_click_prob > 0

    def next_interaction(self, gt: np.ndarray, current: np.ndarray) -> Click | None:
        not_clicked = np.ones(np.shape(current), dtype=np.float32)
        for c in self.clicks:
            not_clicked[c.y, c.x] = 0.0
        click = farthest_error_click(gt, current, not_clicked)
        if click is None:
            return None
        if self.noisy:
            click = self._perturb(click, np.shape(current))
        self.clicks.append(click)
        return click

    def _perturb(self, click: Click, shape: tuple[int, ...]) -> Click:
        # Always draw the same numbers per click so the rng stream does not depend on outcomes.
        dy, dx = self._rng.normal(0.0, 1.0, size=2) * self.jitter
        flip = self._rng.random() < self.wrong_click_prob
        y = int(np.clip(round(click.y + dy), 0, shape[0] - 1))
        x = int(np.clip(round(click.x + dx), 0, shape[1] - 1))
        return Click(y, x, click.positive != flip)

    def get_state(self) -> dict:
        return {
            "clicks": [[c.y, c.x, c.positive] for c in self.clicks],
            "rng": self._rng.bit_generator.state,
        }

    def set_state(self, state: dict) -> None:
        self.clicks = [Click(int(y), int(x), bool(p)) for y, x, p in state["clicks"]]
        self._rng = np.random.default_rng(self.seed)
        self._rng.bit_generator.state = state["rng"]
