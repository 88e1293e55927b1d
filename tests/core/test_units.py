import numpy as np
import pytest

from al_loop.core.errors import ConfigError
from al_loop.core.units import UNIT_SPACES, GridUnits, ImageUnits, Unit, make_unit_space


def test_grid_boxes_cover_the_image_once_with_smaller_border_cells():
    space = GridUnits(num_images=2, hw=(40, 70), cell=32)
    assert (space.rows, space.cols, space.per_image) == (2, 3, 6)
    assert space.box(Unit(1, 5)) == (32, 64, 40, 70)
    cover = np.zeros((40, 70), dtype=int)
    for unit in space.units()[: space.per_image]:
        y0, x0, y1, x1 = space.box(unit)
        cover[y0:y1, x0:x1] += 1
    assert (cover == 1).all()


@pytest.mark.parametrize("kind", sorted(UNIT_SPACES))
def test_pixel_unit_index_agrees_with_boxes(kind):
    images = np.random.default_rng(0).integers(0, 256, (3, 40, 70, 3), dtype=np.uint8)
    params = {"grid": {"cell": 16}, "superpixel": {"threshold": 60}}.get(kind, {})
    space = make_unit_space(kind, 3, (40, 70), images=images, **params)
    units = space.units()
    index = space.pixel_unit_index(np.arange(3))
    assert index.shape == (3, 40, 70)
    for i, unit in enumerate(units):
        y0, x0, y1, x1 = space.box(unit)
        region = index[unit.image, y0:y1, x0:x1]
        assert (region[space.mask(unit)] == i).all()
    assert sorted(np.unique(index)) == list(range(len(units)))


def test_image_units_are_whole_images():
    space = ImageUnits(2, (5, 6))
    assert space.units() == [Unit(0, 0), Unit(1, 0)]
    assert space.box(Unit(1, 0)) == (0, 0, 5, 6)


def test_unit_key_roundtrip():
    assert Unit.from_key(Unit(12, 7).key) == Unit(12, 7)


def test_unknown_unit_kind_lists_valid_ones():
    with pytest.raises(ConfigError, match="grid, image, superpixel"):
        make_unit_space("hexagon", 1, (8, 8))
