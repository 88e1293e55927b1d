"""Where a learned method finds its weights: the given path, else models/interactive/ of the
working directory, else the repository's shipped file; clicks' zoom-in (RITM): where a crop's
prediction goes, when it equals the whole frame's, when the crop changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from al_loop.core.interactions import Click, InsideOutside
from al_loop.interactive.learned import methods
from al_loop.interactive.learned.encodings import Frame, contains, frame_region, whole_frame
from al_loop.interactive.learned.methods import iog, ritm_clicks
from al_loop.interactive.learned.network import export_weights
from tests.interactive.learned_fakes import tiny_weights


def test_weights_come_from_the_working_directory_then_the_repository(tmp_path, monkeypatch):
    shipped_dir = tmp_path / "repo" / "models" / "interactive"
    monkeypatch.setattr(methods, "SHIPPED_DIR", shipped_dir)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    local = Path("models/interactive/ritm_clicks.pt")
    assert methods.ritm_clicks().weights == local  # neither exists: errors name this one

    shipped = export_weights(tiny_weights(tmp_path, "click"), shipped_dir / "ritm_clicks.pt")
    assert methods.ritm_clicks().weights == shipped
    assert methods.ritm_clicks().load()[1]["interaction"] == "click"  # and it loads
    assert methods.dextr().weights == Path("models/interactive/dextr.pt")  # per method

    export_weights(tiny_weights(tmp_path, "click"), local)
    assert methods.ritm_clicks().weights == local
    given = tmp_path / "elsewhere.pt"
    assert methods.ritm_clicks(weights=given).weights == given


# ------------------------------------------------------------------------ zoom-in (clicks)


class RedChannel(torch.nn.Module):
    """A stand-in network whose probability is the input's red channel / 255: what it returns
    on a frame is the image resampled, so a prediction's place and scale can be checked."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # for the device

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor, guidance: torch.Tensor) -> torch.Tensor:
        return torch.logit(x[:, :1] / 255.0)


def ramp_scene() -> np.ndarray:
    yy, xx = np.mgrid[:48, :64]
    image = np.zeros((48, 64, 3), np.uint8)
    image[..., 0] = 40 + 2 * xx + yy  # linear: bilinear resampling reproduces it exactly
    return image


def test_a_zoomed_prediction_is_pasted_back_at_its_place_and_scale():
    image = ramp_scene()
    previous = np.zeros((48, 64), np.uint8)
    previous[:5] = 1  # outside the frame: kept
    frame = Frame((8.0, 16.0, 40.0, 48.0), (64, 64))  # a 32x32 crop magnified twice
    geometry = {"encoding": "disk", "radius": 3.0, "sigma": 3.0}
    prob = methods.predict_frame(RedChannel(), image, frame, [(20, 30)], [], previous, geometry)
    ys, xs = frame_region(frame, (48, 64))
    assert (ys, xs) == (slice(8, 40), slice(16, 48))
    inner = (slice(9, 39), slice(17, 47))  # the region's border meets the frame's edge
    np.testing.assert_allclose(prob[inner], image[inner][..., 0] / 255.0, atol=1e-4)
    outside = np.ones((48, 64), bool)
    outside[ys, xs] = False
    assert np.array_equal(prob[outside], previous[outside].astype(np.float32))


def test_a_zoom_crop_of_the_whole_image_predicts_as_the_whole_frame(tmp_path):
    """Zoomed and whole-frame inference are one computation when their frames agree."""
    weights = tiny_weights(tmp_path, "click", seed=2)  # long_side 64 = crop_size: 64x64 frames
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(64, 64, 3), dtype=np.uint8)
    zoomed = ritm_clicks(weights=weights, zoom_scale=(1.0, 1.0)).start(image)
    whole = ritm_clicks(weights=weights, zoom_in=False).start(image)
    previous = np.zeros((64, 64), bool)
    previous[2:62, 2:62] = True  # a mask whose grown box is the whole image
    for session in (zoomed, whole):
        session.probabilities = previous.astype(np.float32)
        session.add(Click(30, 30, True))
        session.add(Click(40, 20, True))
    assert zoomed.frame == whole.frame == Frame((0.0, 0.0, 64.0, 64.0), (64, 64))
    assert np.array_equal(zoomed.probabilities, whole.probabilities)


def test_clicks_zoom_in_after_the_first_and_reuse_the_crop(tmp_path):
    weights = tiny_weights(tmp_path, "click")
    image = np.random.default_rng(1).integers(0, 255, size=(96, 128, 3), dtype=np.uint8)
    method = ritm_clicks(weights=weights, zoom_scale=(1.0, 2.0))  # whole image: scale 0.5
    session = method.start(image)
    session.add(Click(40, 50, True))
    assert session.frame == whole_frame((96, 128), 64)
    session.probabilities = np.zeros((96, 128), np.float32)
    session.probabilities[30:50, 40:60] = 1.0  # the mask the crop is made around
    session.add(Click(45, 55, False))
    crop = session.frame
    assert crop == Frame((8.0, 18.0, 72.0, 82.0), (64, 64))  # 64 pixels at scale 1 (2x0.5)
    assert all(contains(crop, p) for p in [(30, 40), (49, 59), (40, 50)])
    cached = session._input[1]
    session.add(Click(42, 48, True))  # inside the crop: the crop and its input are kept
    assert session.frame == crop and session._input[1] is cached
    session.add(Click(90, 120, True))  # a positive click outside: a new crop holds it
    assert session.frame != crop and contains(session.frame, (90, 120))
    # without zoom-in every click sees the whole image
    plain = ritm_clicks(weights=weights, zoom_in=False).start(image)
    for click in (Click(40, 50, True), Click(45, 55, False), Click(90, 120, True)):
        plain.add(click)
        assert plain.frame == whole_frame((96, 128), 64)


def test_the_first_click_sees_the_whole_image_at_its_own_size(tmp_path):
    """``first_long_side`` sizes only the first click's whole frame (at most ``long_side``);
    later clicks' frames are those of the default, zoomed or whole."""
    weights = tiny_weights(tmp_path, "click")  # long_side 64
    image = np.random.default_rng(3).integers(0, 255, size=(96, 128, 3), dtype=np.uint8)
    mask = np.zeros((96, 128), np.float32)
    mask[20:76, 30:100] = 1.0  # its zoom crop overlaps the whole image by over half
    clicks = [Click(40, 50, True), Click(45, 55, False), Click(60, 70, True)]
    frames = {}
    for first, zoom_in in ((None, True), (32, True), (None, False), (32, False), (128, True)):
        session = ritm_clicks(weights=weights, first_long_side=first, zoom_in=zoom_in).start(image)
        seen = []
        for i, click in enumerate(clicks):
            session.add(click)
            seen.append(session.frame)
            if i == 0:
                session.probabilities = mask.copy()
        frames[first, zoom_in] = seen
    assert frames[32, True][0] == frames[32, False][0] == whole_frame((96, 128), 32)
    assert frames[None, True][0] == frames[128, True][0] == whole_frame((96, 128), 64)  # capped
    assert frames[32, True][1:] == frames[None, True][1:]  # zoomed, not the first frame kept
    assert frames[32, True][1] != whole_frame((96, 128), 64)
    assert frames[32, False][1:] == frames[None, False][1:] == [whole_frame((96, 128), 64)] * 2


def test_zoom_and_size_settings_are_checked():
    for bad in (
        {"zoom_size": 100},
        {"long_side": 16},
        {"first_long_side": 300},
        {"crop_scale": 0.1},
        {"zoom_scale": (2.0, 1.0)},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ritm_clicks(**bad)


def test_a_crop_methods_crop_is_seen_at_a_scale_of_the_training_crop(tmp_path):
    """``crop_scale`` sets the side of IOG's (and DEXTR's) crop in network pixels relative to
    the weights' ``crop_size`` (a multiple of 32), the crop's box in the image unchanged."""
    weights = tiny_weights(tmp_path, "inside_outside")
    image = np.random.default_rng(4).integers(0, 255, size=(96, 128, 3), dtype=np.uint8)
    opening = InsideOutside(inside=(48, 60), corners=((20, 30), (80, 100)))
    sessions = {scale: iog(weights=weights, crop_scale=scale).start(image) for scale in (1, 1.5)}
    for session in sessions.values():
        session.add(opening)
    crop = sessions[1].meta["crop_size"]
    side = round(crop * 1.5 / 32) * 32
    assert sessions[1].frame.size == (crop, crop) and side != crop
    assert sessions[1.5].frame == sessions[1].frame._replace(size=(side, side))
    assert sessions[1.5].mask.shape == image.shape[:2]
