"""Near-duplicates on DAVIS: how many frames and videos each strategy's picks spread over.

    python benchmarks/study_near_duplicates.py runs/sweep_davis_strategies

Consecutive frames of one DAVIS video are near-duplicates, so a strategy that piles its units
onto a few frames of a few videos spends labelling seconds on what the model has nearly seen.
For every run of a sweep over DAVIS: the units annotated in rounds >= 1 (the strategy's own
picks; round 0 is the random seed set), the distinct frames and videos they come from, and units
per frame. Reads the stores only.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from al_loop.core.store import STORE_FILE  # noqa: E402
from al_loop.data.benchmarks import davis_video_ids  # noqa: E402


def picks(store_path: Path) -> list[str]:
    with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT image_name FROM units WHERE round >= 1 AND status = 'annotated'"
        ).fetchall()
    return [name for (name,) in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    args = parser.parse_args()
    runs = sorted(p for p in args.sweep_dir.iterdir() if (p / STORE_FILE).is_file())
    print(f"{'run':48s} {'units':>5s} {'frames':>6s} {'videos':>6s} {'units/frame':>11s}")
    for run in runs:
        names = picks(run / STORE_FILE)
        videos = davis_video_ids(names) if names else None
        if videos is None:
            continue  # nothing picked yet, or not the DAVIS frame set
        print(
            f"{run.name[:48]:48s} {len(names):5d} {len(set(names)):6d} "
            f"{len(set(videos.tolist())):6d} {len(names) / len(set(names)):11.2f}"
        )


if __name__ == "__main__":
    main()
