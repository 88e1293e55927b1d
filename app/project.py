"""A labelling project on disk, kept free of Streamlit so every rule here is unit-tested.

Layout of PROJECT_DIR::

    project.yaml      the experiment config; its dataset is the folder ``data`` below
    data/images/      copied in at creation (masks/ and classes.yaml optional)
    store.sqlite      rounds, queued units with leases, annotations (al_loop.core.store)
    checkpoints/      the latest evaluated model (its predictions: optional starting masks)
    drafts/           the current unit's interactions (and each tab's feature-space view), so a
                      browser refresh loses nothing
    job.json          state of the background "finish round" job
    exports/          dataset folders and COCO JSON written by export()

Every path the app reads or writes goes through ``inside(project_dir, ...)``, so nothing a
person types or a config names can reach outside the project folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from al_loop.core.config import ExperimentConfig, parse_config, read_yaml_mapping
from al_loop.core.cost import IDLE_CAP_SECONDS
from al_loop.core.errors import DataError, StoreError
from al_loop.core.experiment import Loop
from al_loop.core.lock import DirectoryLock
from al_loop.core.progress import no_progress
from al_loop.core.protocols import UnitAnnotation
from al_loop.core.store import STORE_FILE, LabelStore, QueuedUnit, RoundRecord
from al_loop.core.units import Unit, UnitSpace
from al_loop.data import load_dataset, write_folder
from al_loop.data.base import IGNORE, ClassInfo, DatasetSplits, SegmentationData
from al_loop.data.folder import IMAGE_SUFFIXES, write_classes
from al_loop.data.run import PROJECT_CONFIG
from al_loop.wiring.build import (
    build_loop_segmenter,
    build_parts,
    build_segmenter,
    build_unit_space,
)
from al_loop.wiring.check import check_config

PROJECT_FILE = PROJECT_CONFIG  # the run dataset reads projects too
DATA_DIR = "data"
JOB_FILE = "job.json"
EXPORTS_DIR = "exports"
LEASE_SECONDS = 900.0
CHECK_STREAM = 7  # the check set's random draws: a stream of its own, apart from the loop's

DEFAULT_CONFIG = {
    "name": "app",
    "threads": 1,
    "units": {"kind": "image"},
    "segmenter": {"epochs": 2, "min_steps": 20, "batch_size": 4},
    "strategy": {"name": "entropy"},
    "budget": {"initial_seconds": 120, "round_seconds": 120, "total_seconds": 100000},
    "full_supervision": {"enabled": False},
}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)  # atomic: a kill leaves the old file or the new one


def _read_draft(path: Path) -> dict | None:
    """The JSON at ``path``, or None (none saved, or unreadable: the page starts afresh)."""
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None


def inside(project_dir: str | Path, *parts: str) -> Path:
    """``project_dir/parts``, refused (DataError) if it resolves outside the project folder."""
    root = Path(project_dir).resolve()
    path = root.joinpath(*parts).resolve()
    if path != root and root not in path.parents:
        raise DataError(f"{Path(*parts)}: outside the project folder {root}")
    return path


def merge_intervals(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of (start, end) intervals as disjoint sorted ones."""
    merged: list[list[float]] = []
    for start, end in sorted((float(a), float(b)) for a, b in intervals if b > a):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def _overlap(start: float, end: float, merged: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in merged)


def active_seconds(
    event_times: list[float],
    cap: float = IDLE_CAP_SECONDS,
    waits: Sequence[tuple[float, float]] = (),
) -> float:
    """The person's time on a unit: the gaps between consecutive actions, less the time in
    each gap the app kept them waiting (``waits``: (start, end) intervals, e.g. a click until
    its mask showed), each capped at ``cap`` (idle)."""
    times = np.asarray(event_times, dtype=float)
    merged = merge_intervals(waits)
    total = 0.0
    for start, end in zip(times[:-1], times[1:], strict=True):
        gap = max(0.0, end - start) - _overlap(start, end, merged)
        total += min(max(gap, 0.0), cap)
    return float(total)


def waiting_seconds(event_times: list[float], waits: Sequence[tuple[float, float]]) -> float:
    """The seconds between a unit's first and last action the app kept the person waiting."""
    if len(event_times) < 2:
        return 0.0
    return float(_overlap(min(event_times), max(event_times), merge_intervals(waits)))


def unit_labels(unit_mask: np.ndarray, objects: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """uint8 labels inside a unit's box: background 0, each object's class painted in order,
    IGNORE outside the unit (a grid cell's box is its own; a superpixel's is not)."""
    labels = np.zeros(unit_mask.shape, np.uint8)
    for class_id, mask in objects:
        labels[mask] = class_id
    labels[~unit_mask] = IGNORE
    return labels


def create_project(
    project_dir: str | Path,
    images_dir: str | Path,
    masks_dir: str | Path | None = None,
    config: dict | None = None,
    classes_file: str | Path | None = None,
    binary: bool = False,
) -> Path:
    """Copy a folder of images (and optional masks) into a new project and queue round 0.
    ``binary``: any non-zero mask pixel is the object (class 1), as in masks that number
    instances or hold colours (DAVIS). A creation that fails leaves no project behind: what it
    made is removed, a folder that existed before is left as it was."""
    project_dir = Path(project_dir)
    if (project_dir / PROJECT_FILE).exists():
        raise DataError(f"{project_dir / PROJECT_FILE}: a project exists here already")
    if not Path(images_dir).is_dir():
        raise DataError(f"{images_dir}: not a folder of images")
    if masks_dir is not None and not Path(masks_dir).is_dir():
        raise DataError(f"{masks_dir}: not a folder of masks")
    images = sorted(p for p in Path(images_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{images_dir}: no images ({', '.join(IMAGE_SUFFIXES)})")
    existed = set(project_dir.iterdir()) if project_dir.is_dir() else None
    try:
        _fill_project(project_dir, images, masks_dir, config, classes_file, binary)
    except BaseException as err:
        _remove_new(project_dir, existed)
        is_mask = isinstance(err, DataError) and "mask" in str(err).lower()
        if is_mask and masks_dir is not None and not binary:
            raise DataError(
                f"{err}; if these masks number instances or hold colours, pass --binary "
                "(any non-zero pixel is the object)"
            ) from None
        raise
    return project_dir


def _fill_project(project_dir, images, masks_dir, config, classes_file, binary) -> None:
    data_dir = inside(project_dir, DATA_DIR)
    (data_dir / "images").mkdir(parents=True, exist_ok=True)
    for path in images:
        shutil.copy2(path, data_dir / "images" / path.name)
    if masks_dir is not None:
        (data_dir / "masks").mkdir(exist_ok=True)
        for path in sorted(Path(masks_dir).glob("*.png")):
            if binary:
                cv2.imwrite(str(data_dir / "masks" / path.name), binary_mask(path))
            else:
                shutil.copy2(path, data_dir / "masks" / path.name)
    if classes_file is not None:
        shutil.copy2(classes_file, data_dir / "classes.yaml")
    elif binary:
        write_classes([ClassInfo("background", (0, 0, 0)), ClassInfo("object", (255, 64, 64))],
                      data_dir / "classes.yaml")  # fmt: skip
    merged = {**DEFAULT_CONFIG, **(config or {})}
    params = dict(merged.get("dataset", {}).get("params", {}))
    params["root"] = DATA_DIR  # relative: resolved inside the project on open
    merged["dataset"] = {"name": "folder", "params": params}
    # fail now, not at the first round (the data root is checked when the project opens)
    check_config(parse_config(merged, str(project_dir / PROJECT_FILE)))
    (project_dir / PROJECT_FILE).write_text(yaml.safe_dump(merged, sort_keys=False))
    with Project(project_dir) as project:
        project.select_first_round()


def binary_mask(path: Path) -> np.ndarray:
    """uint8 0/1: 1 wherever any channel of the mask at ``path`` is non-zero."""
    try:
        with Image.open(path) as pil:
            mask = np.asarray(pil)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: unreadable or corrupt mask") from err
    return (mask.reshape(*mask.shape[:2], -1) != 0).any(axis=2).astype(np.uint8)


def _remove_new(project_dir: Path, existed: set[Path] | None) -> None:
    """Remove what a failed creation made: the folder, or only the entries it added."""
    if existed is None:
        shutil.rmtree(project_dir, ignore_errors=True)
        return
    for path in set(project_dir.iterdir()) - existed:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class _Person:
    """The loop's annotator in the app is a person in a browser: the loop never calls it."""

    def annotate(self, *args, **kwargs) -> UnitAnnotation:
        raise StoreError("units of an app project are annotated in the app")


class _ScoredOnCheckSet:
    """The loop's segmenter, its evaluate() also scoring the person's held-out check labels:
    ``check_miou`` is the model's agreement with them. A pool without ground-truth masks has
    no other score (its ``miou`` is NaN)."""

    def __init__(
        self,
        segmenter,
        check_set: Callable[[], SegmentationData | None],
        has_ground_truth: bool,
    ):
        self._segmenter = segmenter
        self._check_set = check_set
        self._has_ground_truth = has_ground_truth

    def __getattr__(self, name):
        return getattr(self._segmenter, name)

    def evaluate(self, data: SegmentationData) -> dict:
        if self._has_ground_truth:
            metrics = self._segmenter.evaluate(data)
        else:
            metrics = {"miou": math.nan, "per_class_iou": []}
        check = self._check_set()
        if check is not None:
            scores = self._segmenter.evaluate(check)
            metrics.update(
                check_miou=scores["miou"],
                check_per_class_iou=scores["per_class_iou"],
                check_images=len(check),
                check_pixels=int((check.masks != IGNORE).sum()),
            )
        return metrics


def metric_curve(rounds: Sequence[RoundRecord], key: str) -> list[dict]:
    """(round, cumulative seconds, value) of every evaluated round scored on ``key``: ``miou``
    (against ground truth) or ``check_miou`` (agreement with the check set, with its size)."""
    points = []
    for r in rounds:
        value = (r.metrics or {}).get(key) if r.status == "evaluated" else None
        if value is None or math.isnan(value):
            continue
        point = {"round": r.round, "seconds": r.seconds_total, key: value}
        if key == "check_miou":
            point["check images"] = r.metrics.get("check_images")
        points.append(point)
    return points


@dataclass
class Project:
    project_dir: Path
    config: ExperimentConfig = field(init=False)
    store: LabelStore = field(init=False)
    # Loaded once per app server and shared by every page run (each run opens its own store:
    # SQLite connections stay in the thread that made them).
    preloaded: tuple[DatasetSplits, UnitSpace] | None = None
    _splits: DatasetSplits | None = field(default=None, init=False)
    _unit_space: UnitSpace | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.project_dir = Path(self.project_dir).resolve()
        config_path = self.project_dir / PROJECT_FILE
        if not config_path.is_file():
            raise DataError(f"{config_path}: not a project (create one with al-loop app --images)")
        data = read_yaml_mapping(config_path, "project config")
        params = data.get("dataset", {}).get("params", {})
        params["root"] = str(inside(self.project_dir, str(params.get("root", DATA_DIR))))
        self.config = parse_config(data, str(config_path))
        self.store = LabelStore(inside(self.project_dir, STORE_FILE))
        if self.preloaded is not None:
            self._splits, self._unit_space = self.preloaded

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- data ---------------------------------------------------------------------------------
    @property
    def splits(self) -> DatasetSplits:
        if self._splits is None:
            self._splits = load_dataset(self.config.dataset.name, **self.config.dataset.params)
        return self._splits

    @property
    def pool(self) -> SegmentationData:
        return self.splits.train

    @property
    def has_ground_truth(self) -> bool:
        return self.splits.val.masks is not None and len(self.splits.val) > 0

    @property
    def unit_space(self) -> UnitSpace:
        if self._unit_space is None:
            self._unit_space = build_unit_space(self.config, self.pool)
        return self._unit_space

    def crop_box(self, unit: Unit) -> tuple[int, int, int, int]:
        """The unit's box widened by ``annotation.context_margin``: what the person sees."""
        y0, x0, y1, x1 = self.unit_space.box(unit)
        m = self.config.annotation.context_margin
        h, w = self.pool.hw
        return max(0, y0 - m), max(0, x0 - m), min(h, y1 + m), min(w, x1 + m)

    # -- the loop -----------------------------------------------------------------------------
    def loop(self, progress=None, log=print) -> Loop:
        """The loop with the parts ``al-loop run`` wires (al_loop.wiring.build.build_parts), a
        person in the browser as its annotator and a segmenter also scored on the check set."""
        check_config(self.config)
        segmenter = _ScoredOnCheckSet(
            build_loop_segmenter(self.config, self.splits),
            self.check_set,
            self.has_ground_truth,
        )
        parts = build_parts(
            self.config,
            self.splits,
            self.project_dir,
            person=_Person(),
            segmenter=segmenter,
            unit_space=self.unit_space,
        )
        return parts.loop(self.store, progress=progress or no_progress, log=log)

    def select_first_round(self) -> None:
        self.store.bind_config(self.config.to_dict())
        self.store.set_meta("classes", json.dumps([c.name for c in self.pool.classes]))
        if self.store.last_round() is None:
            loop = self.loop(log=lambda message: None)
            loop.resume()
            loop.select_round(0)

    def open_round(self) -> int | None:
        """The round whose budget a person is labelling now, or None while a round is being
        trained (labelling goes on meanwhile, from its queue: ``lease``)."""
        last = self.store.last_round()
        return last.round if last is not None and last.status == "selected" else None

    # -- annotating ---------------------------------------------------------------------------
    def lease(self, owner: str, held_out: bool | None = None) -> QueuedUnit | None:
        """The next unit for ``owner``: from the last round's queue, also while that round is
        being trained (until the next ranking replaces the queue). ``held_out``: only check
        units, or none of them (None: check units first, then the ranking)."""
        last = self.store.last_round()
        if last is None:
            return None
        return self.store.lease_next(last.round, owner, LEASE_SECONDS, held_out)

    def accept(
        self,
        queued: QueuedUnit,
        objects: list[tuple[int, np.ndarray]],
        seconds: float,
        interactions: list[dict],
        method: str,
        annotator: str,
        wait_seconds: float = 0.0,
    ) -> None:
        """Store the unit's labels: ``objects`` are (class id, bool mask over the crop box);
        ``seconds`` the person's active seconds, ``wait_seconds`` the app's waits apart."""
        unit = queued.unit
        y0, x0, y1, x1 = self.unit_space.box(unit)
        cy0, cx0, _, _ = self.crop_box(unit)
        in_box = [(c, m[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0]) for c, m in objects]
        labels = unit_labels(self.unit_space.mask(unit), in_box)
        self.accept_labels(queued, labels, seconds, interactions, method, annotator, wait_seconds)

    def accept_labels(
        self,
        queued: QueuedUnit,
        labels: np.ndarray,
        seconds: float,
        interactions: list[dict],
        method: str,
        annotator: str,
        wait_seconds: float = 0.0,
    ) -> None:
        """Store uint8 class ids over the unit's box (IGNORE: not labelled, e.g. segments
        nobody assigned in the feature-space view; outside the unit, IGNORE regardless)."""
        unit = queued.unit
        box = self.unit_space.box(unit)
        labels = np.where(self.unit_space.mask(unit), labels, IGNORE).astype(np.uint8)
        round_index = self.store.labelling_round()
        annotation = UnitAnnotation(
            unit, box, labels, seconds, interactions, method, annotator, wait_seconds
        )
        self.store.add_annotation(queued.id, round_index, annotation)
        self.drop_draft(queued.id)

    def set_status(self, queued: QueuedUnit, status: str) -> None:
        self.store.set_unit_status(queued.id, status)
        self.drop_draft(queued.id)

    # -- drafts: the current unit's interactions survive a refresh ----------------------------
    def _draft_path(self, unit_id: int) -> Path:
        return inside(self.project_dir, "drafts", f"unit_{int(unit_id)}.json")

    def save_draft(self, unit_id: int, draft: dict) -> None:
        _write_json(self._draft_path(unit_id), draft)

    def load_draft(self, unit_id: int) -> dict | None:
        """The saved draft, or None (none saved, or unreadable: the page starts afresh)."""
        return _read_draft(self._draft_path(unit_id))

    def drop_draft(self, unit_id: int) -> None:
        self._draft_path(unit_id).unlink(missing_ok=True)

    # The feature-space view's draft belongs to a tab, not a unit: its file is named by a hash
    # of the tab id (which comes from the URL, so it never becomes part of a path as typed).
    def _view_draft_path(self, owner: str) -> Path:
        digest = hashlib.sha256(owner.encode()).hexdigest()[:16]
        return inside(self.project_dir, "drafts", f"view_{digest}.json")

    def save_view_draft(self, owner: str, draft: dict) -> None:
        _write_json(self._view_draft_path(owner), draft)

    def load_view_draft(self, owner: str) -> dict | None:
        return _read_draft(self._view_draft_path(owner))

    def drop_view_draft(self, owner: str) -> None:
        self._view_draft_path(owner).unlink(missing_ok=True)

    # -- the model's prediction as a starting mask --------------------------------------------
    def latest_checkpoint(self) -> Path | None:
        found = sorted(inside(self.project_dir, "checkpoints").glob("round_*.pt"))
        return found[-1] if found else None

    def load_segmenter(self, checkpoint: Path):
        """The project's segmenter with the weights of ``checkpoint``."""
        segmenter = build_segmenter(self.config, self.pool.num_classes)
        segmenter.load(str(inside(self.project_dir, str(checkpoint))))
        return segmenter

    # -- the check set: held-out labels the model is scored against ---------------------------
    def queue_check_units(self, count: int) -> int:
        """Make ``count`` units, drawn at random from the unlabelled pool (not by the strategy:
        an unbiased check), held-out units of the open round; leases hand them out before the
        rest of the queue. Units of the queue that no tab holds may be drawn too. How many."""
        round_index = self.open_round()
        if round_index is None:
            raise StoreError("no open round: check units join the round being labelled")
        taken = self.store.unavailable_units()
        free = [u for u in self.unit_space.units() if u not in taken]
        queued = [q for q in self.store.queued(round_index) if not q.held_out]
        rng = np.random.default_rng([self.config.seed, CHECK_STREAM, round_index, len(taken)])
        picks = rng.permutation(len(free) + len(queued))[:count]
        new = [free[i] for i in picks if i < len(free)]
        if new:
            self.store.extend_round(round_index, new, self.pool.names, held_out=True)
        return len(new) + self.store.hold_out(
            queued[i - len(free)].id for i in picks if i >= len(free)
        )

    def check_set(self) -> SegmentationData | None:
        """The pool images holding held-out labels, with only those labels (else IGNORE)."""
        pool = self.pool
        labels = self.store.label_maps(len(pool), pool.hw, held_out=True)
        held = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
        if held.size == 0:
            return None
        return SegmentationData(
            names=[pool.names[i] for i in held],
            images=pool.images[held],
            masks=labels[held],
            classes=pool.classes,
            source=f"{self.project_dir} (check set)",
            meta={},
        )

    # -- background round job -----------------------------------------------------------------
    def job_status(self) -> dict:
        path = inside(self.project_dir, JOB_FILE)
        return json.loads(path.read_text()) if path.is_file() else {"state": "idle"}

    def job_running(self) -> bool:
        status = self.job_status()
        return status.get("state") == "running" and _alive(status.get("pid"))

    def retry_round(self) -> int | None:
        """The closed round no job is training (its job failed or was killed), else None."""
        last = self.store.last_round()
        if last is None or last.status != "annotated" or self.job_running():
            return None
        return last.round

    def start_finish_round(self) -> None:
        """Close the open round (its queue stays: the person labels on from it), then train and
        select the next one in a separate process; also retries a closed round's job."""
        if self.job_running():
            raise StoreError("a round is being trained already")
        DirectoryLock(self.project_dir, "project").probe()  # a job started by another app
        round_index = self.open_round()
        if round_index is None:
            round_index = self.retry_round()
        if round_index is None:
            raise StoreError("no open round to finish")
        self.store.close_round(round_index, keep_queue=True)
        starting = {"state": "running", "round": round_index, "phase": "starting", "done": 0}
        write_job(self.project_dir, starting)
        process = subprocess.Popen(
            [sys.executable, "-m", "app.round_job", str(self.project_dir)],
            cwd=Path(__file__).resolve().parent.parent,
            stdout=subprocess.DEVNULL,
            stderr=open(inside(self.project_dir, "job.log"), "w"),  # noqa: SIM115 (child owns it)
            start_new_session=True,  # survives the app's reruns and restarts
        )
        if "pid" not in self.job_status():  # the child writes its own status (and pid) soon
            write_job(self.project_dir, {**starting, "pid": process.pid})

    # -- export -------------------------------------------------------------------------------
    def export(self, name: str) -> Path:
        """The labelled images as a dataset folder (images/, masks/) plus coco.json, written
        to ``exports/NAME``: a name that leaves exports/ (``../data/masks``), or names it
        itself, or an export that exists already, is refused in one line, nothing written."""
        dest = export_path(self.project_dir, name)
        pool = self.pool
        labels = self.store.label_maps(len(pool), pool.hw)
        labelled = np.flatnonzero((labels != IGNORE).any(axis=(1, 2)))
        data = SegmentationData(
            names=[pool.names[i] for i in labelled],
            images=pool.images[labelled],
            masks=labels[labelled],
            classes=pool.classes,
            source=str(self.project_dir),
            meta={},
        )
        write_folder(data, dest)
        (dest / "coco.json").write_text(json.dumps(coco_json(data)))
        return dest


def export_path(project_dir: str | Path, name: str) -> Path:
    """``PROJECT/exports/NAME``, or a one-line DataError naming what is wrong with ``name``."""
    exports = inside(project_dir, EXPORTS_DIR)
    dest = exports.joinpath(name.strip()).resolve()
    if not name.strip() or exports not in dest.parents:
        raise DataError(f"export name '{name}': must name a folder inside {exports}")
    if dest.exists():
        raise DataError(f"{dest}: exists already; choose another export name")
    return dest


def coco_json(data: SegmentationData) -> dict:
    """COCO-style instances: one polygon annotation per connected region of each class."""
    images, annotations = [], []
    for i, name in enumerate(data.names):
        h, w = data.masks[i].shape
        images.append({"id": i, "file_name": f"images/{name}.png", "height": h, "width": w})
        for class_id in range(1, len(data.classes)):
            region = (data.masks[i] == class_id).astype(np.uint8)
            contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for contour in contours:
                if len(contour) < 3:
                    continue
                x, y, bw, bh = cv2.boundingRect(contour)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": i,
                        "category_id": class_id,
                        "segmentation": [contour.reshape(-1).astype(int).tolist()],
                        "area": float(cv2.contourArea(contour)),
                        "bbox": [x, y, bw, bh],
                        "iscrowd": 0,
                    }
                )
    categories = [{"id": k, "name": c.name} for k, c in enumerate(data.classes) if k > 0]
    return {"images": images, "annotations": annotations, "categories": categories}


class ModelMasks:
    """The latest checkpoint's class maps of pool images, predicted once per (checkpoint,
    image): every unit of an image reuses one forward pass. One per app server, shared by its
    sessions (hence the lock); a new checkpoint replaces the model and empties the cache."""

    def __init__(self, max_images: int = 16):
        self._lock = threading.Lock()
        self._max_images = max_images
        self._checkpoint: tuple[str, int] | None = None
        self._segmenter = None
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()

    def crop(self, project: Project, unit: Unit) -> np.ndarray | None:
        """uint8 class map over ``project.crop_box(unit)``; None before a model is trained."""
        path = project.latest_checkpoint()
        try:
            key = (str(path), path.stat().st_mtime_ns) if path is not None else None
        except OSError:  # replaced by a newer round between glob and stat
            key = None
        if key is None:
            return None
        with self._lock:
            if key != self._checkpoint:
                self._segmenter, self._checkpoint = project.load_segmenter(path), key
                self._maps.clear()
            if unit.image not in self._maps:
                image = project.pool.images[unit.image]
                self._maps[unit.image] = self._segmenter.predict(image[None])[0]
                if len(self._maps) > self._max_images:
                    self._maps.popitem(last=False)
            full = self._maps[unit.image]
        y0, x0, y1, x1 = project.crop_box(unit)
        return full[y0:y1, x0:x1]


def write_job(project_dir: Path, status: dict) -> None:
    _write_json(inside(project_dir, JOB_FILE), {**status, "updated": time.time()})


def _alive(pid) -> bool:
    if not pid:
        return True  # between writing "running" and the child starting
    try:
        # Our own child that has exited (a crash or a kill, so job.json still says running)
        # is a zombie until reaped: reap it, or it would look alive forever.
        if os.waitpid(int(pid), os.WNOHANG)[0] == int(pid):
            return False
    except ChildProcessError:
        pass  # not our child: started by an earlier app process
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        return True
    return True
