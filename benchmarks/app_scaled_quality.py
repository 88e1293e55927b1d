"""What the app's working copy costs in quality: NoC of each method on the copy the Annotate page
uses (app.scaled: at most 400 px on the long side, the GrabCut family smaller, the mask scaled
back; each method built with the app's parameters, app.scaled.APP_PARAMS), under the standard
protocol (al_loop.interactive.noc, same users and seeds as ``al-loop noc``), to set beside the
full-resolution NoC in the README.

    .venv/bin/python benchmarks/app_scaled_quality.py --limit 25 [--method grabcut_clicks ...]
        [--side 320]  (every method on a copy of that long side instead of its own)
        [--library]  (also, where the app's parameters differ, the registry's defaults)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from al_loop.annotators.noc import run_noc
from al_loop.core.cost import CostTable
from al_loop.core.interactions import to_json
from al_loop.interactive import make_method
from al_loop.interactive import noc as bench
from app import scaled

ROOT = Path(__file__).resolve().parents[1]
DAVIS = ROOT.parent / "shared/datasets/DAVIS"
METHODS = ["watershed_clicks", "grabcut_clicks", "grabcut_box", "scribbles"]


class OnWorkingCopy:
    """``method`` as the app runs it: on the image's working copy, the mask scaled back."""

    def __init__(self, method, side: int | None = None):
        self.method, self.name, self.interaction = method, method.name, method.interaction
        self.side = side

    def start(self, image, initial_mask=None):
        start = np.zeros(image.shape[:2], bool) if initial_mask is None else initial_mask
        return _Session(scaled.start(self.method, image, initial_mask, self.side), start)


class _Session:
    def __init__(self, session, mask):
        self.session, self._mask = session, mask

    @property
    def mask(self):
        return self._mask

    def add(self, interaction):
        self._mask = self.session.add(to_json(interaction))
        return self._mask


def main(
    dataset: Path,
    limit: int,
    methods: list[str],
    costs: Path,
    side: int | None = None,
    library: bool = False,
) -> dict:
    samples = bench.load_noc_samples(dataset, limit)
    cost = CostTable.load(costs)
    built = [(name, scaled.app_method(name)) for name in methods]
    if library:  # the registry's defaults beside the app's parameters, where they differ
        built += [(f"{n} (library)", make_method(n)) for n in methods if scaled.app_params(n)]
    rows = {}
    for label, method in built:
        started = time.process_time()
        records = run_noc(OnWorkingCopy(method, side), samples, cost)
        rows[label] = {**bench.summarize(records), "cpu_s": time.process_time() - started}
        print(f"{label} on {side or scaled.work_side(method.name)} px: {rows[label]}", flush=True)
    print(bench.format_table(rows))
    out = Path(__file__).parent / "results" / "app_scaled_quality.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", type=Path, default=DAVIS)
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--method", nargs="+", default=METHODS)
    parser.add_argument("--costs", type=Path, default=ROOT / "configs/costs.yaml")
    parser.add_argument("--side", type=int, help="the working copy's long side for every method")
    parser.add_argument(
        "--library", action="store_true", help="also the registry's defaults where the app differs"
    )
    args = parser.parse_args()
    main(args.dataset, args.limit, args.method, args.costs, args.side, args.library)
