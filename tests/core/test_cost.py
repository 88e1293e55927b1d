import copy

import pytest
import yaml

from al_loop.core.cost import DEFAULT_COSTS_PATH, REQUIRED_ENTRIES, CostTable
from al_loop.core.errors import ConfigError
from al_loop.core.interactions import (
    Box,
    Click,
    ConfirmBackground,
    ExtremePoints,
    InsideOutside,
    Polygon,
    Scribble,
    SegmentLabel,
    to_json,
)


@pytest.fixture(scope="module")
def table() -> CostTable:
    return CostTable.load()


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(DEFAULT_COSTS_PATH.read_text())


def test_shipped_table_has_the_design_numbers(table):
    assert table["click_first"] == 2.4
    assert table["click_further"] == 0.9
    assert table["extreme_points"] == 7.0
    assert table["box"] == 35.0
    assert table["polygon_instance"] == 79.2
    assert table["dense_image"] == 5400.0
    assert table["region_label"] == table["click_first"]  # one click (Cai et al.)
    assert table.polygon_pricing == "per_instance"


def test_every_number_has_a_source_or_is_a_marked_assumption(table):
    for entry in table.entries.values():
        assert entry.source or (entry.assumption and entry.reason), entry.name
    assumptions = table.assumptions()
    for name in (
        "scribble_stroke",
        "cluster_box",
        "choose_class",
        "confirm_background",
        "polygon_vertex",
    ):
        assert name in assumptions and assumptions[name]


def test_clicks_first_then_further(table):
    clicks = [Click(1, 1), Click(2, 2, False), Click(3, 3)]
    assert table.seconds(clicks, "grabcut_clicks") == pytest.approx(2.4 + 0.9 + 0.9)
    assert table.seconds([], "grabcut_clicks") == 0.0


def test_clicks_after_locating_the_object_are_further_clicks(table):
    extreme = ExtremePoints(((0, 5), (9, 5), (5, 0), (5, 9)))
    assert table.seconds([extreme, Click(5, 5)], "dextr") == pytest.approx(7.0 + 0.9)
    assert table.seconds([Box(0, 0, 5, 5), Click(2, 2)], "box") == pytest.approx(35.0 + 0.9)
    assert table.seconds([InsideOutside(((0, 0), (9, 9)), (5, 5))], "iog") == pytest.approx(7.0)


def test_polygons_of_one_object_cost_one_instance(table):
    outline = Polygon(((0, 0), (0, 9), (9, 9), (9, 0)))
    hole = Polygon(((3, 3), (3, 5), (5, 5)))
    assert table.seconds([outline], "polygon") == pytest.approx(79.2)
    assert table.seconds([outline, hole], "polygon") == pytest.approx(79.2)


def test_polygon_per_vertex_but_oracle_per_instance(raw):
    raw["polygon_pricing"] = "per_vertex"
    table = CostTable.from_dict(raw)
    polygon = Polygon(tuple((i, i) for i in range(10)))
    assert table.seconds([polygon, Polygon(((0, 0), (1, 1)))], "polygon") == pytest.approx(12 * 0.9)
    assert table.seconds([polygon], "oracle_polygon") == pytest.approx(79.2)


def test_region_label_confirm_and_scribble(table):
    assert table.seconds([SegmentLabel((1, 2, 3), 4)], "superpixels") == pytest.approx(2.4)
    assert table.seconds([ConfirmBackground()], "any") == pytest.approx(2.4)
    strokes = [Scribble(((0, 0), (5, 5))), Scribble(((1, 1), (2, 2)), positive=False)]
    assert table.seconds(strokes, "scribbles") == pytest.approx(2 * 3.0)


def test_json_log_records_are_priced_like_interactions(table):
    log = [{**to_json(Click(1, 2)), "object": 0, "class": 3, "seconds": 3.3}, to_json(Click(3, 4))]
    assert table.seconds(log, "watershed_clicks") == pytest.approx(3.3)


def test_unpriced_interaction_is_an_error(table):
    with pytest.raises(TypeError, match="no price"):
        table.seconds([object()], "x")


def test_named_entry_lookup(table):
    assert table.get("choose_class") == 1.0
    assert table.get("missing", 5.0) == 5.0
    with pytest.raises(ConfigError, match="no cost entry 'missing'"):
        table["missing"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(extra=1), "extra: unknown key"),
        (lambda d: d["entries"]["box"].update(secs=3), r"entries\.box\.secs: unknown key"),
        (lambda d: d["entries"].pop("scribble_stroke"), "missing scribble_stroke"),
        (
            lambda d: d["entries"]["box"].update(seconds=-1),
            r"entries\.box\.seconds: expected a number",
        ),
        (lambda d: d["entries"]["box"].update(seconds="35"), r"entries\.box\.seconds"),
        (lambda d: d["entries"]["box"].pop("source"), r"entries\.box\.source"),
        (lambda d: d["entries"]["scribble_stroke"].pop("reason"), r"scribble_stroke\.reason"),
        (lambda d: d["entries"]["box"].update(same_as="click_first"), "exactly one of"),
        (
            lambda d: d["entries"]["polygon_vertex"].update(same_as="nothing"),
            "no entry named 'nothing'",
        ),
        (lambda d: d["entries"]["click_first"].update(same_as="x", seconds=None), "exactly one of"),
        (lambda d: d.update(polygon_pricing="per_area"), "polygon_pricing"),
    ],
)
def test_invalid_tables_name_the_key(raw, edit, message):
    data = copy.deepcopy(raw)
    edit(data)
    with pytest.raises(ConfigError, match=message):
        CostTable.from_dict(data, origin="costs.yaml")


def test_same_as_cycle_is_reported(raw):
    raw["entries"]["click_first"] = {"same_as": "region_label", "source": "s"}
    with pytest.raises(ConfigError, match="cycle"):
        CostTable.from_dict(raw)


def test_load_from_path_and_missing_file(tmp_path, raw):
    path = tmp_path / "costs.yaml"
    raw["entries"]["box"]["seconds"] = 20.0
    path.write_text(yaml.safe_dump(raw))
    assert CostTable.load(path).seconds([Box(0, 0, 1, 1)], "box") == 20.0
    with pytest.raises(ConfigError, match="not found"):
        CostTable.load(tmp_path / "nope.yaml")


def test_required_entries_are_in_the_shipped_file(raw):
    assert set(REQUIRED_ENTRIES) <= set(raw["entries"])
