"""The interactive (Plotly) budget figure reads the seconds as the PNG does."""

import pytest

from al_loop.reports.figures import plotly_figure
from tests.reports.test_report import make_run

pytest.importorskip("plotly")

WHOLE = {"seconds": 400.0, "basis": "polygons: 5 objects x 80 s"}


def runs_with(tmp_path, whole_pool):
    return [
        make_run(
            tmp_path / f"r{seed}", [0.5, 0.7, 0.78], [10, 10, 20], seed=seed, whole_pool=whole_pool
        )
        for seed in (0, 1)
    ]


@pytest.mark.parametrize("log_x", [False, True])
def test_the_top_axis_reads_the_bottom_range_as_percent_of_the_whole_pool(tmp_path, log_x):
    figure = plotly_figure(runs_with(tmp_path, WHOLE), log_x=log_x)
    bottom, top = figure.layout.xaxis, figure.layout.xaxis2
    assert top.overlaying == "x" and top.side == "top"
    assert "polygons: 5 objects x 80 s" in top.title.text
    if log_x:  # ranges are log10 of the values: the top is shifted by log10(100 / 400)
        assert top.range[0] - bottom.range[0] == pytest.approx(-0.60206, abs=1e-4)
        assert bottom.range == pytest.approx((1.0, 1.60206), abs=1e-4)  # 10 s .. 40 s
    else:  # 10 s .. 40 s (padded by 2 %): 2.5 % .. 10 % of 400 s
        assert [t * 4 for t in top.range] == pytest.approx(list(bottom.range))
        assert bottom.range[0] < 10 < 40 < bottom.range[1]


def test_hovering_a_curve_shows_the_percent_of_the_whole_pool(tmp_path):
    figure = plotly_figure(runs_with(tmp_path, WHOLE))
    mean = next(trace for trace in figure.data if trace.name and trace.name.endswith("(n=2)"))
    # the band's grid runs from 10 to 40 s: 2.5 to 10 % of 400 s
    assert list(mean.customdata) == pytest.approx([x / 4 for x in mean.x])
    assert (mean.customdata[0], mean.customdata[-1]) == pytest.approx((2.5, 10.0))
    assert "% of labelling everything" in mean.hovertemplate


def test_without_a_whole_pool_cost_there_is_no_top_axis(tmp_path):
    figure = plotly_figure(runs_with(tmp_path, None))
    assert "xaxis2" not in figure.layout.to_plotly_json()
    mean = next(trace for trace in figure.data if trace.name and trace.name.endswith("(n=2)"))
    assert mean.customdata is None and "labelling everything" not in mean.hovertemplate
