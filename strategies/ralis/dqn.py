"""DQN machinery for the RALis query agent: replay buffer, epsilon-greedy, double DQN updates
with a target network, and the policy file.

Everything random draws from generators the caller seeds; the whole agent (both networks, the
optimiser, counters and the replay contents) round-trips through ``state_dict`` as plain tensors
so that ``torch.load(..., weights_only=True)`` reads it back and training resumes exactly.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from al_loop.core.errors import ConfigError
from strategies.ralis.network import QNetwork

POLICY_FORMAT = 1


@dataclass(frozen=True)
class Transition:
    state: np.ndarray  # [S, R] region descriptors of D_S
    action: np.ndarray  # [F] features of the chosen candidate
    reward: float
    next_state: np.ndarray | None  # None at the end of an episode
    next_actions: np.ndarray | None  # [M, F] every candidate of the next step


class ReplayBuffer:
    """A ring buffer of transitions in preallocated arrays (next candidates padded to a fixed
    ``max_actions`` with a mask), so sampling a batch is one fancy-index per field."""

    FIELDS = ("state", "action", "reward", "next_state", "next_actions", "next_mask", "done")

    def __init__(self, capacity: int, max_actions: int):
        self.capacity, self.max_actions = capacity, max_actions
        self.size = self.position = 0
        self.arrays: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return self.size

    def _allocate(self, t: Transition) -> None:
        c, m = self.capacity, self.max_actions
        self.arrays = {
            "state": np.zeros((c, *t.state.shape), np.float32),
            "action": np.zeros((c, len(t.action)), np.float32),
            "reward": np.zeros(c, np.float32),
            "next_state": np.zeros((c, *t.state.shape), np.float32),
            "next_actions": np.zeros((c, m, len(t.action)), np.float32),
            "next_mask": np.zeros((c, m), bool),
            "done": np.zeros(c, bool),
        }

    def add(self, t: Transition) -> None:
        if not self.arrays:
            self._allocate(t)
        a, i = self.arrays, self.position
        a["state"][i], a["action"][i], a["reward"][i] = t.state, t.action, t.reward
        a["done"][i] = t.next_state is None
        a["next_mask"][i] = False
        if t.next_state is not None:
            count = min(len(t.next_actions), self.max_actions)
            a["next_state"][i] = t.next_state
            a["next_actions"][i, :count] = t.next_actions[:count]
            a["next_mask"][i, :count] = True
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        rows = rng.choice(self.size, size=batch_size, replace=self.size < batch_size)
        return {k: torch.from_numpy(v[rows]) for k, v in self.arrays.items()}

    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "max_actions": self.max_actions,
            "size": self.size,
            "position": self.position,
            "arrays": {k: torch.from_numpy(v[: self.size].copy()) for k, v in self.arrays.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.capacity, self.max_actions = state["capacity"], state["max_actions"]
        self.size, self.position = state["size"], state["position"]
        self.arrays = {}
        for key, tensor in state["arrays"].items():
            stored = tensor.numpy()
            full = np.zeros((self.capacity, *stored.shape[1:]), stored.dtype)
            full[: self.size] = stored
            self.arrays[key] = full


@dataclass(frozen=True)
class AgentSettings:
    hidden: int = 64
    lr: float = 1e-3
    gamma: float = 0.9
    batch_size: int = 32
    buffer_size: int = 3200
    target_update: int = 20  # gradient updates between target-network copies
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay_steps: float = 100.0  # e-folding of epsilon, in agent steps (actions)
    max_actions: int = 256  # candidates per next state kept in replay (K x N)


class DQNAgent:
    """Double DQN (van Hasselt et al. 2016): the online network chooses the next action, the
    target network values it; the target is copied from the online network every
    ``target_update`` updates. Huber loss, Adam."""

    def __init__(self, region_size: int, action_size: int, settings: AgentSettings, seed: int):
        self.settings = settings
        self.sizes = (region_size, action_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.online = QNetwork(region_size, action_size, settings.hidden)
        self.target = QNetwork(region_size, action_size, settings.hidden)
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=settings.lr)
        self.replay = ReplayBuffer(settings.buffer_size, settings.max_actions)
        self.steps = 0  # actions taken (drives epsilon)
        self.updates = 0  # gradient updates (drives the target copies)

    # -- acting ---------------------------------------------------------------------------
    @property
    def epsilon(self) -> float:
        s = self.settings
        return s.eps_end + (s.eps_start - s.eps_end) * math.exp(-self.steps / s.eps_decay_steps)

    @torch.no_grad()
    def q_values(self, state: np.ndarray, actions: np.ndarray) -> np.ndarray:
        q = self.online(torch.from_numpy(state)[None], torch.from_numpy(actions)[None])
        return q[0].numpy()

    def choose(
        self,
        state: np.ndarray,
        pools: list[np.ndarray],
        rng: np.random.Generator,
        explore: bool = True,
    ) -> list[int]:
        """One candidate index per sub-pool: random with probability epsilon, else argmax Q."""
        picks = []
        for actions in pools:
            if explore and rng.random() < self.epsilon:
                picks.append(int(rng.integers(len(actions))))
            else:
                picks.append(int(np.argmax(self.q_values(state, actions))))
        if explore:
            self.steps += 1
        return picks

    # -- learning -------------------------------------------------------------------------
    def remember(self, transition: Transition) -> None:
        self.replay.add(transition)

    def learn(self, rng: np.random.Generator) -> float | None:
        """One gradient step on a replay batch; None until the buffer holds a batch."""
        s = self.settings
        if len(self.replay) < s.batch_size:
            return None
        batch = self.replay.sample(s.batch_size, rng)
        q = self.online(batch["state"], batch["action"][:, None, :]).squeeze(1)
        with torch.no_grad():
            mask = batch["next_mask"]
            online_next = self.online(batch["next_state"], batch["next_actions"])
            best = online_next.masked_fill(~mask, -torch.inf).argmax(dim=1, keepdim=True)
            target_next = self.target(batch["next_state"], batch["next_actions"])
            value = target_next.gather(1, best).squeeze(1)
            value = torch.where(batch["done"] | ~mask.any(1), torch.zeros_like(value), value)
            target = batch["reward"] + s.gamma * value
        loss = F.smooth_l1_loss(q, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        if self.updates % s.target_update == 0:
            self.target.load_state_dict(self.online.state_dict())
        return float(loss.detach())

    # -- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "replay": self.replay.state_dict(),
            "steps": self.steps,
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.replay.load_state_dict(state["replay"])
        self.steps, self.updates = int(state["steps"]), int(state["updates"])


def atomic_save(blob: dict, path: str | Path) -> None:
    """Write ``blob`` with torch.save so that a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    torch.save(blob, partial)
    os.replace(partial, path)


def save_policy(network: QNetwork, meta: dict, path: str | Path) -> None:
    """The trained query network and the plain values that describe its features."""
    atomic_save({"format": POLICY_FORMAT, "meta": meta, "state_dict": network.state_dict()}, path)


def load_policy(path: str | Path) -> tuple[QNetwork, dict]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"strategy.params.policy: {path} not found; train one with `al-loop train-policy`"
        )
    try:
        blob = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # a truncated or foreign file: one line, not a traceback
        raise ConfigError(f"strategy.params.policy: {path} is not a policy file ({err})") from None
    if not isinstance(blob, dict) or blob.get("format") != POLICY_FORMAT:
        raise ConfigError(f"strategy.params.policy: {path} is not a RALis policy file")
    meta = blob["meta"]
    network = QNetwork(meta["region_size"], meta["action_size"], meta["hidden"])
    network.load_state_dict(blob["state_dict"])
    network.eval()
    return network, meta
