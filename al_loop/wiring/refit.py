"""A run's labels trained the way its 100 % line was: the fair last point of a budget curve.

The loop fits a few warm-started epochs a round (cheap enough to run many rounds), while the
full-supervision reference trains until val mIoU stops improving. Comparing the two mixes a
labelling question with a training one: on CamVid the labels of an 80,000 s region-label run,
trained like the reference, reach 0.474 val mIoU where the loop's own model had 0.414 (README,
"The long CamVid study"). ``refit_run`` trains a fresh model on every label the run holds with
the run's own full-supervision recipe (``full_supervision_reference`` on the run's labels as a
data set, ``dataset.name: run``) and stores the result in the run's store, where ``al-loop
report`` reads it (``final_refit`` / ``pct_full_refit`` columns).

Its plateau counts epochs of the run's pool, not of the labelled images: with labels on 67 of
367 CamVid frames an epoch is 9 steps instead of 46, and a patience of 3 such epochs stopped the
fit after 27 steps without a better score, long before the reference would have; evaluating
every 5 epochs of the labelled frames gives it the reference's steps between evaluations.

It resumes from a checkpoint beside the store (a killed refit continues), holds the run
directory's lock (a live run is refused, one line), and is skipped when the stored result was
made from the same labels (same spent seconds) unless ``force``.
"""

from __future__ import annotations

import json
from pathlib import Path

from al_loop.core.config import parse_config, read_yaml_mapping
from al_loop.core.errors import DataError
from al_loop.core.lock import DirectoryLock
from al_loop.core.progress import ProgressFactory, no_progress
from al_loop.core.store import POOL_IMAGES_META, REFIT_META, STORE_FILE, LabelStore
from al_loop.data.run import RUN_CONFIG
from al_loop.wiring.build import full_supervision_reference, load_splits

CHECKPOINT_FILE = "refit.checkpoint.pt"
KEPT = ("miou", "per_class_iou", "mean_dice", "pixel_accuracy", "epochs", "best_epoch", "steps")


def labelled_seconds(store: LabelStore) -> float:
    """Seconds spent by the last evaluated round: which labels a stored refit was made from."""
    evaluated = [r for r in store.rounds() if r.status == "evaluated"]
    return float(evaluated[-1].seconds_total) if evaluated else 0.0


def stored_refit(run_dir: str | Path) -> dict | None:
    store_path = Path(run_dir) / STORE_FILE
    with LabelStore(store_path, read_only=True) as store:
        return json.loads(store.get_meta(REFIT_META, "null"))


def refit_run(
    run_dir: str | Path, progress: ProgressFactory = no_progress, force: bool = False
) -> tuple[dict, bool]:
    """(the stored refit, whether it was computed now). DataError when the run directory has
    no run; RunDirError when a live run holds it."""
    run_dir = Path(run_dir)
    store_path, config_path = run_dir / STORE_FILE, run_dir / RUN_CONFIG
    for path in (store_path, config_path):
        if not path.is_file():
            raise DataError(f"{path}: not found; refit needs a run directory of `al-loop run`")
    with DirectoryLock(run_dir):
        with LabelStore(store_path, read_only=True) as store:
            seconds = labelled_seconds(store)
            stored = json.loads(store.get_meta(REFIT_META, "null"))
            pool_images = store.get_meta(POOL_IMAGES_META)
        if stored is not None and stored.get("seconds_total") == seconds and not force:
            return stored, False
        data = read_yaml_mapping(config_path)
        if pool_images is None:  # a run of an earlier version: count its pool once
            pool_images = len(load_splits(parse_config(data, str(config_path))).train)
        data["dataset"] = {"name": "run", "params": {"root": str(run_dir)}}
        config = parse_config(data, str(config_path))
        splits = load_splits(config)
        checkpoint = run_dir / CHECKPOINT_FILE
        reference = full_supervision_reference(
            config, splits, progress, checkpoint=checkpoint, epoch_images=int(pool_images)
        )
        result = {k: reference[k] for k in KEPT if k in reference}
        result.update(
            val_curve=reference.get("val_curve"),
            seconds_total=seconds,
            labelled_images=len(splits.train.images),
            pool_images=int(pool_images),
        )
        with LabelStore(store_path) as store:
            store.set_meta(REFIT_META, json.dumps(result))
        checkpoint.unlink(missing_ok=True)
        return result, True
