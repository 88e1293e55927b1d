import numpy as np
import pytest

from al_loop.annotators.simulated import annotate_object
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError, DataError
from al_loop.core.interactions import Box, Click, ExtremePoints, InsideOutside
from al_loop.interactive import LEARNED_METHODS, METHODS, make_method
from simulators import USERS, make_user
from tests.interactive.learned_fakes import tiny_weights

KINDS = {"ritm_clicks": "click", "dextr": "extreme_points", "iog": "inside_outside"}


def disc_scene(h: int = 48, w: int = 64) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:h, :w]
    gt = (yy - 24) ** 2 + (xx - 30) ** 2 <= 12**2
    image = np.full((h, w, 3), 90, np.uint8)
    image[gt] = (200, 60, 50)
    return image, gt


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("learned")
    return {name: str(tiny_weights(folder, kind)) for name, kind in KINDS.items()}


def test_learned_methods_are_registered_with_a_simulated_user():
    assert set(KINDS) == set(LEARNED_METHODS) <= set(METHODS)
    for name, kind in KINDS.items():
        method = make_method(name)  # cheap: weights are read on the first start
        assert method.name == name and method.interaction == kind and kind in USERS


@pytest.mark.parametrize("name", sorted(KINDS))
def test_methods_run_through_their_simulated_user(name, weights):
    image, gt = disc_scene()
    method = make_method(name, weights=weights[name])
    user = make_user(method.interaction, seed=0)
    result = annotate_object(
        method, user, image, gt, CostTable.load(), max_interactions=4, target_iou=1.01
    )
    assert len(result.interactions) == 4 and len(result.ious) == 4
    assert result.mask.dtype == bool and result.mask.shape == gt.shape
    assert result.seconds > 0


@pytest.mark.parametrize("name", sorted(KINDS))
def test_sessions_are_deterministic(name, weights):
    image, gt = disc_scene()

    def run():
        method = make_method(name, weights=weights[name])
        user, session = make_user(method.interaction, seed=1), method.start(image)
        masks = []
        for _ in range(3):
            masks.append(session.add(user.next_interaction(gt, session.mask)))
        return masks, session.probabilities

    (first, p1), (second, p2) = run(), run()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert np.array_equal(p1, p2) and p1.dtype == np.float32


@pytest.mark.parametrize("name", sorted(KINDS))
def test_a_session_starts_from_the_initial_mask(name, weights):
    image, gt = disc_scene()
    initial = np.zeros_like(gt)
    initial[5:20, 5:20] = True
    method = make_method(name, weights=weights[name])
    assert not method.start(image).mask.any()
    assert np.array_equal(method.start(image, initial).mask, initial)


def test_clicks_correct_an_external_mask_only_inside_the_frame_for_crops(weights):
    image, gt = disc_scene()
    initial = np.zeros_like(gt)
    initial[:, 50:] = True  # a wrong band far from the clicks
    session = make_method("iog", weights=weights["iog"]).start(image, initial)
    mask = session.add(Click(24, 30, positive=True))  # no opening: the crop is around the click
    assert np.array_equal(mask[:, 55:], initial[:, 55:])  # outside the crop: untouched


def test_an_opening_replaces_the_initial_mask_and_fixes_the_crop(weights):
    image, gt = disc_scene()
    session = make_method("dextr", weights=weights["dextr"]).start(image, np.ones_like(gt))
    session.add(ExtremePoints(((12, 30), (36, 30), (24, 18), (24, 42))))
    y0, x0, y1, x1 = session.frame.box
    assert y0 < 12 and y1 > 36 and x0 < 18 and x1 > 42
    assert not session.mask[0, 0]  # far outside the crop: background now
    session.add(Click(0, 63, positive=True))  # outside the crop: the crop grows to hold it
    assert session.frame.box[3] > 63


@pytest.mark.parametrize("name", sorted(KINDS))
def test_negative_clicks_alone_never_create_an_object(name, weights):
    image, _ = disc_scene()
    session = make_method(name, weights=weights[name]).start(image)
    assert not session.add(Click(5, 5, positive=False)).any()
    assert not session.add(Click(40, 60, positive=False)).any()


def test_bad_input_is_refused_clearly(weights, tmp_path):
    image, gt = disc_scene()
    method = make_method("ritm_clicks", weights=weights["ritm_clicks"])
    with pytest.raises(DataError, match=r"uint8 RGB image"):
        method.start(image[..., 0])
    with pytest.raises(DataError, match="initial mask"):
        method.start(image, np.zeros((5, 5), bool))
    session = method.start(image)
    with pytest.raises(ValueError, match="outside image"):
        session.add(Click(100, 0))
    with pytest.raises(TypeError, match="Box"):
        session.add(Box(0, 0, 10, 10))
    with pytest.raises(ValueError, match="four extreme points"):
        make_method("dextr", weights=weights["dextr"]).start(image).add(
            ExtremePoints(((1, 1), (2, 2)))
        )
    with pytest.raises(TypeError):
        make_method("dextr", weights=weights["dextr"]).start(image).add(
            InsideOutside(((1, 1), (20, 20)), (10, 10))
        )


def test_missing_or_mismatched_weights_are_config_errors(weights, tmp_path):
    image, _ = disc_scene()
    with pytest.raises(ConfigError, match="nothing.pt") as err:
        make_method("ritm_clicks", weights=tmp_path / "nothing.pt").start(image)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="trained for 'click'"):
        make_method("dextr", weights=weights["ritm_clicks"]).start(image)
    with pytest.raises(ConfigError, match="threshold"):
        make_method("iog", threshold=1.5)


def test_noc_cli_takes_the_weights_as_a_method_param(weights, tmp_path, capsys):
    from al_loop.data import BINARY_CLASSES, SegmentationData, write_folder
    from al_loop.wiring.cli import main

    image, gt = disc_scene()
    data = SegmentationData(
        ["a", "b"], np.stack([image, image]), np.stack([gt, gt]).astype(np.uint8),
        list(BINARY_CLASSES), "test",
    )  # fmt: skip
    write_folder(data, tmp_path / "set")
    argv = ["noc", "--method", "iog", "--dataset", str(tmp_path / "set"), "--threads", "1"]
    argv += ["--max-interactions", "2", "--out", str(tmp_path / "noc")]
    assert main([*argv, "--param", f"iog.weights={weights['iog']}"]) == 0
    assert (tmp_path / "noc" / "noc_iog.csv").is_file()
    assert main([*argv, "--param", f"dextr.weights={weights['dextr']}"]) == 2
    assert "METHOD.KEY=VALUE" in capsys.readouterr().err
    assert main([*argv, "--param", f"iog.weights={tmp_path / 'none.pt'}"]) == 2
    assert "none.pt" in capsys.readouterr().err


def test_the_loop_annotator_uses_the_default_weights_and_the_model_mask(tmp_path, monkeypatch):
    from al_loop.annotators.simulated import SimulatedAnnotator
    from al_loop.core.units import Unit

    monkeypatch.chdir(tmp_path)  # the default weights path is relative: models/interactive/
    folder = tmp_path / "models" / "interactive"
    folder.mkdir(parents=True)
    tiny_weights(folder, "click").rename(folder / "ritm_clicks.pt")
    (folder / "click.json").rename(folder / "ritm_clicks.json")
    image, gt = disc_scene()
    annotator = SimulatedAnnotator(
        gt[None].astype(np.uint8), "ritm_clicks", CostTable.load(), max_interactions=3,
        use_initial=True,
    )  # fmt: skip
    box = (0, 0, *gt.shape)
    result = annotator.annotate(
        Unit(0, 0), image, box, np.ones(gt.shape, bool), gt.astype(np.uint8)
    )
    assert result.method == "ritm_clicks" and result.mask.shape == gt.shape
    assert np.array_equal(result.mask, gt)  # the model's mask was right: nothing to click
    wrong = annotator.annotate(Unit(0, 0), image, box, np.ones(gt.shape, bool), 0 * gt)
    assert wrong.seconds > 0 and any(r.get("type") == "Click" for r in wrong.interactions)
