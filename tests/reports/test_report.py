"""Report numbers on hand-made stores (seconds-to-X, areas, bands and savings computed by hand)."""

import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from al_loop.core.errors import AlLoopError, ConfigError
from al_loop.core.store import LabelStore
from al_loop.core.units import Unit
from al_loop.reports.report import write_report
from al_loop.reports.runs import find_runs, load_run, resolve_metric
from al_loop.reports.stats import (
    area_under_curve,
    format_group_rows,
    format_paired_rows,
    group_rows,
    group_runs,
    mean_band,
    paired_rows,
    parse_levels,
    round_rows,
    seconds_to_reach,
    summary_rows,
)
from al_loop.wiring.cli import main
from tests.core.test_store import _annotation


def make_run(
    run_dir,
    mious,
    seconds_per_round,
    strategy="entropy",
    full=0.8,
    seed=0,
    method="m",
    extra=None,
    strategy_params=None,
    whole_pool=None,
    rare=None,
    fg_ious=None,
    costs=None,
    round_metrics=None,
):
    with LabelStore(run_dir / "store.sqlite") as store:
        config = {
            "seed": seed,
            "strategy": {"name": strategy, "params": strategy_params or {}},
            "annotation": {"method": method},
            **(extra or {}),
        }
        store.bind_config(config)
        store.set_meta(
            "full_supervision", json.dumps({"miou": full, "per_class_iou": [full, None]})
        )
        store.set_meta("classes", json.dumps(["bg", "fg"]))
        if whole_pool is not None:
            store.set_meta("whole_pool", json.dumps(whole_pool))
        if rare is not None:
            store.set_meta("rare_classes", json.dumps(rare))
        if costs is not None:
            store.set_meta("costs", json.dumps(costs))
        for r, (miou, sec) in enumerate(zip(mious, seconds_per_round, strict=True)):
            store.start_round(r, strategy, 0.0, [Unit(r, 0)], [f"i{k}" for k in range(10)])
            store.add_annotation(
                store.queued(r)[0].id, r, _annotation(Unit(r, 0), (0, 0, 1, 1), 1, sec)
            )
            store.close_round(r)
            fg = None if fg_ious is None else fg_ious[r]
            metrics = {"miou": miou, "per_class_iou": [miou, fg], **(round_metrics or {})}
            store.finish_round(r, metrics)
    return load_run(run_dir)


def test_seconds_to_reach_and_area_hand_computed():
    seconds = np.array([10.0, 20.0, 40.0])
    values = np.array([0.2, 0.5, 0.7])
    assert seconds_to_reach(seconds, values, 0.5) == 20.0
    assert seconds_to_reach(seconds, values, 0.71) is None
    # trapezoids: (0.2+0.5)/2*10 + (0.5+0.7)/2*20 = 3.5 + 12 = 15.5 over 30 s
    assert area_under_curve(seconds, values, 40.0) == pytest.approx(15.5 / 30)
    # cut at 30 s: 3.5 + (0.5+0.6)/2*10 = 9.0 over 20 s
    assert area_under_curve(seconds, values, 30.0) == pytest.approx(9.0 / 20)


def test_summary_and_rows_from_stores(tmp_path):
    run = make_run(tmp_path / "a", [0.4, 0.7, 0.78], [10, 10, 20])
    (row,) = summary_rows([run])
    assert row["seconds"] == 40.0 and row["final_miou"] == 0.78
    assert row["s_to_80pct"] == 20.0  # 0.7 >= 0.8 * 0.8 = 0.64 at 20 s
    assert row["s_to_95pct"] == 40.0  # 0.78 >= 0.76
    rows = round_rows([run])
    assert [r["seconds_total"] for r in rows] == [10, 20, 40]
    assert [r["seconds_per_unit"] for r in rows] == [10, 10, 20]  # one unit a round
    assert rows[1]["pct_full"] == pytest.approx(87.5)
    assert rows[0]["iou_bg"] == 0.4 and rows[0]["iou_fg"] is None


def test_mean_bands_hand_computed():
    stack = np.array([[0.0, 1.0], [2.0, 4.0]])  # sample std sqrt(2) and sqrt(4.5)
    assert [b.tolist() for b in mean_band(stack, "minmax")] == [[1, 2.5], [0, 1], [2, 4]]
    assert mean_band(stack, "std")[2] == pytest.approx([1 + np.sqrt(2), 2.5 + np.sqrt(4.5)])
    assert mean_band(stack, "sem")[1] == pytest.approx([0.0, 1.0])  # std / sqrt(2) = 1, 1.5
    with pytest.raises(ConfigError, match="--band"):
        mean_band(stack, "iqr")


def test_mean_band_ci95_is_a_student_t_interval():
    mean, low, high = mean_band(np.array([[0.0, 1.0], [2.0, 3.0]]), "ci95")
    # n = 2: std sqrt(2), t(0.975, 1 dof) = 12.706, half width 12.706 * sqrt(2) / sqrt(2)
    assert mean.tolist() == [1.0, 2.0]
    assert (high - mean) == pytest.approx([12.7062, 12.7062], abs=1e-3)
    assert (mean - low) == pytest.approx(high - mean)
    single = mean_band(np.array([[0.5, 0.6]]))
    assert all(np.array_equal(part, [0.5, 0.6]) for part in single)


# Two strategies x two seeds, full supervision 0.8: levels 0.64 / 0.72 / 0.76.
#   entropy s0: cumulative s [10, 20, 40], mIoU [0.50, 0.70, 0.78] -> 80 %: 20, 90 %: 40, 95 %: 40
#   entropy s1: cumulative s [12, 24, 36], mIoU [0.65, 0.73, 0.74] -> 80 %: 12, 90 %: 24, 95 %: -
#   random  s0: cumulative s [10, 30, 60], mIoU [0.40, 0.60, 0.77] -> 80 %: 60, 90 %: 60, 95 %: 60
#   random  s1: cumulative s [10, 20, 60], mIoU [0.30, 0.66, 0.79] -> 80 %: 20, 90 %: 60, 95 %: 60
@pytest.fixture
def sweep_runs(tmp_path):
    return [
        make_run(tmp_path / "e0", [0.50, 0.70, 0.78], [10, 10, 20], "entropy", seed=0),
        make_run(tmp_path / "e1", [0.65, 0.73, 0.74], [12, 12, 12], "entropy", seed=1),
        make_run(tmp_path / "r0", [0.40, 0.60, 0.77], [10, 20, 30], "random", seed=0),
        make_run(tmp_path / "r1", [0.30, 0.66, 0.79], [10, 10, 40], "random", seed=1),
    ]


def test_group_table_hand_computed(sweep_runs):
    entropy, random = group_rows(sweep_runs)
    assert (entropy["strategy"], entropy["method"], entropy["seeds"]) == ("entropy", "m", 2)
    assert entropy["s_to_80pct_mean"] == 16.0  # (20 + 12) / 2
    assert entropy["s_to_80pct_std"] == pytest.approx(np.sqrt(32))  # sample std of 20, 12
    assert (entropy["s_to_90pct_mean"], entropy["s_to_90pct_std"]) == (
        32.0,
        pytest.approx(np.sqrt(128)),
    )
    assert (entropy["s_to_95pct_mean"], entropy["s_to_95pct_reached"]) == (40.0, 1)
    assert (random["s_to_80pct_mean"], random["s_to_90pct_mean"], random["s_to_95pct_std"]) == (
        40.0,
        60.0,
        0.0,
    )
    # savings = seconds random needs / seconds entropy needs
    assert entropy["savings_80pct"] == pytest.approx(40 / 16)
    assert entropy["savings_90pct"] == pytest.approx(60 / 32)
    assert entropy["savings_95pct"] is None  # one entropy seed never got there
    assert random["savings_90pct"] == 1.0
    # area over the budget every run reached (36 s, entropy s1):
    #   e0: 6 + (0.7 + 0.764) / 2 * 16 = 17.712 over 26 s; e1: 8.28 + 8.82 = 17.1 over 24 s
    assert entropy["auc_mean"] == pytest.approx((17.712 / 26 + 17.1 / 24) / 2)
    assert entropy["final_mean"] == pytest.approx(0.76)
    # final as % of full supervision (0.8): 97.5 and 92.5
    assert entropy["pct_full_mean"] == pytest.approx(95.0)
    assert entropy["pct_full_std"] == pytest.approx(np.sqrt(12.5))
    text = format_group_rows([entropy])[0]
    assert text["s_to_80pct"] == "16 ± 6" and text["s_to_95pct"] == "40 ± 0 (1/2)"
    assert text["vs_random_80pct"] == "2.50x" and text["vs_random_95pct"] is None
    assert text["pct_full"] == "95.0 ± 3.5 %"


def test_levels_choose_the_seconds_to_reach_columns(sweep_runs):
    # 70 % of 0.8 = 0.56: entropy at 20 and 12 s, random at 30 and 20 s
    levels = parse_levels([70])
    entropy, random = group_rows(sweep_runs, levels=levels)
    assert (entropy["s_to_70pct_mean"], random["s_to_70pct_mean"]) == (16.0, 25.0)
    assert entropy["savings_70pct"] == pytest.approx(25 / 16)
    assert "s_to_80pct_mean" not in entropy
    text = format_group_rows([entropy], levels)[0]
    assert text["s_to_70pct"] == "16 ± 6" and "s_to_80pct" not in text
    (row,) = summary_rows(sweep_runs[:1], levels=levels)
    assert row["s_to_70pct"] == 20.0 and "s_to_80pct" not in row


def test_a_group_without_references_has_unknown_not_unreached_levels(tmp_path):
    runs = [make_run(tmp_path / f"n{s}", [0.5, 0.7], [10, 10], full=None, seed=s) for s in (0, 1)]
    (row,) = group_rows(runs)
    assert (row["s_to_80pct_reached"], row["s_to_80pct_scored"]) == (0, 0)
    assert format_group_rows([row])[0]["s_to_80pct"] is None
    # one seed with a reference (0.8): scored over that seed only, 0.7 >= 0.64 at 20 s
    mixed = [runs[0], make_run(tmp_path / "r", [0.5, 0.7], [10, 10], full=0.8, seed=2)]
    (row,) = group_rows(mixed)
    assert format_group_rows([row])[0]["s_to_80pct"] == "20 ± 0"
    assert format_group_rows([row])[0]["s_to_90pct"] == "not reached (0/1)"


def test_levels_are_sorted_whole_percentages_in_range():
    assert parse_levels([90, 70, 90]) == (0.7, 0.9)
    for bad in ([], [0], [101], [-5]):
        with pytest.raises(ConfigError, match="--levels"):
            parse_levels(bad)


def test_the_report_command_takes_levels(sweep_runs, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(tmp_path), "--out", str(out), "--no-html", "--levels", "70"]) == 0
    with open(out / "groups.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["s_to_70pct_mean"]) for r in rows] == [16.0, 25.0]
    assert "s_to_80pct_mean" not in rows[0]
    assert main(["report", str(tmp_path), "--out", str(out), "--levels", "150"]) == 2
    assert "--levels 150" in capsys.readouterr().err


def test_each_strategy_against_random_seed_by_seed_hand_computed(sweep_runs, tmp_path):
    # finals: entropy 0.78 (seed 0), 0.74 (seed 1); random 0.77, 0.79 -> +0.01, -0.05
    sweep_runs.append(make_run(tmp_path / "e2", [0.7, 0.7], [10, 40], "entropy", seed=2))
    other = make_run(tmp_path / "o0", [0.9] * 3, [10, 10, 20], "entropy", seed=0, method="other")
    sweep_runs.append(other)
    final, auc = paired_rows(sweep_runs)  # seed 2 has no random run; "other" no random arm
    assert (final["strategy"], final["method"], final["measure"]) == ("entropy", "m", "final")
    assert final["seeds"] == [0, 1]
    assert final["differences"] == pytest.approx([0.01, -0.05])
    assert final["diff_mean"] == pytest.approx(-0.02)
    assert final["diff_std"] == pytest.approx(0.06 / 2**0.5)
    assert (final["mean"], final["baseline_mean"]) == (pytest.approx(0.76), pytest.approx(0.78))
    assert final["wins"] == 1 and not final["apart"]  # |-0.02| < 0.028 + 0.014
    # areas up to 36 s (the shortest run), as in the group table: e0 17.712 / 26 (hand-computed
    # there) against r0's
    assert auc["measure"] == "auc" and auc["seeds"] == [0, 1]
    assert auc["differences"][0] == pytest.approx(
        17.712 / 26 - area_under_curve(np.array([10, 30, 60.0]), np.array([0.4, 0.6, 0.77]), 36)
    )
    text = format_paired_rows([final])[0]
    assert text["difference by seed"] == "0: +0.010, 1: -0.050"
    assert (text["wins"], text["apart"], text["random"]) == ("1/2", "no", "0.780 ± 0.014")


def test_arms_whose_bands_do_not_overlap_are_apart(tmp_path):
    runs = [
        make_run(tmp_path / f"{s}{seed}", [0.5, value], [10, 10], s, seed=seed)
        for s, values in (("entropy", (0.70, 0.72)), ("random", (0.60, 0.63)))
        for seed, value in enumerate(values)
    ]
    final, auc = paired_rows(runs)
    assert final["wins"] == 2 and final["apart"]  # 0.095 > 0.014 + 0.021
    # a straight line from 0.5 over [10, 20] s: the area is (0.5 + final) / 2
    assert auc["differences"] == pytest.approx([d / 2 for d in final["differences"]])
    text = write_report(runs, tmp_path / "out")["report"].read_text()
    assert "## Against random, seed by seed" in text
    row = "| entropy | m | final | 2 | 0.710 ± 0.014 | 0.615 ± 0.021 | 0: +0.100, 1: +0.090 |"
    assert row in text


def test_each_method_against_the_polygon_with_the_same_strategy_seed_by_seed(tmp_path):
    """The method axis pairs arms that share a strategy: clicks vs polygon under random, and
    under entropy; an arm with no polygon partner (extreme points) is left out."""
    arms = {
        ("random", "oracle_polygon"): (0.60, 0.62),
        ("random", "clicks"): (0.70, 0.69),
        ("entropy", "oracle_polygon"): (0.58, 0.66),
        ("entropy", "clicks"): (0.72, 0.64),
    }
    runs = [
        make_run(tmp_path / f"{s}-{m}-{seed}", [0.5, v], [10, 10], s, seed=seed, method=m)
        for (s, m), values in arms.items()
        for seed, v in enumerate(values)
    ]
    runs.append(make_run(tmp_path / "x", [0.5, 0.9], [10, 10], "bald", method="clicks"))
    finals = [r for r in paired_rows(runs, axis="method") if r["measure"] == "final"]
    assert [(r["strategy"], r["method"], r["baseline"]) for r in finals] == [
        ("random", "clicks", "oracle_polygon"),
        ("entropy", "clicks", "oracle_polygon"),
    ]
    assert finals[0]["differences"] == pytest.approx([0.10, 0.07])
    assert finals[1]["differences"] == pytest.approx([0.14, -0.02])
    assert finals[0]["wins"] == 2 and finals[0]["apart"] and not finals[1]["apart"]
    assert format_paired_rows(finals)[0]["oracle_polygon"] == "0.610 ± 0.014"
    text = write_report(runs, tmp_path / "out")["report"].read_text()
    assert "## Against the polygon, seed by seed" in text and "## Against random" in text
    with pytest.raises(ConfigError, match="paired axis: unknown 'seed'; valid: strategy, method"):
        paired_rows(runs, axis="seed")


def test_seconds_as_percent_of_labelling_the_whole_pool(tmp_path):
    whole = {"seconds": 400.0, "basis": "dense_camvid: 2 images x 200 s"}
    runs = [
        make_run(tmp_path / "e0", [0.50, 0.70, 0.78], [10, 10, 20], seed=0, whole_pool=whole),
        make_run(tmp_path / "e1", [0.65, 0.73, 0.74], [12, 12, 12], seed=1, whole_pool=whole),
    ]
    (row,) = group_rows(runs)
    assert row["s_to_80pct_pct_pool"] == pytest.approx(100 * 16 / 400)  # 16 s of 400 s
    assert row["s_to_95pct_pct_pool"] == pytest.approx(100 * 40 / 400)
    text = format_group_rows([row])[0]
    assert text["pct_pool_80pct"] == "4 %" and text["pct_pool_90pct"] == "8 %"
    # runs that stored no whole-pool cost (older runs) get no such column
    (old,) = group_rows([make_run(tmp_path / "o", [0.7], [10])])
    assert old["s_to_80pct_pct_pool"] is None
    assert "pct_pool_80pct" not in format_group_rows([old])[0]
    report = write_report(runs, tmp_path / "report")  # the figure's top axis draws
    assert "by hand: 400 s (dense_camvid: 2 images x 200 s); the runs spent up to 40 s, 10 %" in (
        report["report"].read_text()
    )


def test_groups_fold_varying_settings_into_labels_and_panels(tmp_path):
    runs = [
        make_run(tmp_path / "a", [0.5], [10], extra={"dataset": {"name": "x"}}),
        make_run(tmp_path / "b", [0.5], [10], seed=1, extra={"dataset": {"name": "x"}}),
        make_run(tmp_path / "c", [0.5], [10], extra={"dataset": {"name": "y"}}),
        make_run(tmp_path / "d", [0.5], [10], method="w", extra={"dataset": {"name": "y"}}),
    ]
    groups = group_runs(runs)
    assert [(g.context, g.label, len(g.runs)) for g in groups] == [
        ("dataset.name=x", "entropy / m", 2),  # seeds are repetitions
        ("dataset.name=y", "entropy / m", 1),
        ("dataset.name=y", "entropy / w", 1),
    ]


def test_a_key_a_later_version_wrote_at_its_default_does_not_split_a_group(tmp_path):
    older = make_run(tmp_path / "a", [0.5], [10], method="watershed_clicks")
    newer = make_run(
        tmp_path / "b",
        [0.6],
        [10],
        seed=1,
        method="watershed_clicks",
        extra={"annotation": {"method": "watershed_clicks", "allow_seen_images": False}},
    )
    allowed = make_run(
        tmp_path / "c",
        [0.6],
        [10],
        method="watershed_clicks",
        extra={"annotation": {"method": "watershed_clicks", "allow_seen_images": True}},
    )
    groups = group_runs([older, newer, allowed])
    assert [(g.label, len(g.runs)) for g in groups] == [
        ("entropy / watershed_clicks", 2),
        ("entropy / watershed_clicks (allow_seen_images=True)", 1),
    ]


def test_strategy_params_label_only_the_runs_that_set_them(tmp_path):
    runs = [
        make_run(tmp_path / "r", [0.7, 0.8], [10, 10], "random"),
        make_run(tmp_path / "e", [0.7, 0.8], [5, 5], "entropy"),
        make_run(
            tmp_path / "b", [0.7, 0.8], [4, 4], "entropy", strategy_params={"class_balance": True}
        ),
    ]
    rows = group_rows(runs)
    assert [row["strategy"] for row in rows] == [
        "random",
        "entropy",
        "entropy (params.class_balance=True)",
    ]
    # random (on its defaults) is the baseline of every row: 80 % of 0.8 is reached at the
    # first round: 10 s for random, 5 s and 4 s for the others
    assert [row["savings_80pct"] for row in rows] == pytest.approx([1.0, 2.0, 2.5])


def test_resolve_metric():
    assert resolve_metric("miou", None, ["bg", "fg"]) == "miou"
    assert resolve_metric("miou", "fg", ["bg", "fg"]) == "iou:1"
    assert resolve_metric("miou", "0", ["bg", "fg"]) == "iou:0"
    with pytest.raises(ConfigError, match="--class star"):
        resolve_metric("miou", "star", ["bg", "fg"])


def test_write_report_outputs(tmp_path):
    runs = [
        make_run(tmp_path / "a", [0.4, 0.7], [10, 10]),
        make_run(tmp_path / "b", [0.3, 0.5], [5, 5], "random"),
    ]
    paths = write_report(runs, tmp_path / "out")
    assert paths["curve"].stat().st_size > 1000
    assert paths["per_unit"].stat().st_size > 1000
    text = paths["report"].read_text()
    assert "entropy / m" in text and "random / m" in text
    assert len(paths["rounds"].read_text().splitlines()) == 1 + 4
    page = paths["html"].read_text()
    assert "<table>" in page and "entropy" in page and "% of full supervision" in page


def test_the_budget_curve_has_a_reproducible_svg_copy_with_text_labels(tmp_path):
    runs = [
        make_run(tmp_path / "a", [0.4, 0.7], [10, 10]),
        make_run(tmp_path / "b", [0.3, 0.5], [5, 5], "random"),
    ]
    first = write_report(runs, tmp_path / "one", html_report=False)["curve_svg"].read_text()
    again = write_report(runs, tmp_path / "two", html_report=False)["curve_svg"].read_text()
    assert first.lstrip().startswith("<?xml") and "<svg" in first
    assert "entropy / m" in first and "cumulative labelling cost (s)" in first  # text as text
    assert first == again  # no date or random ids: a committed copy diffs cleanly


def test_the_report_sets_measured_costs_beside_the_literature(tmp_path):
    measured = {
        "origin": "/p/costs.yaml",
        "entries": {
            "click_first": {"seconds": 3.1, "source": "measured in the app: /p, 2026-12-04, n=9"},
            "click_further": {"seconds": 0.9, "source": "Bearman et al."},  # the same figure
        },
    }
    runs = [
        make_run(tmp_path / "a", [0.4], [10], costs=measured),
        make_run(tmp_path / "b", [0.3], [5], seed=1, costs=measured),
        make_run(tmp_path / "c", [0.3], [5], seed=2),  # an older run: no table stored
    ]
    text = write_report(runs, tmp_path / "out", html_report=False)["report"].read_text()
    section = text.split("## Cost table")[1]
    assert "| click_first | 3.1 | measured in the app: /p, 2026-12-04, n=9 | 2.4 |" in section
    assert "click_further" not in section  # as the literature has it: not listed
    plain = write_report(runs[2:], tmp_path / "plain", html_report=False)["report"].read_text()
    assert "priced with the literature's figures" in plain


def test_report_of_a_sweep_with_seeds_and_a_class(sweep_runs, tmp_path):
    paths = write_report(sweep_runs, tmp_path / "out", log_x=True, metric="iou:0", band="ci95")
    with open(paths["groups"]) as f:
        rows = list(csv.DictReader(f))
    assert [r["strategy"] for r in rows] == ["entropy", "random"]
    assert float(rows[0]["s_to_80pct_mean"]) == 16.0  # class 0 IoU = mIoU in these stores
    assert "16 ± 6" in paths["report"].read_text()
    assert "IoU of class" in paths["html"].read_text()


def test_find_runs_follows_a_sweep_manifest(tmp_path):
    for name in ("a", "b", "stale"):
        make_run(tmp_path / name, [0.5], [10])
    assert find_runs([tmp_path]) == [tmp_path / "a", tmp_path / "b", tmp_path / "stale"]
    manifest = {"runs": [{"name": "b"}, {"name": "a"}, {"name": "never-started"}]}
    (tmp_path / "sweep.json").write_text(json.dumps(manifest))
    assert find_runs([tmp_path]) == [tmp_path / "b", tmp_path / "a"]
    assert find_runs([tmp_path / "a"]) == [tmp_path / "a"]


def test_the_report_command(sweep_runs, tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["report", str(tmp_path), "--out", str(out), "--class", "bg", "--no-html"]) == 0
    assert (out / "groups.csv").is_file() and not (out / "report.html").exists()
    assert main(["report", str(tmp_path), "--class", "star"]) == 2
    assert "--class star" in capsys.readouterr().err


def test_runs_logged_to_mlflow_once(sweep_runs, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    from al_loop.reports.tracking import log_runs

    uri = f"file:{tmp_path / 'mlruns'}"
    log_runs(sweep_runs, uri, "t")
    log_runs(sweep_runs, uri, "t")  # again: replaces, does not duplicate
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("t")
    logged = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in logged) == ["e0", "e1", "r0", "r1"]
    e0 = next(r for r in logged if r.info.run_name == "e0")
    history = client.get_metric_history(e0.info.run_id, "miou")
    assert [(h.step, h.value) for h in history] == [(10, 0.5), (20, 0.7), (40, 0.78)]
    assert e0.data.params["strategy.name"] == "entropy"


def test_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(AlLoopError, match="no stored run"):
        load_run(tmp_path / "nothing")
    with pytest.raises(AlLoopError, match="no store.sqlite"):
        find_runs([tmp_path])


def test_rare_classes_get_their_final_iou_over_seeds(tmp_path):
    runs = [
        make_run(tmp_path / "e0", [0.5, 0.7], [10, 10], seed=0, rare=["fg"], fg_ious=[0.0, 0.2]),
        make_run(tmp_path / "e1", [0.6, 0.7], [10, 10], seed=1, rare=["fg"], fg_ious=[0.1, 0.4]),
    ]
    (row,) = group_rows(runs)
    assert row["iou_fg_mean"] == pytest.approx(0.3)  # the last round of each seed
    assert row["iou_fg_std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    assert format_group_rows([row])[0]["iou_fg"] == f"0.300 ± {np.std([0.2, 0.4], ddof=1):.3f}"
    # % of labelled pixels in rare classes: counts [bg, fg] of 3:1 and 1:1 -> 25 % and 50 %
    runs = [
        replace(runs[0], labelled_per_class=[30, 10]),
        replace(runs[1], labelled_per_class=[5, 5]),
    ]
    (row,) = group_rows(runs)
    assert row["rare_labels_mean"] == pytest.approx(37.5)
    assert format_group_rows([row])[0]["rare_labels"] == f"37.5 ± {np.std([25, 50], ddof=1):.1f} %"
    # a data set that marks no class rare gets no such column
    (plain,) = group_rows([make_run(tmp_path / "p", [0.7], [10], fg_ious=[0.3])])
    assert not any(k.startswith("iou_") for k in plain)
    assert plain["rare_labels_mean"] is None and "rare_labels" not in format_group_rows([plain])[0]


def test_unfinished_runs_are_left_out_of_the_tables_and_named(tmp_path):
    budget = {"budget": {"total_seconds": 40}}
    done = make_run(tmp_path / "done", [0.5, 0.7, 0.78], [10, 10, 20], extra=budget)
    running = make_run(tmp_path / "running", [0.2, 0.3], [10, 10], "random", extra=budget)
    # the loop marked this one finished below its budget (its pool ran out)
    exhausted = make_run(
        tmp_path / "exhausted", [0.3, 0.4], [10, 10], "random", seed=1, extra=budget
    )
    with LabelStore(exhausted.path / "store.sqlite") as store:
        store.set_meta(
            "finished", json.dumps({"rounds": 2, "seconds": 20.0, "ended_by": "pool exhausted"})
        )
    exhausted = load_run(exhausted.path)
    assert (done.finished, running.finished, exhausted.finished) == (True, False, True)

    text = write_report([done, running, exhausted], tmp_path / "out")["report"].read_text()
    assert "Left out: 1 unfinished runs" in text and "running" in text
    assert [r["strategy"] for r in group_rows([done, exhausted])] == ["entropy", "random"]
    assert "random / m" in text  # the finished random run still has its row
    with open(tmp_path / "out" / "runs.csv") as f:
        assert sorted(r["run"] for r in csv.DictReader(f)) == ["done", "exhausted"]

    text = write_report([done, running], tmp_path / "all", include_unfinished=True)
    assert "Left out" not in text["report"].read_text()
    # a report of runs none of which has ended shows them all (one live run, say)
    alone = write_report([running], tmp_path / "live")["report"].read_text()
    assert "random / m" in alone and "Left out" not in alone


def test_compute_time_is_summed_per_run_and_over_the_study(tmp_path):
    timed = {"round_wall_seconds": 90.0, "round_cpu_seconds": 60.0}
    runs = [
        make_run(tmp_path / f"s{seed}", [0.2, 0.4], [5, 5], seed=seed, round_metrics=timing)
        for seed, timing in [(0, timed), (1, {**timed, "round_cpu_seconds": 120.0}), (2, None)]
    ]
    assert runs[0].compute_seconds() == {"wall": 180.0, "cpu": 120.0}
    assert runs[2].compute_seconds() is None  # a run of an older version measured nothing
    summary = summary_rows(runs)
    assert [row.get("cpu_min") for row in summary] == [2.0, 4.0, None]
    assert group_rows(runs)[0]["cpu_min_mean"] is None  # not every seed measured it
    (row,) = group_rows(runs[:2])
    assert row["cpu_min_mean"] == pytest.approx(3.0)
    assert format_group_rows([row])[0]["cpu_min"] == "3.0 ± 1.4"
    write_report(runs, tmp_path / "report", html_report=False)
    intro = (tmp_path / "report" / "report.md").read_text()
    assert "0.10 CPU h, 0.10 wall h over the 2 of 3 runs that measured it" in intro
