"""Streamlit app: ``al-loop app PROJECT_DIR`` (or ``streamlit run app/main.py -- PROJECT_DIR``).

Pages: Overview (rounds, seconds, the budget curve against ground truth or the agreement curve
with the person's check set, per-class IoU), Annotate (the round's queue, one leased unit at a
time, every method of app.session.APP_METHODS), Export. Everything a person does is written to
the project folder at once (app.project); the page only renders it, so a refresh or restart
loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from al_loop.core.errors import AlLoopError
from al_loop.data.base import IGNORE
from al_loop.interactive import METHODS
from app import canvas, scaled
from app import session as drafts
from app.project import (
    IDLE_CAP_SECONDS,
    ModelMasks,
    Project,
    active_seconds,
    metric_curve,
    waiting_seconds,
)
from app.round_job import job_progress

PROJECT_ENV = "AL_LOOP_PROJECT"
REPLAY_ERRORS = (AlLoopError, ValueError, TypeError)  # a draft the method refuses: shown, kept


def project_dir() -> str:
    """$AL_LOOP_PROJECT (set by ``al-loop app``), else ``streamlit run app/main.py -- DIR``."""
    if PROJECT_ENV in os.environ:
        return os.environ[PROJECT_ENV]
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    return args[0] if args else "."


@st.cache_resource
def project_data(path: str):
    """Images and units, loaded once per server process rather than on every rerun."""
    with Project(path) as project:
        return project.splits, project.unit_space


@st.cache_resource
def model_masks(path: str) -> ModelMasks:
    """The latest model's predictions, shared by every session of this server."""
    return ModelMasks()


def offered_methods() -> list[drafts.AppMethod]:
    return drafts.available_methods(METHODS)


def open_project(path: str) -> Project:
    return Project(path, preloaded=project_data(path))


def owner_id() -> str:
    """One id per browser tab, kept in the URL so a refresh keeps the tab's leased unit."""
    if "tab" not in st.query_params:
        st.query_params["tab"] = uuid.uuid4().hex[:12]
    return st.query_params["tab"]


# -- Overview ---------------------------------------------------------------------------------
def overview_page(project: Project) -> None:
    rounds = project.store.rounds()
    st.header("Overview")
    rows = [
        {
            "round": r.round,
            "strategy": r.strategy,
            "status": r.status,
            "units labelled": r.n_annotated,
            "seconds (cumulative)": r.seconds_total,
            "mIoU": (r.metrics or {}).get("miou"),
            "check agreement": (r.metrics or {}).get("check_miou"),
        }
        for r in rounds
    ]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Rounds", len(rounds))
    c2.metric("Seconds spent", f"{project.store.seconds_spent():.0f}")
    c3.metric("Annotations", len(project.store.annotation_seconds()))
    c4.metric("Check-set seconds", f"{project.store.seconds_spent(held_out=True):.0f}")
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    budget_curve = metric_curve(rounds, "miou")
    if budget_curve:
        st.subheader("Budget curve: validation mIoU vs seconds")
        st.altair_chart(curve_chart(budget_curve, "miou"))
        last = {r.round: r for r in rounds}[budget_curve[-1]["round"]]
        _per_class_chart(project, last.round, last.metrics.get("per_class_iou") or [])
    agreement = metric_curve(rounds, "check_miou")
    if agreement:
        st.subheader("Agreement with your check set: mIoU vs seconds")
        st.altair_chart(curve_chart(agreement, "check_miou"))
        st.caption(
            "Each point scores the model trained that round against the held-out labels you "
            "made so far ('check images' per point); they never train the model."
        )
    elif not project.has_ground_truth:
        st.info(
            "This pool has no ground-truth masks. Label a few check units (held out: scored "
            "against, never trained on) to get a curve of the model's agreement with you."
        )
    check_set_panel(project)


def curve_chart(points: list[dict], y: str):
    """A curve with a marker on every round: one evaluated round is one visible point (a line
    chart of one point draws nothing)."""
    import altair as alt

    return (
        alt.Chart(pd.DataFrame(points))
        .mark_line(point=True)
        .encode(
            x=alt.X("seconds:Q", title="seconds (cumulative)"),
            y=alt.Y(f"{y}:Q", title=y, scale=alt.Scale(domain=[0, 1])),
            tooltip=list(points[0]),
        )
    )


def _per_class_chart(project: Project, round_index: int, per_class: list) -> None:
    names = [c.name for c in project.pool.classes]
    st.subheader(f"Per-class IoU after round {round_index}")
    st.bar_chart(pd.DataFrame({"class": names[: len(per_class)], "IoU": per_class}), x="class")


def check_set_panel(project: Project) -> None:
    if project.open_round() is None or project.job_running():
        return
    c1, c2 = st.columns([1, 3])
    count = c1.number_input("Check units", 1, 50, 5, key="check_count")
    if c2.button("Queue check units (random, held out from training)", key="queue_check"):
        queued = project.queue_check_units(int(count))
        st.success(f"Queued {queued} check units: each tab gets them after the unit it holds.")


# -- Annotate ---------------------------------------------------------------------------------
def _save(project: Project, unit_id: int, draft: dict) -> None:
    project.save_draft(unit_id, draft)
    st.session_state["draft"] = draft


def _initial(obj: dict, model_crop: np.ndarray | None) -> np.ndarray | None:
    """An object's starting mask: the model's region of its class, if it started from it."""
    if not obj.get("from_model") or model_crop is None:
        return None
    return model_crop == obj["class_id"]


def _object_masks(
    unit_id: int, crop: np.ndarray, draft: dict, model_crop: np.ndarray | None
) -> list[tuple[int, np.ndarray]]:
    """(class id, mask) of every object. Finished objects are cached by their content, the
    one being drawn is extended by its live session, so a click recomputes one object."""
    cache = st.session_state.setdefault("mask_cache", {})
    if len(cache) > 64:
        cache.clear()
    live = st.session_state.setdefault("live_object", drafts.LiveObject())
    masks = []
    objects = drafts.all_objects(draft)
    for k, obj in enumerate(objects):
        initial = _initial(obj, model_crop)
        try:
            if k == len(draft["objects"]):  # the object being drawn
                # the class matters only to a start from the model's region of that class
                key = (unit_id, k, obj["from_model"] and obj["class_id"])
                mask = live.mask(key, obj["method"], crop, obj["interactions"], initial)
            else:
                key = (unit_id, json.dumps(obj, sort_keys=True))
                if key not in cache:
                    cache[key] = drafts.object_mask(
                        obj["method"], crop, obj["interactions"], initial
                    )
                mask = cache[key]
        except REPLAY_ERRORS as err:
            st.error(f"Object {k + 1} ({obj['method']}): {err}. Undo or Reset it.")
            continue
        masks.append((obj["class_id"], mask))
    return masks


def _method_controls(draft: dict, classes, has_model: bool, held_out: bool) -> None:
    """Method, class, click sign, correction gesture and starting mask; changes go into the
    draft (a new method starts a new object). Every control is always shown (disabled where
    it does not apply), so the canvas never moves. Widget keys carry a digest of what the
    controls show, so after an undo or a refresh every widget shows the draft, never a stale
    choice, while a click on the canvas leaves them as they are (no remount in the browser)."""
    shown = [draft[k] for k in ("method", "class_id", "positive", "tool", "from_model")]
    version = hashlib.blake2b(
        json.dumps([*shown, bool(draft["current"])]).encode(), digest_size=6
    ).hexdigest()
    offered = offered_methods()
    labels = [m.label for m in offered]
    methods = [m.method for m in offered]
    c1, c2, c3, c4, c5 = st.columns([3, 2, 2, 3, 3])
    index = methods.index(draft["method"]) if draft["method"] in methods else 0
    label = c1.selectbox("Method", labels, index=index, key=f"method_{version}")
    chosen = methods[labels.index(label)]
    class_names = [f"{k}: {c.name}" for k, c in enumerate(classes)]
    class_id = class_names.index(
        c2.selectbox("Class", class_names, index=draft["class_id"], key=f"class_{version}")
    )
    positive = c3.toggle(
        "Positive (click or stroke)", value=draft["positive"], key=f"positive_{version}"
    )
    if chosen != draft["method"]:
        drafts.next_object(draft)  # a new method starts a new object
        draft.update(method=chosen, tool=drafts.default_tool(chosen))
    if (class_id, positive) != (draft["class_id"], draft["positive"]):
        draft.update(class_id=class_id, positive=positive)

    spec = drafts.BY_METHOD[chosen]
    options = list(spec.then or (spec.first,))
    current = canvas.then_gesture(draft)
    tool = c4.radio(
        "Correct with",
        options,
        index=options.index(current) if current in options else 0,
        horizontal=True,
        disabled=len(options) < 2,
        key=f"tool_{version}",
    )
    if len(options) > 1 and tool != current:
        drafts.set_tool(draft, tool)
    if held_out:
        reason = "check units are labelled without the model's help"
    elif not spec.starts_from_mask:
        reason = "this method draws objects anew"
    elif not has_model:
        reason = "no model trained yet"
    elif draft["current"]:
        reason = "chosen before the object's first interaction"
    else:
        reason = None
    from_model = c5.toggle(
        "Start from the model's prediction",
        value=bool(draft["from_model"]),
        disabled=reason is not None,
        help=reason,
        key=f"from_model_{version}",
    )
    if from_model != draft["from_model"] and reason is None:
        draft["from_model"] = from_model


def _inside(point: tuple[int, int], hw: tuple[int, int]) -> bool:
    return 0 <= point[0] < hw[0] and 0 <= point[1] < hw[1]


def _typed_points(project: Project, unit_id: int, draft: dict, crop_hw) -> None:
    """The keyboard path: type "y x" (crop pixels), several separated by ';', press Enter. A
    typed line is one whole stroke when strokes are the gesture."""
    with st.form("point", clear_on_submit=True, border=False):
        typed = st.text_input("Points (y x; y x ...), Enter to add", key="typed_point")
        if not (st.form_submit_button("Add points") and typed.strip()):
            return
    try:
        points = drafts.parse_points(typed)
    except ValueError as err:
        st.error(str(err))
        return
    outside = [p for p in points if not _inside(p, crop_hw)]
    if outside:
        st.error(f"{outside[0]} is outside the {crop_hw[0]}x{crop_hw[1]} image")
        return
    if drafts.active_gesture(draft) == "stroke":
        drafts.add_stroke(draft, points)
    else:
        for y, x in points:
            drafts.add_point(draft, y, x)
    _changed_outside(unit_id)
    _save(project, unit_id, draft)
    _rerun_unit()


def _rerun_unit() -> None:
    """Rerun the unit's work area only (the whole page when it runs as part of one)."""
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:  # a full-page run: a fragment-scoped rerun is refused
        st.rerun()


def _changed_outside(unit_id: int) -> int:
    """Count a change of the draft made outside the canvas (it then drops unsent points)."""
    key = f"external_{unit_id}"
    st.session_state[key] = st.session_state.get(key, 0) + 1
    return st.session_state[key]


def _canvas_image(unit_id: int, crop: np.ndarray) -> bytes:
    """The crop's JPEG, encoded once per unit."""
    cached = st.session_state.get("canvas_image")
    if cached is None or cached[0] != unit_id:
        cached = (unit_id, canvas.encode_image(crop))
        st.session_state["canvas_image"] = cached
    return cached[1]


def _unit_seconds(draft: dict, now: float) -> tuple[float, float]:
    """(the person's active seconds, the seconds the app kept them waiting) on the unit."""
    times, waits = [*draft["events"], now], canvas.wait_intervals(draft)
    return active_seconds(times, waits=waits), waiting_seconds(times, waits)


def annotate_page(project: Project) -> None:
    st.header("Annotate")
    if project.config.annotation.retrain.steps:  # the round job retrains this method
        drafts.use_retrained(project.project_dir, project.config.annotation.method)
    queued = project.lease(owner_id())
    if queued is None:
        st.info(_empty_queue_message(project))
        return
    if project.open_round() is None:
        st.caption(_training_note(project))
    st.caption(
        f"Round {project.store.labelling_round()} · unit {queued.rank + 1} of the queue · image "
        f"{project.pool.names[queued.unit.image]} (yellow box: the unit)"
    )
    if queued.held_out:
        st.info("Check unit: held out, it scores the model and never trains it.")
    if os.environ.get(FULL_PAGE_ENV) == "1":
        annotate_unit(str(project.project_dir), queued)
    else:
        annotate_unit_fragment(str(project.project_dir), queued)


# benchmarks/app_latency.py --full-page sets it to measure what the fragment saves
FULL_PAGE_ENV = "AL_LOOP_FULL_PAGE_RERUNS"


def annotate_unit(path: str, queued) -> None:
    """The unit's work area. As a fragment, a canvas event reruns only this (not the page):
    the draft is read, the event applied, the object being drawn extended by one ``add`` on
    the crop's working copy (app.scaled), the canvas redrawn from the result."""
    with open_project(path) as project:
        _annotate_unit(project, queued)


annotate_unit_fragment = st.fragment(annotate_unit)


def _annotate_unit(project: Project, queued) -> None:
    received = time.time()
    unit, pool = queued.unit, project.pool
    classes = pool.classes
    cy0, cx0, cy1, cx1 = project.crop_box(unit)
    crop = np.ascontiguousarray(pool.images[unit.image, cy0:cy1, cx0:cx1])
    y0, x0, y1, x1 = project.unit_space.box(unit)
    unit_rect = (y0 - cy0, x0 - cx0, y1 - cy0, x1 - cx0)
    default_class = min(1, len(classes) - 1)
    draft = drafts.normalize_draft(
        project.load_draft(queued.id), offered_methods()[0].method, default_class
    )
    if st.session_state.get("warmed") != (queued.id, draft["method"]):
        st.session_state["warmed"] = (queued.id, draft["method"])
        scaled.warm(drafts.built_method(draft["method"]), crop)  # before the first click
    canvas_key = f"canvas_{queued.id}"
    applied = canvas.apply_events(draft, st.session_state.get(canvas_key), queued.id, received)

    before = json.dumps(draft, sort_keys=True)
    # the model's mask is predicted only once an object starts from it (a forward pass)
    _method_controls(draft, classes, project.latest_checkpoint() is not None, queued.held_out)
    if json.dumps(draft, sort_keys=True) != before:
        draft["events"].append(time.time())  # choosing is work on the unit too
    buttons = st.columns(6)
    actions = {
        "next": ("Next object", drafts.next_object),
        "undo": ("Undo", drafts.undo),
        "reset": ("Reset", drafts.reset),
    }
    for column, (key, (name, action)) in zip(buttons[:3], actions.items(), strict=True):
        if column.button(name, key=f"do_{key}", width="stretch"):
            action(draft)
    if json.dumps(draft, sort_keys=True) != before:
        _changed_outside(queued.id)
        _save(project, queued.id, draft)
        _rerun_unit()  # every widget shows the draft under its new action count
    accept = buttons[3].button("Accept", type="primary", key="accept", width="stretch")
    status = None
    for column, (name, value) in zip(
        buttons[4:], (("Skip", "skipped"), ("Flag", "flagged")), strict=True
    ):
        if column.button(name, key=value, width="stretch"):
            status = value
    status = status or ("skipped" if "skip" in applied.page else None)
    if status is not None:
        project.set_status(queued, status)
        st.rerun()

    model_crop = None
    if any(obj.get("from_model") for obj in drafts.all_objects(draft)):
        model_crop = model_masks(str(project.project_dir)).crop(project, unit)
    masks = _object_masks(queued.id, crop, draft, model_crop)
    computed = time.time()
    for seq, sent_at in applied.waiting:
        canvas.record_server_wait(draft, seq, sent_at, computed)
    if accept or "accept" in applied.page:
        drafts.finish_pending(draft)
        seconds, waited = _unit_seconds(draft, time.time())
        project.accept(
            queued,
            _object_masks(queued.id, crop, draft, model_crop),
            seconds,
            drafts.interaction_log(draft),
            drafts.method_label(draft),
            annotator=f"person:{owner_id()}",
            wait_seconds=waited,
        )
        st.session_state["last_accepted"] = queued.id
        st.rerun()
    if applied.changed or applied.waiting:
        _save(project, queued.id, draft)

    labels = canvas.label_map(crop.shape[:2], masks)
    canvas.canvas(
        canvas.canvas_args(
            queued.id,
            crop,
            _canvas_image(queued.id, crop),
            labels,
            hashlib.blake2b(labels.data, digest_size=8).hexdigest(),
            [c.color for c in classes],
            unit_rect,
            draft,
            st.session_state.get(f"external_{queued.id}", 0),
        ),
        key=canvas_key,
    )
    _typed_points(project, queued.id, draft, crop.shape[:2])
    seconds, waited = _unit_seconds(draft, time.time())
    st.caption(
        f"{seconds:.0f} s on this unit, {waited:.1f} s waiting on the app apart (gaps between "
        f"actions capped at {IDLE_CAP_SECONDS:.0f} s) · "
        f"{sum(1 for e in drafts.interaction_log(draft) if 'type' in e)} interactions · "
        f"pending points: {len(draft['pending'])}"
    )


def _training_note(project: Project) -> str:
    closed = project.store.labelling_round() - 1
    state = "is being trained" if project.job_running() else "is closed (see the sidebar)"
    return (
        f"Round {closed} {state}: you label on from its queue; these labels count for round "
        f"{closed + 1}, and the new ranking replaces the queue when it is ready."
    )


def _empty_queue_message(project: Project) -> str:
    if project.store.last_round() is None:
        return "No round yet."
    if project.open_round() is None:
        return "The queue is empty; the next ranking comes when the round's training ends."
    return f"Round {project.open_round()}: the queue is empty."


# -- Feature space ----------------------------------------------------------------------------
VIEW_UNITS = 8  # units the view labels at once; it holds one lease per unit


@st.cache_resource(
    max_entries=4, show_spinner="Building the feature space: segments, encoder, projection ..."
)
def feature_space(path: str, unit_ids: tuple[int, ...], _crops: np.ndarray, seed: int):
    """Built once per set of units (the slow part: the encoder and UMAP on these crops)."""
    from al_loop.feature_space import build_feature_space

    return build_feature_space(_crops, seed=seed)


def _view_units(project: Project) -> list:
    """Up to VIEW_UNITS queued units for this tab's view, each under its own lease (so the
    Annotate page of any tab never gets them meanwhile), all of the first one's size."""
    # never check units: they are labelled one by one, without the view's propagation
    held = [project.lease(f"{owner_id()}:view{k}", held_out=False) for k in range(VIEW_UNITS)]
    held = [q for q in held if q is not None]
    if not held:
        return []
    box = project.unit_space.box(held[0].unit)
    size = (box[2] - box[0], box[3] - box[1])
    same = []
    for q in held:
        y0, x0, y1, x1 = project.unit_space.box(q.unit)
        if (y1 - y0, x1 - x0) == size:
            same.append(q)
    return same


def _selected(event, coords: np.ndarray) -> np.ndarray:
    """bool [S]: segments in the chart's box selections (select_in_box, as the simulated
    box-labeller uses), or the lasso's points."""
    from al_loop.feature_space import select_in_box

    selection = (event or {}).get("selection") or {}
    chosen = np.zeros(len(coords), bool)
    for box in selection.get("box") or []:
        (x0, x1), (y0, y1) = box["x"][:2], box["y"][:2]
        chosen |= select_in_box(coords, x0, y0, x1, y1)
    if not (selection.get("box") or []):
        chosen[[int(i) for i in selection.get("point_indices") or []]] = True
    return chosen


def feature_space_page(project: Project) -> None:
    import plotly.graph_objects as go

    from al_loop.feature_space import propagate_labels
    from app import feature_view

    st.header("Feature space")
    if st.session_state.get("view_warning"):
        st.warning(st.session_state.pop("view_warning"))
    held = _view_units(project)
    if not held:
        st.info(_empty_queue_message(project))
        return
    if project.open_round() is None:
        st.caption(_training_note(project))
    ids = tuple(q.id for q in held)
    pool, classes = project.pool, project.pool.classes
    boxes = [project.unit_space.box(q.unit) for q in held]
    crops = np.stack(
        [
            pool.images[q.unit.image, y0:y1, x0:x1]
            for q, (y0, x0, y1, x1) in zip(held, boxes, strict=True)
        ]
    )
    st.caption(
        f"{len(held)} units of round {project.store.labelling_round()}: "
        + ", ".join(pool.names[q.unit.image] for q in held)
        + ". Box-select points (segments) in the projection, pick a class, assign; Accept "
        "stores every unit with a label (unassigned segments stay unlabelled)."
    )
    state = project.load_view_draft(owner_id())  # survives a refresh, like the unit drafts
    if not isinstance(state, dict) or state.get("units") != list(ids):
        if not st.button(f"Build the feature space of these {len(held)} units", key="build"):
            return
        state = {"units": list(ids), "log": [], "events": [time.time()]}
        project.save_view_draft(owner_id(), state)
    space = feature_space(str(project.project_dir), ids, crops, project.config.seed)
    labels = feature_view.segment_labels(len(space.coords), state["log"])
    colors = [
        "lightgrey" if c == IGNORE else "rgb({},{},{})".format(*classes[c].color) for c in labels
    ]
    figure = go.Figure(
        go.Scatter(
            x=space.coords[:, 0],
            y=space.coords[:, 1],
            mode="markers",
            marker={"color": colors, "size": 7},
            customdata=space.segment_image,
            hovertemplate="segment %{pointNumber} of unit %{customdata}<extra></extra>",
        )
    )
    figure.update_layout(dragmode="select", height=520, margin={"l": 0, "r": 0, "t": 0, "b": 0})
    event = st.plotly_chart(
        figure,
        on_select="rerun",
        selection_mode=("box", "lasso"),
        key=f"view_chart_{len(state['log'])}",  # a fresh chart (no selection) after assigning
    )
    selected = _selected(event, space.coords)
    c1, c2, c3, c4 = st.columns(4)
    class_names = [f"{k}: {c.name}" for k, c in enumerate(classes)]
    class_id = class_names.index(c1.selectbox("Class", class_names, key="view_class"))
    if c2.button(
        f"Assign to {int(selected.sum())} segments", key="assign", disabled=not selected.any()
    ):
        now = time.time()
        state["log"].append(
            feature_view.label_selection(selected, class_id, state["events"][-1], now)
        )
        state["events"].append(now)
        project.save_view_draft(owner_id(), state)
        st.rerun()
    if c3.button("Undo", key="view_undo", disabled=not state["log"]):
        state["log"].pop()
        state["events"].append(time.time())
        project.save_view_draft(owner_id(), state)
        st.rerun()
    results = feature_view.unit_results(space.segments, space.segment_image, state["log"])
    seconds = active_seconds([*state["events"], time.time()])
    if c4.button(
        f"Accept {len(results)} units", type="primary", key="view_accept", disabled=not results
    ):
        failed = []
        for k, unit_labels, entries in results:
            try:
                project.accept_labels(
                    held[k],
                    unit_labels,
                    seconds / len(results),
                    entries,
                    "feature_space",
                    annotator=f"person:{owner_id()}",
                )
            except AlLoopError as err:  # labelled meanwhile elsewhere: never twice
                failed.append(str(err))
        project.drop_view_draft(owner_id())
        st.session_state["view_warning"] = "; ".join(failed)  # shown after the rerun
        st.rerun()
    tinted = []
    painted = propagate_labels(space.segments, labels)
    palette = np.asarray([c.color for c in classes], np.float32)
    for crop, paint in zip(crops, painted, strict=True):
        out = crop.astype(np.float32)
        known = paint != IGNORE
        out[known] = 0.5 * out[known] + 0.5 * palette[paint[known] % len(palette)]
        tinted.append(out.astype(np.uint8))
    st.image(tinted, width=200, caption=[pool.names[q.unit.image] for q in held])
    st.caption(
        f"{seconds:.0f} s in this view (idle gaps capped at {IDLE_CAP_SECONDS:.0f} s), split "
        "equally over the units accepted · segments labelled: "
        f"{int((labels != IGNORE).sum())} of {len(labels)}"
    )


# -- Export -----------------------------------------------------------------------------------
def export_page(project: Project) -> None:
    st.header("Export")
    # the default is made once per session: a time in the default value would change it (and
    # so reset what was typed) on every rerun
    st.session_state.setdefault("export_name", time.strftime("labels-%Y%m%d-%H%M%S"))
    name = st.text_input("Export name (a folder under exports/)", key="export_name")
    if st.button("Export labels", key="export"):
        try:
            dest = project.export(name)
        except AlLoopError as err:  # one line: a bad name must not crash the page
            st.error(str(err))
        else:
            st.success(f"Wrote {dest} (images/, masks/, classes.yaml, coco.json)")


# -- sidebar: the round job -------------------------------------------------------------------
@st.fragment(run_every=2.0)
def job_panel(path: str) -> None:
    with open_project(path) as project:
        running = project.job_running()
        _job_status(project, running)
    # A job that ended changes the rounds, the curves and the queue: the Overview redraws
    # itself; the Annotate page keeps the person's unit (its next action reruns the page).
    was_running = st.session_state.get("job_was_running", running)
    st.session_state["job_was_running"] = running
    if was_running and not running and st.session_state.get("page") == "Overview":
        st.rerun(scope="app")


def _job_status(project: Project, running: bool) -> None:
    status = project.job_status()
    fraction, text = job_progress(status, running)
    if running and fraction is not None:
        st.progress(fraction, text=text)
    elif running:
        st.caption(text + " ...")
    elif status.get("state") == "failed":
        st.error(text)
    elif text:
        st.caption(text)


def main() -> None:
    st.set_page_config(page_title="al-loop labelling", layout="wide")
    try:
        project = open_project(project_dir())
    except AlLoopError as err:  # one line on the page, as the CLI would print it
        st.error(str(err))
        st.stop()
    with project:
        render_app(project)


def render_app(project: Project) -> None:
    with st.sidebar:
        st.title("al-loop")
        st.caption(str(project.project_dir))
        page = st.radio("Page", list(PAGES), key="page")
        open_round = project.open_round()
        can_finish = open_round is not None and not project.job_running()
        if can_finish and st.button(f"Finish round {open_round}", key="finish"):
            project.start_finish_round()
            st.rerun()
        retry = project.retry_round()  # its job failed or was killed: the labels are kept
        if retry is not None and st.button(f"Train round {retry} again", key="retry"):
            project.start_finish_round()
            st.rerun()
        job_panel(str(project.project_dir))
    PAGES[page](project)


PAGES = {
    "Annotate": annotate_page,
    "Feature space": feature_space_page,
    "Overview": overview_page,
    "Export": export_page,
}


main()
