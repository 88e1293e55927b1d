import numpy as np
import pytest

from al_loop.core.geometry import encode_gt, error_distance
from al_loop.core.interactions import Click
from al_loop.data.base import IGNORE
from simulators.clicker import NocClicker, farthest_error_click


def square(shape=(40, 40), top=10, size=11) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top : top + size, top : top + size] = True
    return mask


def test_missing_square_first_click_at_its_centre():
    gt = square()  # rows / cols 10..20
    click = NocClicker().next_interaction(gt, np.zeros_like(gt))
    assert click == Click(15, 15, True)


def test_image_border_counts_as_boundary():
    gt = np.zeros((20, 20), bool)
    gt[:, :6] = True  # a band touching the border: the farthest pixel is in its middle column
    click = farthest_error_click(gt, np.zeros_like(gt))
    assert click.positive and click.x in (2, 3)
    assert error_distance(gt)[10, 0] == pytest.approx(1.0)


def test_larger_false_positive_wins_over_smaller_false_negative():
    gt = square(size=11)
    pred = gt.copy()
    pred[10:13, 10:13] = False  # small miss (3x3)
    pred[25:38, 25:38] = True  # large false positive (13x13)
    click = NocClicker().next_interaction(gt, pred)
    assert click == Click(31, 31, False)


def test_larger_false_negative_wins():
    gt = square(size=15)
    pred = np.zeros_like(gt)
    pred[30:33, 30:33] = True  # small false positive
    click = NocClicker().next_interaction(gt, pred)
    assert click.positive and gt[click.y, click.x]


def test_no_error_gives_none():
    gt = square()
    assert NocClicker().next_interaction(gt, gt.copy()) is None


def test_already_clicked_pixel_is_excluded():
    gt = square()
    clicker = NocClicker()
    empty = np.zeros_like(gt)
    first = clicker.next_interaction(gt, empty)
    second = clicker.next_interaction(gt, empty)  # the method ignored the first click
    assert (first.y, first.x) != (second.y, second.x)
    assert second.positive and max(abs(second.y - 15), abs(second.x - 15)) == 1


def test_ignore_band_is_never_an_error():
    gt = square(size=11)
    band = np.zeros_like(gt)
    band[8:23, 8:23] = True
    band[11:20, 11:20] = False  # a ring around the square's edge
    pred = np.zeros_like(gt)
    pred[8:23, 8:23] = True  # right inside, extra only in the ignore ring
    pred[11:20, 11:20] = True
    encoded = encode_gt(gt, band)
    assert encoded[9, 9] == IGNORE
    assert NocClicker().next_interaction(encoded, pred) is None
    # a false positive fully inside the band is ignored; one outside it is clicked
    pred[30:35, 30:35] = True
    click = NocClicker().next_interaction(encoded, pred)
    assert click == Click(32, 32, False)


def test_tie_goes_to_a_negative_click_like_ritm():
    gt = np.zeros((30, 30), bool)
    gt[2:9, 2:9] = True
    pred = np.zeros_like(gt)
    pred[20:27, 20:27] = True  # same size error on both sides
    assert NocClicker().next_interaction(gt, pred).positive is False


def test_state_save_restore_gives_identical_clicks():
    gt = square(size=15)
    pred = np.zeros_like(gt)
    clicker = NocClicker(seed=7, jitter=2.0, wrong_click_prob=0.3)
    for _ in range(2):
        clicker.next_interaction(gt, pred)
    state = clicker.get_state()
    expected = [clicker.next_interaction(gt, pred) for _ in range(4)]
    restored = NocClicker(seed=7, jitter=2.0, wrong_click_prob=0.3)
    restored.set_state(state)
    assert [restored.next_interaction(gt, pred) for _ in range(4)] == expected


def test_noise_is_deterministic_for_a_seed_and_off_by_default():
    gt = square(shape=(60, 60), size=30)
    pred = np.zeros_like(gt)

    def run(**kw):
        clicker = NocClicker(**kw)
        return [clicker.next_interaction(gt, pred) for _ in range(10)]

    noisy = run(seed=3, jitter=3.0, wrong_click_prob=0.5)
    assert noisy == run(seed=3, jitter=3.0, wrong_click_prob=0.5)
    assert noisy != run(seed=4, jitter=3.0, wrong_click_prob=0.5)
    assert any(not c.positive for c in noisy)  # some signs flipped
    clean = run(seed=3)
    assert all(c.positive for c in clean) and clean == run(seed=99)
    assert all(0 <= c.y < 60 and 0 <= c.x < 60 for c in noisy)


def test_invalid_noise_parameters():
    with pytest.raises(ValueError):
        NocClicker(jitter=-1)
    with pytest.raises(ValueError):
        NocClicker(wrong_click_prob=1.5)
