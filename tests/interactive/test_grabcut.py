import cv2
import numpy as np

from al_loop.interactive.grabcut import BGD, FGD, PR_BGD, PR_FGD, grabcut_models, run_grabcut
from tests.interactive.test_methods import disc_scene


def _labels(gt: np.ndarray) -> np.ndarray:
    """A rough prior around the disc (a box), a definite seed inside and outside."""
    labels = np.full(gt.shape, PR_BGD, np.uint8)
    labels[12:50, 20:58] = PR_FGD
    cv2.circle(labels, (38, 30), 3, int(FGD), -1)
    labels[0, :] = BGD
    return labels


def test_a_warm_start_segments_like_a_fresh_fit_and_keeps_the_callers_models():
    image, gt = disc_scene()
    labels = _labels(gt)
    fresh, models = grabcut_models(image, labels, 2)
    assert np.array_equal(fresh, run_grabcut(image, labels, 2))
    kept = [m.copy() for m in models]
    warm, warmed = grabcut_models(image, labels, 1, models)
    assert (warm & gt).sum() / (warm | gt).sum() >= 0.9
    assert (warm != fresh).sum() <= 0.01 * gt.size  # the same object, not a different cut
    assert all(np.array_equal(m, k) for m, k in zip(models, kept, strict=True))
    assert warmed[0] is not models[0] and not warmed[0].flags.writeable


def test_one_sided_labels_give_their_foreground_and_no_models():
    image, gt = disc_scene()
    labels = np.full(gt.shape, PR_BGD, np.uint8)
    labels[5, 5:8] = FGD  # three foreground pixels: too few for a colour model
    mask, models = grabcut_models(image, labels, 1)
    assert models is None and mask.sum() == 3 and mask[5, 5:8].all()
