"""The full-supervision reference trained until val mIoU plateaus: epochs used, val curve, CPU.

    OMP_NUM_THREADS=1 nice python benchmarks/bench_reference_plateau.py davis

DAVIS at 224x416 (first 60 frames) or CamVid at 192x256 (40 frames per split), the segmenter
of benchmarks/bench_fit_windows.py, at least 4 epochs, then patience 3 (val every epoch), at
most 20 epochs. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from al_loop.wiring.build import full_supervision_reference, load_splits  # noqa: E402
from al_loop.wiring.config import parse_config  # noqa: E402

PARAMS = {
    "davis": {"root": "/work/shared/datasets/DAVIS", "hw": [224, 416], "limit": 60},
    "camvid": {"root": "/work/shared/datasets/CamVid", "hw": [192, 256], "limit": 40},
}


def main() -> None:
    dataset = sys.argv[1] if len(sys.argv) > 1 else "davis"
    config = parse_config(
        {
            "seed": 0,
            "threads": 1,
            "dataset": {"name": dataset, "params": PARAMS[dataset]},
            "segmenter": {"epochs": 4, "batch_size": 8, "lr": 0.001},
            "full_supervision": {"epochs": 4, "patience": 3, "eval_every": 1, "max_epochs": 20},
        }
    )
    torch.set_num_threads(1)
    splits = load_splits(config)
    c0, t0 = time.process_time(), time.perf_counter()
    ref = full_supervision_reference(config, splits)
    out = {k: ref[k] for k in ("miou", "epochs", "best_epoch", "steps", "val_curve")}
    out.update(
        cpu_s=time.process_time() - c0,
        wall_s=time.perf_counter() - t0,
        pool=len(splits.train),
        val=len(splits.val),
    )
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
