import pytest
import yaml

from al_loop.core.cost import CostTable
from al_loop.core.errors import ConfigError, DataError
from al_loop.reports.costs import (
    comparison_rows,
    measured_table,
    summarize,
    timed_samples,
    write_costs,
)


def click(t0, t1, obj=0, **extra):
    return {"type": "Click", "y": 1, "x": 1, "positive": True, "object": obj, "t0": t0,
            "t": [t1], "t1": t1, **extra}  # fmt: skip


LOGS = [
    [
        click(0.0, 3.0),  # the first click on object 0: finding it included
        click(3.0, 3.5),
        {"start": "model", "object": 1, "class": 1, "method": "watershed_clicks"},
        click(10.0, 11.0, obj=1),  # corrects the model's mask: a further click
    ],
    [
        {
            "type": "Polygon",
            "vertices": [[0, 0], [0, 4], [4, 4]],
            "object": 0,
            "t0": 0.0,
            "t": [2.0, 3.0, 100.0],
            "t1": 101.0,
        },  # fmt: skip
        {
            "type": "Box",
            "y0": 0,
            "x0": 0,
            "y1": 4,
            "x1": 4,
            "object": 1,
            "t0": 101.0,
            "t": [102.0, 105.0],
            "t1": 105.0,
        },  # fmt: skip
        {"type": "Click", "y": 1, "x": 1, "positive": True, "object": 2},  # untimed
        click(200.0, 202.0, obj=2),  # after an untimed click: still a further click
    ],
    # one feature-space box stored with each of the two units it labelled: counted once
    [{"type": "SegmentLabel", "segment_ids": [1], "label": 1, "t0": 5.0, "t": [9.0], "t1": 9.0}],
    [{"type": "SegmentLabel", "segment_ids": [4], "label": 1, "t0": 5.0, "t": [9.0], "t1": 9.0}],
]


def test_timed_samples_sort_interactions_into_kinds_capping_idle_gaps():
    samples = timed_samples(LOGS, cap=30.0)
    assert samples["click_first"] == [3.0]
    assert samples["click_further"] == [0.5, 1.0, 2.0]
    assert samples["polygon_vertex"] == [2.0, 1.0, 30.0]  # 97 s idle counts 30
    assert samples["polygon_instance"] == [2.0 + 1.0 + 30.0 + 1.0]
    assert samples["box"] == [4.0]
    assert samples["feature_space_box"] == [4.0]
    assert samples["extreme_points"] == []


def test_the_apps_waits_inside_an_interaction_are_not_the_persons_seconds():
    # 0 -> 3: the mask of the previous click showed at 1.5 (1.5 s waited); the polygon's
    # second gap (2 -> 6) holds a 3 s wait, its third none
    waited_click = click(0.0, 3.0, waits=[[0.0, 1.5]])
    polygon = {"type": "Polygon", "object": 1, "t0": 0.0, "t": [2.0, 6.0, 7.0], "t1": 8.0,
               "waits": [[2.5, 5.5]]}  # fmt: skip
    samples = timed_samples([[waited_click, polygon]], cap=30.0)
    assert samples["click_first"] == [1.5]
    assert samples["polygon_vertex"] == [2.0, 1.0, 1.0]
    assert samples["polygon_instance"] == [2.0 + 1.0 + 1.0 + 1.0]


def test_summary_has_median_quartiles_and_n():
    summary = summarize({"click_further": [0.5, 1.0, 2.0, 4.0], "box": []})
    assert summary == {"click_further": {"median": 1.5, "q1": 0.875, "q3": 2.5, "n": 4}}


def test_the_measured_table_keeps_the_literature_for_the_rest_and_loads():
    summary = summarize(timed_samples(LOGS))
    table = measured_table(summary, "/p", "2026-12-04")
    measured = table["entries"]["click_further"]
    assert (measured["seconds"], measured["n"], measured["quartiles"]) == (1.0, 3, [0.75, 1.5])
    assert measured["source"] == "measured in the app: /p, 2026-12-04, n=3"
    literature = CostTable.load()
    priced = CostTable.from_dict(table)
    assert priced["click_first"] == 3.0 and priced["extreme_points"] == literature["extreme_points"]
    assert priced.polygon_pricing == literature.polygon_pricing
    rows = {r["entry"]: r for r in comparison_rows(summary, literature)}
    assert (rows["click_first"]["measured s"], rows["click_first"]["literature s"]) == (
        "3.00",
        "2.4",
    )
    assert (rows["extreme_points"]["measured s"], rows["extreme_points"]["n"]) == ("-", 0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"n": 0}, "n: expected a whole number"), ({"quartiles": [3, 1]}, "quartiles: expected")],
)
def test_a_measured_entry_with_a_bad_n_or_quartiles_is_refused(extra, message):
    table = measured_table(summarize(timed_samples(LOGS)), "/p", "2026-12-04")
    table["entries"]["box"].update(extra)
    with pytest.raises(ConfigError, match=f"entries.box.{message}"):
        CostTable.from_dict(table)


def test_a_project_without_timed_interactions_is_one_line(tmp_path):
    from al_loop.core.store import LabelStore

    LabelStore(tmp_path / "store.sqlite").close()
    with pytest.raises(DataError, match="no timed interactions"):
        write_costs(tmp_path, tmp_path / "costs.yaml")
    with pytest.raises(DataError, match="no label store"):
        write_costs(tmp_path / "missing", tmp_path / "costs.yaml")
    assert not (tmp_path / "costs.yaml").exists()


def test_the_written_file_is_yaml_with_the_comparison_in_its_header(tmp_path, monkeypatch):
    import al_loop.reports.costs as costs

    monkeypatch.setattr(costs, "project_logs", lambda project_dir: LOGS)
    path, rows = write_costs(tmp_path, tmp_path / "out" / "costs.yaml", date="2026-12-04")
    text = path.read_text()
    assert "| first click on an object | click_first | 3.00 |" in text
    assert yaml.safe_load(text)["entries"]["click_first"]["seconds"] == 3.0
    assert CostTable.load(path)["click_first"] == 3.0
