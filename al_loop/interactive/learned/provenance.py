"""Which images a learned model was trained on, and the guard against annotating them with it.

A person's annotation model has never seen the images they label; a simulated study must not
pretend otherwise. ``train-interactive`` writes, in the weights' JSON metadata, ``trained_on``:
one record per data set and split, ``{"name", "source", "split", "items"}``, where ``source``
says which images ``items`` (image names) are:

- ``davis``, ``camvid``, ``grabcut``: the benchmark sets (at any root and working size);
- ``synthetic:seed=S``: the generated set of that seed (image ``synth_i`` is the same scene at
  any size, so sizes are not part of it);
- ``folder:/absolute/root``: a dataset folder; ``run``: the data set of the run it reads.

``al-loop run`` and ``al-loop noc`` compare the records with the images they would annotate or
score (``check_unseen``) and refuse a model that saw any, unless allowed explicitly; weights
without the record are refused too (they may have seen anything).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from al_loop.core.errors import ConfigError

BENCHMARKS = ("davis", "camvid", "grabcut")
# the shipped leave-one-data-set-out training configs
LEAVE_OUT = {
    source: f"weights trained by configs/interactive_no_{source}.yaml"
    for source in ("davis", "camvid")
}


def source_identity(name: str, params: dict[str, Any]) -> str:
    """The identity of data set ``name``'s images (module docstring); params as in the config."""
    if name in BENCHMARKS:
        return name
    if name == "synthetic":
        return f"synthetic:seed={int(params.get('seed', 0))}"
    if name == "folder":
        return f"folder:{Path(params['root']).resolve()}"
    if name == "run":
        from al_loop.data.run import run_dataset_config

        inner = run_dataset_config(params["root"])
        return source_identity(inner.name, dict(inner.params))
    return name


def record(
    name: str, params: dict[str, Any], split: str, items: Iterable[str], **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "source": source_identity(name, params),
        "split": split,
        "items": sorted(items),
        **extra,
    }


@dataclass(frozen=True)
class Evaluated:
    """Images a run or benchmark would annotate or score: ``label`` names them in errors."""

    label: str
    source: str
    names: Sequence[str]


def seen_items(meta: dict[str, Any], source: str, names: Iterable[str]) -> dict[str, list[str]]:
    """{"name split": names of ``names`` in that training record} for records of ``source``."""
    wanted = set(names)
    found = {}
    for entry in meta.get("trained_on") or []:
        if entry.get("source") != source:
            continue
        common = sorted(wanted.intersection(entry.get("items") or []))
        if common:
            found[f"{entry.get('name')} {entry.get('split')}"] = common
    return found


def check_unseen(
    weights: str | Path, meta: dict[str, Any], evaluated: Sequence[Evaluated], allow: str
) -> None:
    """ConfigError (one line naming ``weights`` and the overlapping data set) when the model's
    training images include any of ``evaluated``, or when its metadata does not say what they
    were; ``allow`` is the setting that permits it (named in the error)."""
    if "trained_on" not in meta:
        raise ConfigError(
            f"{weights}: its metadata does not say which images it was trained on, so it may "
            f"have seen these; retrain it with `al-loop train-interactive`, or pass {allow} if "
            "it never saw them"
        )
    for images in evaluated:
        for where, common in seen_items(meta, images.source, images.names).items():
            example = ", ".join(common[:3]) + (", ..." if len(common) > 3 else "")
            other = LEAVE_OUT.get(images.source, "one trained without those images")
            raise ConfigError(
                f"{weights}: trained on {len(common)} of {images.label} ({images.source}; "
                f"in its training set {where}: {example}); use {other} or pass {allow}"
            )


def unseen_only(meta: dict[str, Any], source: str, names: Sequence[str]) -> list[int]:
    """Indices of ``names`` that no record of ``meta`` holds (a held-out evaluation)."""
    seen = set().union(*seen_items(meta, source, names).values())
    return [i for i, name in enumerate(names) if name not in seen]
