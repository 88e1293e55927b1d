"""Seconds per interaction measured from a person: ``al-loop costs PROJECT_DIR``.

The app logs every interaction with its timing (``t0``: the person's previous action, ``t``:
each of its points, ``t1``: when it was complete; app/session.py, app/feature_view.py). A kind's
sample is the time from the previous action to the interaction's completion, each gap capped at
IDLE_CAP_SECONDS as the app caps a unit's seconds; a polygon gives one sample per vertex (the
gap before it) and one for the whole outline. The result is a cost table in
``configs/costs.yaml``'s format: measured entries carry their median, n and quartiles, the rest
keep the base table's (literature) figures, so ``annotation.costs`` can price simulations by
this person's hand.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import yaml

from al_loop.core.cost import DEFAULT_COSTS_PATH, IDLE_CAP_SECONDS, CostTable
from al_loop.core.errors import DataError
from al_loop.core.store import STORE_FILE, LabelStore

# cost entry -> what the person did, in the order the tables list them
KINDS = {
    "click_first": "first click on an object",
    "click_further": "further click",
    "extreme_points": "extreme points (4 clicks)",
    "inside_outside": "inside-outside (2 corners + 1 click)",
    "box": "box (2 corners)",
    "scribble_stroke": "stroke",
    "polygon_vertex": "polygon vertex",
    "polygon_instance": "polygon (whole outline)",
    "feature_space_box": "feature-space box",
}
_BY_TYPE = {
    "ExtremePoints": "extreme_points",
    "InsideOutside": "inside_outside",
    "Box": "box",
    "Scribble": "scribble_stroke",
    "SegmentLabel": "feature_space_box",
}


def _gaps(times: list[float], cap: float, waits: list = ()) -> np.ndarray:
    """The gaps between consecutive actions, less the app's waits inside each (the person
    was not working then), capped at ``cap`` (idle)."""
    times = np.asarray(times, dtype=float)
    gaps = np.diff(times)
    for start, end in waits:  # disjoint intervals (app.session.interaction_log)
        gaps -= np.clip(np.minimum(end, times[1:]) - np.maximum(start, times[:-1]), 0.0, None)
    return np.clip(gaps, 0.0, cap)


def timed_samples(
    logs: Iterable[list[dict]], cap: float = IDLE_CAP_SECONDS
) -> dict[str, list[float]]:
    """Seconds per interaction kind from stored interaction logs (one list per annotation);
    untimed entries (simulated users, drafts of an earlier app) are left out. A feature-space
    box stored with several units counts once."""
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    boxes_seen: set[tuple] = set()
    for log in logs:
        found: set = set()  # objects with an interaction before, or started from the model
        for entry in log:
            obj = entry.get("object", 0)
            kind = entry.get("type")
            if entry.get("start") == "model" or kind is None:
                found.add(obj)
                continue
            timed = all(k in entry for k in ("t0", "t", "t1"))
            if timed:
                times = [entry["t0"], *entry["t"], entry["t1"]]
                waits = entry.get("waits", [])
                whole = float(_gaps(times, cap, waits).sum())
                if kind == "Click":
                    samples["click_further" if obj in found else "click_first"].append(whole)
                elif kind == "Polygon":
                    samples["polygon_vertex"].extend(_gaps(times[:-1], cap, waits).tolist())
                    samples["polygon_instance"].append(whole)
                elif kind == "SegmentLabel":
                    key = (entry["t0"], entry["t1"])
                    if key not in boxes_seen:
                        boxes_seen.add(key)
                        samples["feature_space_box"].append(whole)
                elif kind in _BY_TYPE:
                    samples[_BY_TYPE[kind]].append(whole)
            found.add(obj)
    return samples


def summarize(samples: dict[str, list[float]]) -> dict[str, dict]:
    """Median, quartiles and n of every kind with at least one sample."""
    out = {}
    for kind, values in samples.items():
        if values:
            q1, median, q3 = np.percentile(np.asarray(values, float), [25, 50, 75])
            out[kind] = {"median": float(median), "q1": float(q1), "q3": float(q3)}
            out[kind]["n"] = len(values)
    return out


def project_logs(project_dir: str | Path) -> list[list[dict]]:
    """The interaction logs of every annotation a person made in the project (or run)."""
    path = Path(project_dir) / STORE_FILE
    if not path.is_file():
        raise DataError(f"{path}: no label store here (an app project's folder?)")
    with LabelStore(path, read_only=True) as store:
        return [
            a["interactions"]
            for a in store.annotation_logs()
            if str(a["annotator"]).startswith("person:")
        ]


def measured_table(
    summary: dict[str, dict],
    origin: str,
    date: str,
    base_path: str | Path | None = None,
) -> dict:
    """A cost table (``configs/costs.yaml``'s format): measured entries from ``summary``, every
    other entry as the base table has it. Validated before it is returned."""
    base_path = Path(base_path) if base_path is not None else DEFAULT_COSTS_PATH
    base = CostTable.load(base_path)  # validates the base too
    raw = yaml.safe_load(base_path.read_text())
    entries = {}
    for name, spec in raw["entries"].items():
        if name in summary:
            entries[name] = {
                **_measured_entry(summary[name], origin, date),
                "note": f"median; literature: {base[name]:g} s ({_source(base, name)})",
            }
        else:
            entries[name] = spec
    for name in summary.keys() - entries.keys():  # a kind the base table does not list
        entries[name] = _measured_entry(summary[name], origin, date)
    table = {"entries": entries, "polygon_pricing": raw.get("polygon_pricing", "per_instance")}
    CostTable.from_dict(table, origin=f"measured table of {origin}")
    return table


def _measured_entry(measured: dict, origin: str, date: str) -> dict:
    """A cost-table entry from a kind's summary (median, quartiles, n)."""
    return {
        "seconds": round(measured["median"], 2),
        "source": f"measured in the app: {origin}, {date}, n={measured['n']}",
        "n": measured["n"],
        "quartiles": [round(measured["q1"], 2), round(measured["q3"], 2)],
    }


def _source(table: CostTable, name: str) -> str:
    entry = table.entries[name]
    return "assumption" if entry.assumption else (entry.source or "").split(",")[0]


def comparison_rows(summary: dict[str, dict], base: CostTable) -> list[dict]:
    """One row per kind: the measured median (n, quartiles) beside the literature's figure."""
    rows = []
    for kind, label in KINDS.items():
        m = summary.get(kind)
        rows.append(
            {
                "interaction": label,
                "entry": kind,
                "measured s": f"{m['median']:.2f}" if m else "-",
                "quartiles s": f"{m['q1']:.2f}-{m['q3']:.2f}" if m else "-",
                "n": m["n"] if m else 0,
                "literature s": f"{base.get(kind):g}" if kind in base.entries else "-",
                "literature source": _source(base, kind) if kind in base.entries else "-",
            }
        )
    return rows


def write_costs(
    project_dir: str | Path,
    out: str | Path,
    base_path: str | Path | None = None,
    date: str | None = None,
) -> tuple[Path, list[dict]]:
    """Measure the project's interactions, write the table to ``out``; (path, comparison)."""
    from al_loop.reports.report import markdown_table

    project_dir = Path(project_dir).resolve()
    summary = summarize(timed_samples(project_logs(project_dir)))
    if not summary:
        raise DataError(
            f"{project_dir}: no timed interactions (label some units in the app first; "
            "simulated runs and earlier app versions log no times)"
        )
    date = date or datetime.date.today().isoformat()
    table = measured_table(summary, str(project_dir), date, base_path)
    rows = comparison_rows(summary, CostTable.load(base_path))
    header = [
        f"Seconds per interaction measured from the person labelling {project_dir}",
        f"(al-loop costs, {date}); entries without n keep the base table's figures.",
        "Use it: annotation.costs: PATH in a run or sweep config.",
        "",
        *markdown_table(rows).splitlines(),
    ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header)
    out.write_text(text + "\n" + yaml.safe_dump(table, sort_keys=False, width=100))
    return out, rows
