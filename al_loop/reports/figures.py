"""The figures of a report: budget curves (one panel per context, a band over seeds) as PNG
and as an interactive Plotly figure, and seconds per unit by round."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from al_loop.reports.runs import RunResult, metric_label
from al_loop.reports.stats import (
    BANDS,
    BASELINE,
    Group,
    _contexts,
    group_runs,
    mean_band,
    seconds_per_unit,
    whole_pool_seconds,
)

LINE_STYLES = ("-", "--", ":", "-.")
PLOTLY_DASHES = ("solid", "dash", "dot", "dashdot")


@dataclass
class Curve:
    """What one group draws: raw points for one seed, or mean and band on a common grid."""

    seconds: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int


def group_curve(
    group: Group, metric: str, log_x: bool = False, band: str = "sem", points: int = 60
) -> Curve | None:
    curves = [run.curve(metric) for run in group.runs if run.evaluated]
    curves = [(s, v) for s, v in curves if not np.isnan(v).all()]
    if not curves:
        return None
    if len(curves) == 1:
        seconds, values = curves[0]
        return Curve(seconds, values, values, values, 1)
    start, stop = max(s[0] for s, _ in curves), min(s[-1] for s, _ in curves)
    spacing = np.geomspace if log_x and start > 0 else np.linspace
    grid = spacing(start, stop, points) if stop > start else np.array([start])
    mean, low, high = mean_band(np.stack([np.interp(grid, s, v) for s, v in curves]), band)
    if all(v.min() >= 0 and v.max() <= 1 for _, v in curves):  # IoU-like: keep the band in [0, 1]
        low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
    return Curve(grid, mean, low, high, len(curves))


def value_range(curves: Sequence[Curve], full: float | None) -> tuple[float, float]:
    """The axis range: mean curves and the full-supervision line (a wide band of few seeds
    must not squash the curves), padded, within [0, 1] for IoU-like values."""
    values = [v for c in curves for v in c.mean] + ([full] if full else [])
    low, high = min(values), max(values)
    pad = 0.08 * (high - low or 1.0)
    bounded = low >= 0 and high <= 1
    return (max(0.0, low - pad), min(1.0, high + pad)) if bounded else (low - pad, high + pad)


def _styles(groups: Sequence[Group]) -> tuple[dict[str, int], dict[str, int]]:
    strategies = sorted({g.strategy for g in groups}, key=lambda s: (s != BASELINE, s))
    methods = sorted({g.method for g in groups})
    return {s: i for i, s in enumerate(strategies)}, {m: i for i, m in enumerate(methods)}


def _full_value(groups: Sequence[Group], metric: str) -> float | None:
    fulls = [run.full(metric) for g in groups for run in g.runs if run.full(metric)]
    return float(np.mean(fulls)) if fulls else None


def _axis_label(metric: str, classes: Sequence[str]) -> str:
    if metric == "miou":
        return "validation mIoU"
    if metric.startswith("iou:"):
        return f"validation IoU of class '{metric_label(metric, classes)[4:]}'"
    return f"validation {metric}"


def panel_curves(members, colour: dict, dash: dict, metric: str, log_x: bool, band: str) -> list:
    """(group, curve) for one panel in drawing order (by colour, then line style); groups with
    nothing evaluated are left out. Shared by the PNG and the HTML figure."""
    ordered = sorted(members, key=lambda g: (colour[g.strategy], dash[g.method]))
    pairs = [(group, group_curve(group, metric, log_x, band)) for group in ordered]
    return [(group, curve) for group, curve in pairs if curve is not None]


def plot_seconds_per_unit(runs: list[RunResult], path: str | Path) -> Path:
    """Seconds per annotated unit by round, mean over seeds, one line per group and panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = group_runs(runs)
    contexts = _contexts(groups)
    colour, dash = _styles(groups)
    palette = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(
        1, max(1, len(contexts)), figsize=(6 * max(1, len(contexts)), 4), dpi=120, squeeze=False
    )
    for ax, (context, members) in zip(axes[0], contexts.items(), strict=False):
        for group in sorted(members, key=lambda g: (colour[g.strategy], dash[g.method])):
            per_round: dict[int, list[float]] = defaultdict(list)
            for run in group.runs:
                for r, value in zip(run.evaluated, seconds_per_unit(run), strict=True):
                    if value is not None:
                        per_round[r.round].append(value)
            if not per_round:
                continue
            rounds = sorted(per_round)
            ax.plot(
                rounds,
                [np.mean(per_round[r]) for r in rounds],
                marker="o",
                ms=3,
                color=palette[colour[group.strategy] % len(palette)],
                ls=LINE_STYLES[dash[group.method] % len(LINE_STYLES)],
                label=group.label,
            )
        ax.set_xlabel("round")
        ax.set_ylabel("labelling seconds per unit")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        ax.set_title("Cost per unit by round" + (f"\n{context}" if context else ""), fontsize=10)
    return _save(fig, path)


LEGEND_INSIDE = 4  # arms per panel whose legend fits inside it without hiding curves


def plot_budget_curves(
    runs: list[RunResult],
    path: str | Path,
    metric: str = "miou",
    log_x: bool = False,
    band: str = "sem",
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    groups = group_runs(runs)
    contexts = _contexts(groups)
    colour, dash = _styles(groups)
    palette = plt.get_cmap("tab10").colors
    classes = runs[0].classes if runs else []
    # Many arms: the legend goes below the panels (in two columns), not over the curves.
    most = max((len(members) for members in contexts.values()), default=0)
    legend_rows = (most + 2) // 2 if most > LEGEND_INSIDE else 0
    fig, axes = plt.subplots(
        1,
        max(1, len(contexts)),
        figsize=(7.5 * max(1, len(contexts)), 4.8 + 0.2 * legend_rows),
        dpi=120,
        squeeze=False,
    )
    for ax, (context, members) in zip(axes[0], contexts.items(), strict=False):
        panel = panel_curves(members, colour, dash, metric, log_x, band)
        drawn = [curve for _, curve in panel]
        for group, curve in panel:
            style = {
                "color": palette[colour[group.strategy] % len(palette)],
                "ls": LINE_STYLES[dash[group.method] % len(LINE_STYLES)],
            }
            if curve.seeds == 1:
                ax.plot(curve.seconds, curve.mean, marker="o", ms=3, label=group.label, **style)
                continue
            ax.plot(curve.seconds, curve.mean, label=f"{group.label} (n={curve.seeds})", **style)
            alpha = 0.08 if legend_rows else 0.15  # many overlapping bands stay legible
            ax.fill_between(curve.seconds, curve.low, curve.high, color=style["color"], alpha=alpha)
        full = _full_value(members, metric)
        if full:
            ax.axhline(full, color="k", ls="--", lw=1, label=f"full supervision ({full:.3f})")
            right = ax.secondary_yaxis(
                "right", functions=(lambda y, f=full: 100 * y / f, lambda p, f=full: p * f / 100)
            )
            right.set_ylabel("% of full supervision")
        if drawn:
            ax.set_ylim(*value_range(drawn, full))
        whole = whole_pool_seconds([run for g in members for run in g.runs])
        if whole:
            top = ax.secondary_xaxis(
                "top",
                functions=(lambda x, w=whole[0]: 100 * x / w, lambda p, w=whole[0]: p * w / 100),
            )
            top.set_xlabel(f"% of labelling the whole pool by hand ({whole[1]})", fontsize=8)
        ax.set_xlabel("cumulative labelling cost (s)" + (", log scale" if log_x else ""))
        ax.set_ylabel(_axis_label(metric, classes))
        if log_x:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 200, not 2x10^2
            ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.grid(alpha=0.3)
        if legend_rows:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
        else:
            ax.legend(fontsize=7, loc="lower right")
        title = f"Budget curve: mean, band = {BANDS[band]}"
        # above the top axis's ticks and label, not over them
        ax.set_title(
            title + (f"\n{context}" if context else ""), fontsize=10, pad=20 if whole else 6
        )
    return _save(fig, path, svg_copy=True)


def plotly_figure(
    runs: list[RunResult], metric: str = "miou", log_x: bool = False, band: str = "sem"
):
    """The same panels as the PNG, interactive (hover shows seconds and values)."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    groups = group_runs(runs)
    contexts = _contexts(groups)
    colour, dash = _styles(groups)
    classes = runs[0].classes if runs else []
    fig = make_subplots(
        rows=1,
        cols=max(1, len(contexts)),
        subplot_titles=[c or "" for c in contexts] or [""],
        specs=[[{"secondary_y": True}] * max(1, len(contexts))],
    )
    palette = qualitative.D3
    for col, (_context, members) in enumerate(contexts.items(), start=1):
        panel = panel_curves(members, colour, dash, metric, log_x, band)
        drawn = [curve for _, curve in panel]
        whole = whole_pool_seconds([run for g in members for run in g.runs])
        hover = "%{x:.0f} s" + (" (%{customdata:.2f} % of labelling everything)" if whole else "")
        for group, curve in panel:
            rgb = palette[colour[group.strategy] % len(palette)]
            name = group.label + (f" (n={curve.seeds})" if curve.seeds > 1 else "")
            line = {"color": rgb, "dash": PLOTLY_DASHES[dash[group.method] % len(PLOTLY_DASHES)]}
            if curve.seeds > 1:
                fig.add_scatter(
                    x=np.concatenate([curve.seconds, curve.seconds[::-1]]),
                    y=np.concatenate([curve.high, curve.low[::-1]]),
                    fill="toself",
                    fillcolor=_rgba(rgb, 0.15),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=group.label,
                    row=1,
                    col=col,
                )
            fig.add_scatter(
                x=curve.seconds,
                y=curve.mean,
                customdata=100 * np.asarray(curve.seconds) / whole[0] if whole else None,
                hovertemplate=f"{hover}<br>%{{y:.3f}}<extra>{name}</extra>",
                name=name,
                mode="lines" if curve.seeds > 1 else "lines+markers",
                line=line,
                legendgroup=group.label,
                showlegend=col == 1,
                row=1,
                col=col,
            )
        full = _full_value(members, metric)
        low, high = value_range(drawn, full) if drawn else (0.0, 1.0)
        fig.update_yaxes(range=[low, high], row=1, col=col, secondary_y=False)
        if full and drawn:
            fig.add_hline(
                y=full,
                line={"color": "black", "dash": "dash", "width": 1},
                annotation_text=f"full supervision {full:.3f}",
                row=1,
                col=col,
            )
            # The right axis: the same range in % of full supervision.
            fig.add_scatter(
                x=[drawn[0].seconds[0]],
                y=[100.0],
                opacity=0,
                showlegend=False,
                hoverinfo="skip",
                row=1,
                col=col,
                secondary_y=True,
            )
            fig.update_yaxes(
                range=[100 * low / full, 100 * high / full],
                title_text="% of full supervision",
                tickformat=".0f",
                showgrid=False,
                row=1,
                col=col,
                secondary_y=True,
            )
        fig.update_yaxes(title_text=_axis_label(metric, classes), row=1, col=col, secondary_y=False)
        fig.update_xaxes(
            title_text="cumulative labelling cost (s)",
            type="log" if log_x else "linear",
            row=1,
            col=col,
        )
        if whole and drawn:
            _add_pool_axis(fig, col, len(contexts), drawn, whole, log_x)
    fig.update_layout(
        title=f"Budget curves: mean, band = {BANDS[band]}",
        template="plotly_white",
        height=520,
        width=max(900, 650 * len(contexts)),
    )
    return fig


def _add_pool_axis(fig, col: int, cols: int, drawn, whole: tuple[float, str], log_x: bool):
    """A top axis over panel ``col`` reading the seconds as % of labelling the whole pool, as
    the PNG's: an overlaying x axis whose range is the panel's range scaled by 100 / whole."""
    seconds = np.concatenate([np.asarray(curve.seconds, float) for curve in drawn])
    seconds = seconds[seconds > 0] if log_x else seconds
    if seconds.size == 0:
        return
    low, high = float(seconds.min()), float(seconds.max())
    pad = 0.02 * (high - low or 1.0)
    bottom = [low - pad, high + pad] if not log_x else [np.log10(low), np.log10(high)]
    scale = 100.0 / whole[0]
    top = [v * scale for v in bottom] if not log_x else [v + np.log10(scale) for v in bottom]
    base = fig.get_subplot(1, col).xaxis.plotly_name  # "xaxis", "xaxis2", ...
    anchor = fig.get_subplot(1, col).yaxis.plotly_name.replace("axis", "")
    name = f"xaxis{cols + col}"
    fig.update_layout(
        {
            base: {"range": bottom},
            name: {
                "overlaying": base.replace("axis", ""),
                "anchor": anchor,
                "side": "top",
                "range": top,
                "type": "log" if log_x else "linear",
                "showgrid": False,
                "ticksuffix": " %",
                "tickformat": ".3~g",
                "nticks": 6,
                "title": {"text": f"% of labelling the whole pool ({whole[1]})"},
            },
            "margin": {"t": 130},  # the figure's title above the top axis's title
        }
    )
    # An axis with no trace is not drawn: one invisible point puts it on the panel.
    fig.add_scatter(
        x=[top[0]],
        y=[float(drawn[0].mean[0])],
        xaxis=name.replace("axis", ""),
        yaxis=anchor,
        opacity=0,
        showlegend=False,
        hoverinfo="skip",
    )


def _rgba(colour: str, alpha: float) -> str:
    if colour.startswith("#"):
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
        return f"rgba({r},{g},{b},{alpha})"
    return colour.replace("rgb(", "rgba(").replace(")", f",{alpha})")


def _save(fig, path: str | Path, svg_copy: bool = False) -> Path:
    """Save ``fig`` at ``path``; with ``svg_copy`` also as SVG beside it (text that a README or
    paper embeds and a diff reads; text kept as text, not paths, so it stays small)."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    if svg_copy:
        with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "al-loop"}):
            fig.savefig(path.with_suffix(".svg"), metadata={"Date": None})
    plt.close(fig)
    return path
