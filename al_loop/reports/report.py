"""A report's files from stored runs: budget curves and tables, a metric against cumulative
labelling seconds. Reading the runs: ``runs.py``; the numbers: ``stats.py``; the figures:
``figures.py``; this module writes the files.

Runs are grouped by what they compare: a **strategy** (``strategy.name`` plus any strategy
setting that varies between the runs), an interactive **method** (``annotation.method`` plus any
annotation setting that varies), and a **context** (every other config value that varies, e.g.
the dataset; one panel each). Seeds are repetitions: a group's curve is their mean on a common
seconds grid with a band over seeds (``BANDS``): the standard error by default, because with the
2-3 seeds of a typical sweep a 95 % Student-t band is 12.7x / 2.5x as wide and hides the curves;
``ci95`` draws it when there are seeds enough.

Outputs of :func:`write_report`: ``budget_curve.png`` (and ``.svg``), ``report.html`` (Plotly when installed,
else the PNG inline), ``report.md``, ``rounds.csv`` (every round of every run), ``runs.csv``
(one row per run) and ``groups.csv`` (one row per strategy x method: seconds to reach 80/90/95 %
of full supervision as mean and std over seeds, area under the curve, savings vs random).
"""

from __future__ import annotations

import base64
import csv
import html
from collections.abc import Sequence
from pathlib import Path

from al_loop.core.cost import CostTable
from al_loop.reports.figures import (
    _axis_label,
    plot_budget_curves,
    plot_seconds_per_unit,
    plotly_figure,
)
from al_loop.reports.runs import RunResult
from al_loop.reports.stats import (
    LEVELS,
    format_group_rows,
    format_paired_rows,
    group_rows,
    paired_rows,
    round_rows,
    summary_rows,
    whole_pool_seconds,
)


def write_csv(rows: list[dict], path: Path) -> Path:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return path


def markdown_table(rows: list[dict]) -> str:
    if not rows:
        return "(no evaluated rounds)\n"
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append(
            "| " + " | ".join("" if row.get(k) is None else str(row.get(k)) for k in keys) + " |"
        )
    return "\n".join(lines) + "\n"


def html_table(rows: list[dict]) -> str:
    if not rows:
        return "<p>(no evaluated rounds)</p>"
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{'' if row.get(k) is None else html.escape(str(row.get(k)))}</td>" for k in keys
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


GROUP_NOTE = (
    "`s_to_Npct`: cumulative labelling seconds at the first round whose value reaches N % of "
    "full supervision (same model trained on every pool label; N from `--levels`, default 80, "
    "90, 95), mean ± std over seeds; (k/n): "
    "only k of n seeds got there, the mean is over those. `pct_pool_Npct`: the same seconds "
    "as % of labelling the whole pool by hand (the data set's dense time per image, else a "
    "polygon per object; the figure's top axis). `iou_<class>`: the final IoU of each class "
    "the data set marks rare (CamVid: pole, sign, pedestrian, bicyclist), mean ± std over "
    "seeds. `rare_labels`: % of the labelled pixels that belong to those rare classes (which "
    "classes the strategy asked people to label). `pct_full`: the final value as % of the "
    "same seed's full supervision, mean ± std. `final_refit` / `pct_full_refit` (after `al-loop "
    "refit`): the run's final labels trained like the reference, until val stops improving, "
    "and that as % of full supervision: the last point on the reference's own terms. `cpu_min`: CPU minutes of one run's rounds "
    "(selection, simulated labelling, training, evaluation), mean ± std. `auc`: mean value "
    "over the budget range every run reached. `vs_random_Npct`: seconds random needs / seconds this strategy "
    "needs with the same method (above 1: it saves labelling time), when every seed of both "
    "reached the level."
)

PAIRED_NOTE = (
    "Each strategy minus random with the same method, seed by seed (a seed gives both the same "
    "data, reference and round-0 seed set): `final`, the last value; `auc`, the area under the "
    "curve as in the table above. `difference`: mean ± std of the seeds' differences; `wins`: "
    "seeds where the strategy is higher; `apart`: the two arms' mean ± std do not overlap (as "
    "the figure's bands with `--band std`), a separation beyond the seed-to-seed noise."
)
METHOD_PAIRED_NOTE = (
    "Each annotation method minus the polygon (outlining every object, the way data sets were "
    "labelled) with the same strategy, seed by seed, at the same seconds of labelling; columns "
    "as in the table above."
)
# (title, axis of paired_rows, note) of the seed-by-seed sections, in the report's order
PAIRED_SECTIONS = (
    ("Against random, seed by seed", "strategy", PAIRED_NOTE),
    ("Against the polygon, seed by seed", "method", METHOD_PAIRED_NOTE),
)

HTML_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; white-space: nowrap; }}
th {{ background: #f4f4f4; }} td:first-child, th:first-child {{ text-align: left; }}
.note {{ color: #555; max-width: 60em; }}
</style></head><body>
<h1>{title}</h1>
<p>{intro}</p>
{figure}
<h2>Strategies x methods</h2>
{groups}
<p class="note">{note}</p>
{paired}
<h2>Runs</h2>
{runs}
<p class="note">Every round of every run: <a href="rounds.csv">rounds.csv</a>; these tables:
<a href="groups.csv">groups.csv</a>, <a href="runs.csv">runs.csv</a>; static figure:
<a href="budget_curve.png">budget_curve.png</a>.</p>
</body></html>
"""


def cost_rows(runs: list[RunResult], literature: CostTable | None = None) -> list[dict]:
    """Every cost entry a run was priced with other than the literature's figure: the runs'
    seconds and source beside the literature's (configs/costs.yaml)."""
    literature = literature or CostTable.load()
    rows: dict[tuple, dict] = {}
    for run in runs:
        for name, entry in ((run.costs or {}).get("entries") or {}).items():
            known = literature.get(name)
            if known is not None and abs(known - entry["seconds"]) < 1e-9:
                continue
            key = (name, entry["seconds"], entry.get("source"))
            row = rows.setdefault(
                key,
                {
                    "entry": name,
                    "seconds": entry["seconds"],
                    "source": entry.get("source") or "",
                    "literature s": "-" if known is None else f"{known:g}",
                    "literature source": _literature_source(literature, name),
                    "runs": 0,
                },
            )
            row["runs"] += 1
    return list(rows.values())


def _literature_source(table: CostTable, name: str) -> str:
    entry = table.entries.get(name)
    if entry is None:
        return "-"
    return f"assumption: {entry.reason}" if entry.assumption else entry.source or ""


def cost_section(runs: list[RunResult]) -> str:
    rows = cost_rows(runs)
    if not rows:
        return "Every run was priced with the literature's figures (configs/costs.yaml).\n"
    return (
        "Entries priced other than the literature's figures (e.g. measured from a person with "
        "`al-loop costs`), beside the literature's; every other entry is configs/costs.yaml's."
        "\n\n" + markdown_table(rows)
    )


def write_html(
    runs: list[RunResult],
    path: Path,
    png: Path,
    groups: list[dict],
    summary: list[dict],
    intro: str,
    metric: str = "miou",
    log_x: bool = False,
    band: str = "sem",
    paired: dict[str, list[dict]] | None = None,
) -> Path:
    try:
        figure = plotly_figure(runs, metric, log_x, band).to_html(
            full_html=False, include_plotlyjs=True
        )
    except ImportError:  # plotly is optional (pip install 'al-loop[report]'): show the PNG
        data = base64.b64encode(png.read_bytes()).decode()
        figure = f'<img alt="budget curve" src="data:image/png;base64,{data}">'
    path.write_text(
        HTML_PAGE.format(
            title="Budget-curve report",
            intro=html.escape(intro),
            figure=figure,
            groups=html_table(groups),
            note=html.escape(GROUP_NOTE.replace("`", "")),
            paired="".join(
                f"<h2>{title}</h2>"
                + html_table(paired[title])
                + f'<p class="note">{html.escape(note.replace("`", ""))}</p>'
                for title, _, note in PAIRED_SECTIONS
                if (paired or {}).get(title)
            ),
            runs=html_table(summary),
        )
    )
    return path


def reportable(
    runs: list[RunResult], include_unfinished: bool = False
) -> tuple[list[RunResult], list[RunResult]]:
    """(runs the tables compare, unfinished runs left out). A run still running, or stopped
    before its budget, would enter the means with fewer rounds and cut every group's area
    range to its own budget; all are kept when none has finished (a report of one live run)."""
    finished = [run for run in runs if run.finished]
    if include_unfinished or not finished:
        return list(runs), []
    return finished, [run for run in runs if not run.finished]


def _left_out_note(left_out: list[RunResult], shown: int = 5) -> str:
    names = ", ".join(run.path.name for run in left_out[:shown])
    more = f" and {len(left_out) - shown} more" if len(left_out) > shown else ""
    return (
        f" Left out: {len(left_out)} unfinished runs (still running, or stopped before their "
        f"budget; `--include-unfinished` reports them): {names}{more}."
    )


def _compute_note(runs: list[RunResult]) -> str:
    """What the runs cost the machine, summed: a study's compute budget."""
    measured = [c for r in runs if (c := r.compute_seconds()) is not None]
    if not measured:
        return ""
    cpu, wall = (sum(c[key] for c in measured) / 3600 for key in ("cpu", "wall"))
    note = f" Compute (loop rounds, references excluded): {cpu:.2f} CPU h, {wall:.2f} wall h"
    if len(measured) < len(runs):
        return note + f" over the {len(measured)} of {len(runs)} runs that measured it."
    return note + f" summed over {len(runs)} runs."


def write_report(
    runs: list[RunResult],
    out_dir: str | Path,
    log_x: bool = False,
    metric: str = "miou",
    html_report: bool = True,
    band: str = "sem",
    include_unfinished: bool = False,
    levels: Sequence[float] = LEVELS,
) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, left_out = reportable(runs, include_unfinished)
    rows = round_rows(runs)
    summary = summary_rows(runs, metric, levels)
    groups = group_rows(runs, metric, levels)
    table = format_group_rows(groups, levels)
    paired = {
        title: format_paired_rows(paired_rows(runs, metric, axis))
        for title, axis, _ in PAIRED_SECTIONS
    }
    paths = {
        "curve": plot_budget_curves(runs, out_dir / "budget_curve.png", metric, log_x, band),
        "per_unit": plot_seconds_per_unit(runs, out_dir / "seconds_per_unit.png"),
        "rounds": write_csv(rows, out_dir / "rounds.csv"),
        "runs": write_csv(summary, out_dir / "runs.csv"),
        "groups": write_csv(groups, out_dir / "groups.csv"),
    }
    paths["curve_svg"] = paths["curve"].with_suffix(".svg")  # written beside the PNG
    classes = runs[0].classes if runs else []
    fulls = sorted({round(f, 4) for r in runs if (f := r.full(metric))})
    intro = f"{len(runs)} runs; metric: {_axis_label(metric, classes)}."
    if fulls:
        intro += f" Full supervision (same model, every pool label): {', '.join(map(str, fulls))}."
    whole = whole_pool_seconds(runs)
    if whole:
        spent = max((r.curve(metric)[0][-1] for r in runs if r.evaluated), default=0.0)
        pct = 100 * spent / whole[0]
        intro += (
            f" Labelling the whole pool by hand: {whole[0]:,.0f} s ({whole[1]}); the runs "
            f"spent up to {spent:,.0f} s, {f'{pct:.2g}' if pct < 10 else f'{pct:.0f}'} % of it "
            "(the figure's top axis)."
        )
    intro += _compute_note(runs)
    if left_out:
        intro += _left_out_note(left_out)
    text = ["# Budget-curve report\n\n", intro + "\n"]
    text += ["\n![budget curve](budget_curve.png)\n", "\n## Strategies x methods\n\n"]
    text += [markdown_table(table), "\n" + GROUP_NOTE + "\n"]
    for title, _, note in PAIRED_SECTIONS:
        if paired[title]:
            text += [f"\n## {title}\n\n", markdown_table(paired[title]), "\n" + note + "\n"]
    text += ["\n## Summary\n\n", markdown_table(summary)]
    text += ["\n## Cost table\n\n", cost_section(runs)]
    text += ["\n![seconds per unit by round](seconds_per_unit.png)\n"]
    text += [
        "\n## Rounds\n\n",
        markdown_table([{k: v for k, v in r.items() if k != "run"} for r in rows]),
    ]
    paths["report"] = out_dir / "report.md"
    paths["report"].write_text("".join(text))
    if html_report:
        paths["html"] = write_html(
            runs,
            out_dir / "report.html",
            paths["curve"],
            table,
            summary,
            intro,
            metric,
            log_x,
            band,
            paired,
        )
    return paths
