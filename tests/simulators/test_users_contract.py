"""Every simulated user (``simulators.USERS``): model-free, deterministic for a seed, resumable
from its state, never touching its inputs, giving interactions inside the image that an
interactive method takes and the cost table prices."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from al_loop.core.cost import CostTable
from al_loop.core.interactions import from_json, to_json
from al_loop.interactive import METHODS, make_method
from simulators import USERS, make_user
from tests.interactive.test_methods import disc_scene

STEPS = 4


def points_of(interaction) -> list[tuple[int, int]]:
    """Every (y, x) an interaction holds, whatever its fields are called."""
    found = []

    def walk(value):
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
            found.append(value)
        elif isinstance(value, tuple | list):
            for v in value:
                walk(v)

    fields = {f.name: getattr(interaction, f.name) for f in dataclasses.fields(interaction)}
    for name, value in fields.items():
        if name in ("y", "y0", "y1"):
            found.append((value, fields.get(name.replace("y", "x"))))
        else:
            walk(value)
    return found


def interactions(kind: str, seed: int, gt: np.ndarray, steps: int = STEPS) -> list:
    user = make_user(kind, seed=seed)
    current = np.zeros(gt.shape, bool)
    out = []
    for _ in range(steps):
        interaction = user.next_interaction(gt, current)
        if interaction is None:
            break
        out.append(interaction)
    return out


@pytest.fixture(scope="module")
def scene():
    _, gt = disc_scene()
    return gt


@pytest.mark.parametrize("kind", sorted(USERS))
def test_a_user_gives_interactions_inside_the_image(kind, scene):
    given = interactions(kind, 0, scene)
    assert given, f"{kind}: no interaction on an empty mask"
    h, w = scene.shape
    for interaction in given:
        assert dataclasses.is_dataclass(interaction)
        assert from_json(to_json(interaction)) == interaction  # the store's log replays it
        for y, x in points_of(interaction):
            # box-like openings may sit a margin outside the object, never outside the image
            assert 0 <= y < h and 0 <= x < w, (kind, interaction)


@pytest.mark.parametrize("kind", sorted(USERS))
def test_same_seed_same_interactions_and_inputs_untouched(kind, scene):
    gt = scene.copy()
    assert interactions(kind, 5, gt) == interactions(kind, 5, gt)
    assert np.array_equal(gt, scene)


@pytest.mark.parametrize("kind", sorted(USERS))
def test_a_user_resumes_from_its_state(kind, scene):
    user = make_user(kind, seed=2)
    current = np.zeros(scene.shape, bool)
    user.next_interaction(scene, current)
    state = user.get_state()
    expected = user.next_interaction(scene, current)
    resumed = make_user(kind, seed=2)
    resumed.set_state(state)
    assert resumed.next_interaction(scene, current) == expected


@pytest.mark.parametrize("kind", sorted(USERS))
def test_every_user_drives_a_method_and_is_priced(kind, scene):
    methods = [name for name in sorted(METHODS) if make_method(name).interaction == kind]
    assert methods, f"no interactive method takes '{kind}' interactions"
    seconds = CostTable.load().seconds(interactions(kind, 0, scene), methods[0])
    assert seconds > 0


def test_every_method_has_a_user():
    kinds = {make_method(name).interaction for name in METHODS}
    assert kinds <= set(USERS)
