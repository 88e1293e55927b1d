import numpy as np
import pytest

from al_loop.annotators.simulated import annotate_object
from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.interactions import Box, Click, Polygon
from al_loop.core.metrics import binary_iou
from al_loop.interactive import LEARNED_METHODS, METHODS, make_method
from simulators import make_user

# Learned methods need trained weights (not in a clean clone); tests/interactive/test_learned_*
# cover them with small fake networks.
CLASSIC_METHODS = sorted(set(METHODS) - LEARNED_METHODS)
CLICK_METHODS = [name for name in CLASSIC_METHODS if make_method(name).interaction == "click"]


def disc_scene(h: int = 64, w: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A reddish disc on a striped, noisy grey-blue background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    gt = (yy - 30) ** 2 + (xx - 38) ** 2 <= 15**2
    stripes = ((xx // 4 + yy // 6) % 2).astype(float)
    image = np.stack([60 + 40 * stripes, 80 + 30 * stripes, 120 + 20 * stripes], axis=-1)
    image[gt] = (200, 60, 50)
    image += rng.normal(0, 8, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), gt


@pytest.fixture(scope="module")
def cost() -> CostTable:
    return CostTable.load()


@pytest.mark.parametrize("name", CLASSIC_METHODS)
def test_every_method_reaches_high_iou_in_a_few_interactions(name, cost):
    image, gt = disc_scene()
    method = make_method(name)
    user = make_user(method.interaction, seed=0)
    result = annotate_object(method, user, image, gt, cost, max_interactions=5, target_iou=0.9)
    assert result.final_iou >= 0.9
    assert len(result.interactions) <= 3
    assert result.mask.dtype == bool and result.mask.shape == gt.shape


@pytest.mark.parametrize("name", CLASSIC_METHODS)
def test_every_method_is_deterministic_and_starts_empty_or_initial(name):
    image, gt = disc_scene()
    method = make_method(name)
    assert not method.start(image).mask.any()
    initial = np.zeros_like(gt)
    initial[5:20, 5:20] = True
    assert np.array_equal(method.start(image, initial).mask, initial)

    def run():
        user = make_user(method.interaction, seed=0)
        session = method.start(image)
        masks = []
        for _ in range(3):
            interaction = user.next_interaction(gt, session.mask)
            if interaction is None:
                break
            masks.append(session.add(interaction))
        return masks

    assert all(np.array_equal(a, b) for a, b in zip(run(), run(), strict=True))


def test_oracle_polygon_is_exact_and_priced_per_instance(cost):
    image, gt = disc_scene()
    gt[28:33, 36:41] = False  # a hole
    method = make_method("oracle_polygon")
    user = make_user(method.interaction)
    result = annotate_object(method, user, image, gt, cost, max_interactions=1, target_iou=0.5)
    assert np.array_equal(result.mask, gt)  # neither the target nor the cap stops the outline
    assert len(result.interactions) == 2
    assert result.seconds == pytest.approx(79.2)


def test_polygon_fills_and_replaces_the_initial_mask():
    image, _ = disc_scene()
    initial = np.ones(image.shape[:2], bool)
    session = make_method("polygon").start(image, initial)
    mask = session.add(Polygon(((10, 10), (10, 19), (19, 19), (19, 10))))
    assert mask.sum() == 100 and mask[10:20, 10:20].all()
    mask = session.add(Polygon(((12, 12), (12, 13), (13, 13), (13, 12))))
    assert mask.sum() == 96  # even-odd: the second polygon cuts a hole


@pytest.mark.parametrize("name", CLICK_METHODS)
def test_clicks_correct_an_initial_mask(name, cost):
    image, gt = disc_scene()
    initial = gt.copy()
    initial[:, 38:] = False  # half the disc missed
    initial[50:62, 5:25] = True  # and a false positive blob
    method = make_method(name)
    start = binary_iou(initial, gt)
    result = annotate_object(
        method, make_user("click"), image, gt, cost, 6, 0.9, initial_mask=initial
    )
    assert start < 0.6
    assert result.final_iou >= 0.9
    assert len(result.interactions) <= 4


@pytest.mark.parametrize("name", CLICK_METHODS)
def test_negative_click_without_any_object_gives_empty_mask(name):
    image, _ = disc_scene()
    session = make_method(name).start(image)
    assert not session.add(Click(5, 5, positive=False)).any()


@pytest.mark.parametrize("name", CLICK_METHODS)
def test_click_methods_reject_bad_input(name):
    image, _ = disc_scene()
    session = make_method(name).start(image)
    with pytest.raises(ValueError, match="outside"):
        session.add(Click(64, 0))
    with pytest.raises(TypeError, match="Click"):
        session.add(Box(0, 0, 3, 3))


def test_click_methods_work_on_tiny_crops():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(6, 7, 3), dtype=np.uint8)
    for name in CLICK_METHODS:
        mask = make_method(name).start(image).add(Click(3, 3))
        assert mask[3, 3]


def test_registry_errors_name_the_valid_methods():
    with pytest.raises(ConfigError, match="unknown 'magic'.*grabcut_clicks.*watershed_clicks"):
        make_method("magic")
    with pytest.raises(ConfigError, match="grabcut_clicks"):
        make_method("grabcut_clicks", radius=0)
    with pytest.raises(ConfigError, match="watershed_clicks"):
        make_method("watershed_clicks", colour=3)
    with pytest.raises(ConfigError, match="no user for interaction 'telepathy'"):
        make_user("telepathy")


def test_registry_entries_declare_name_and_interaction():
    for name in METHODS:
        method = make_method(name)
        assert method.name == name
        make_user(method.interaction)  # every method has a simulated user


def test_the_watershed_gradient_is_computed_once_per_image_and_read_only():
    from al_loop.interactive.watershed import gradient_graph

    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (12, 16, 3)).astype(np.uint8)
    graph, weights = gradient_graph(image, 2, 10.0)
    assert gradient_graph(image.copy(), 2, 10.0)[1] is weights  # same bytes: cached
    assert gradient_graph(image, 3, 10.0)[1] is not weights  # other parameters: computed
    other = image.copy()
    other[0, 0] += 1
    assert gradient_graph(other, 2, 10.0)[1] is not weights
    assert not weights.flags.writeable  # sessions share it
