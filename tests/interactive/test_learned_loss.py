import math

import pytest
import torch

from al_loop.interactive.learned.loss import normalized_focal_loss


def as_map(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, -1)


def test_uncertain_pixels_give_the_hand_computed_value():
    # p = 0.5 everywhere: p_t = 0.5, focal 0.25, normalised back to 1; loss = 0.5 * ln 2
    loss = normalized_focal_loss(as_map([0.0, 0.0]), as_map([1, 0]))
    assert float(loss) == pytest.approx(0.5 * math.log(2), rel=1e-5)


def test_weights_are_normalised_per_image_towards_the_hard_pixels():
    # p_t = 0.5 and 0.9: focal 0.25 and 0.01, scaled by 2 / 0.26
    logits = as_map([0.0, math.log(9.0)])
    loss = normalized_focal_loss(logits, as_map([1, 1]))
    scale = 2 / 0.26
    expected = (0.5 * 0.25 * scale * math.log(2) + 0.5 * 0.01 * scale * -math.log(0.9)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-4)


def test_ignored_pixels_change_nothing():
    logits, target = as_map([0.0, 0.0, 5.0]), as_map([1, 0, 0])
    valid = as_map([1, 1, 0]).bool()
    masked = normalized_focal_loss(logits, target, valid)
    assert float(masked) == pytest.approx(
        float(normalized_focal_loss(logits[..., :2], target[..., :2]))
    )


def test_the_loss_is_the_mean_over_images_and_finite_for_extreme_logits():
    logits = torch.cat([as_map([0.0, 0.0]), as_map([-80.0, 80.0])]).requires_grad_()
    target = torch.cat([as_map([1, 0]), as_map([1, 0])])
    loss = normalized_focal_loss(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    both_wrong = float(normalized_focal_loss(logits[1:].detach(), target[1:]))
    assert float(loss.detach()) == pytest.approx((0.5 * math.log(2) + both_wrong) / 2, rel=1e-4)


def test_better_predictions_cost_less():
    target = as_map([1, 1, 0, 0])
    good = normalized_focal_loss(as_map([3.0, 2.0, -3.0, -2.0]), target)
    bad = normalized_focal_loss(as_map([-3.0, 2.0, 3.0, -2.0]), target)
    assert float(good) < float(bad)
