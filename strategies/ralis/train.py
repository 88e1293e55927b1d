"""Phase one of RALis: learn the query policy in simulated episodes on D_T, resumably.

``train_policy`` is the DQN loop over any environment with ``reset(seed)``, ``observe()`` and
``step(regions)``; ``train_policy_from_config`` wires the real one (dataset split into D_S, D_R
and D_T, the run's units, cached frozen-encoder features) from an experiment config whose
strategy is ``ralis``. A checkpoint (agent, replay, episode counter, history) is written every
``checkpoint_every`` episodes, so a run killed at any moment resumes from the last checkpoint
and ends with the same policy. With keep-best (``KeepBest``), the greedy policy is scored on
fixed validation episodes every ``validation_every`` episodes and the best snapshot is the
policy; the checkpoint keeps the last state (to resume) and the best so far.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from al_loop.core.errors import AlLoopError, ConfigError
from al_loop.core.units import make_unit_space
from al_loop.data import load_dataset
from al_loop.data.base import IGNORE, SegmentationData, concatenate
from strategies.ralis.config import RalisParams, RalisTraining, parse_ralis_params
from strategies.ralis.credit import ProgressCredit, SharedCredit, make_credit
from strategies.ralis.dqn import AgentSettings, DQNAgent, Transition, atomic_save, save_policy
from strategies.ralis.encoder import cached_features, fit_projection, project
from strategies.ralis.env import EpisodeSettings, RegionEnv, RegionSet
from strategies.ralis.features import (
    action_size,
    boxes_of,
    descriptor_size,
    mean_entropy,
    sample_at_stride,
)

CHECKPOINT_FORMAT = 1


def run_episode(
    env,
    agent: DQNAgent,
    rng: np.random.Generator,
    seed: int,
    learn_steps: int,
    credit: SharedCredit | ProgressCredit | None = None,
):
    """One simulated episode with exploration and learning; returns (return, final score).
    ``credit`` (default: shared) gives each pick's transition its reward; the return is the
    true gain either way."""
    credit = credit or SharedCredit()
    total, step = 0.0, 0
    observation = env.reset(seed)
    while observation is not None:
        picks = agent.choose(observation.state, observation.actions, rng)
        chosen = [int(pool[i]) for pool, i in zip(observation.pools, picks, strict=True)]
        reward, credited = credit.rewards(env, chosen, step)
        following = env.observe()
        next_actions = None if following is None else np.concatenate(following.actions)
        for actions, i, r in zip(observation.actions, picks, credited, strict=True):
            agent.remember(
                Transition(
                    observation.state,
                    actions[i],
                    r,
                    None if following is None else following.state,
                    next_actions,
                )
            )
        for _ in range(learn_steps):
            agent.learn(rng)
        total += reward
        step += 1
        observation = following
    return total, float(env.score)


def evaluate_policy(
    env, choose: Callable, seeds: list[int], picked: list | None = None
) -> list[float]:
    """Episode returns when ``choose(observation, rng) -> picks`` acts, without learning;
    ``picked`` (if given) receives each episode's chosen region indices."""
    returns = []
    for seed in seeds:
        rng = np.random.default_rng([seed, 99])
        observation, total, chosen = env.reset(seed), 0.0, []
        while observation is not None:
            picks = choose(observation, rng)
            regions = [int(p[i]) for p, i in zip(observation.pools, picks, strict=True)]
            total += env.step(regions)
            chosen += regions
            observation = env.observe()
        returns.append(total)
        if picked is not None:
            picked.append(chosen)
    return returns


def greedy_picks(network: torch.nn.Module) -> Callable:
    """Deployment: the best candidate by Q in each sub-pool."""

    @torch.no_grad()
    def choose(observation, rng):
        code = network.encode_state(torch.from_numpy(observation.state)[None])
        return [
            int(network.score(code, torch.from_numpy(a)[None])[0].argmax())
            for a in observation.actions
        ]

    return choose


def random_picks(observation, rng) -> list[int]:
    return [int(rng.integers(len(actions))) for actions in observation.actions]


def entropy_picks(num_classes: int, grid: int) -> Callable:
    """The entropy strategy's choice within each sub-pool: the highest mean pixel entropy."""

    def choose(observation, rng):
        return [int(np.argmax(mean_entropy(a, num_classes, grid))) for a in observation.actions]

    return choose


def held_out_seeds(episodes: int) -> list[int]:
    return [10**6 + i for i in range(episodes)]


def validation_seeds(episodes: int) -> list[int]:
    """Keep-best's episodes: apart from the held-out ones (10**6 + i, benchmarks) and from
    training's (seed * 100_000 + episode), so selecting a snapshot never sees a held-out one."""
    return [10**9 + i for i in range(episodes)]


class KeepBest:
    """Scores the greedy policy on fixed validation episodes and keeps the best snapshot of the
    online network (ties: the earlier one). Its state travels in the training checkpoint."""

    def __init__(self, env, seeds: list[int], every: int):
        self.env, self.seeds, self.every = env, list(seeds), every
        self.score, self.episode, self.network_state = -math.inf, None, None

    def due(self, done: int, total: int) -> bool:
        return done % self.every == 0 or done == total

    def consider(self, network: torch.nn.Module, done: int) -> float:
        """Mean greedy return of ``network`` after ``done`` episodes; kept if the best yet."""
        score = float(np.mean(evaluate_policy(self.env, greedy_picks(network), self.seeds)))
        if score > self.score:
            self.score, self.episode = score, done
            self.network_state = copy.deepcopy(network.state_dict())
        return score

    def state_dict(self) -> dict:
        return {
            "seeds": self.seeds,
            "score": self.score,
            "episode": self.episode,
            "network": self.network_state,
        }

    def load_state_dict(self, state: dict, source: Path) -> None:
        if not state or state.get("network") is None:
            return  # a checkpoint written without keep-best: the best starts now
        if list(state["seeds"]) != self.seeds:
            raise AlLoopError(
                f"{source}: its best snapshot was scored on {len(state['seeds'])} validation "
                f"episodes, not {len(self.seeds)}; keep training.validation_episodes"
            )
        self.score, self.episode = float(state["score"]), int(state["episode"])
        self.network_state = state["network"]


def compare_picks(env, choosers: dict[str, Callable], seeds: list[int]) -> dict:
    """Per chooser: mean return, its standard error, and the returns of the same episodes."""
    out = {}
    for name, choose in choosers.items():
        picked: list = []
        returns = evaluate_policy(env, choose, seeds, picked)
        sem = float(np.std(returns, ddof=1) / np.sqrt(len(returns))) if len(returns) > 1 else 0.0
        out[name] = {"mean": float(np.mean(returns)), "sem": sem, "returns": returns}
        out[name]["picked_class_pixels"] = picked_class_pixels(env, picked).tolist()
    return out


def picked_class_pixels(env, picked: list[list[int]]) -> np.ndarray:
    """int64 [C]: ground-truth pixels per class in the regions picked (summed over episodes),
    at the episodes' resolution: which classes a chooser asks labels for."""
    train = getattr(env, "train", None)
    counts = np.zeros(getattr(env, "num_classes", 0), np.int64)
    if train is None:
        return counts
    for regions in picked:
        inside = np.isin(train.index, regions) & (train.masks != IGNORE)
        counts += np.bincount(train.masks[inside], minlength=len(counts))[: len(counts)]
    return counts


def train_policy(
    env,
    agent: DQNAgent,
    episodes: int,
    learn_steps: int,
    seed: int,
    checkpoint: Path | None = None,
    meta: dict | None = None,
    log: Callable[[str], None] = lambda message: None,
    checkpoint_every: int = 1,
    credit: SharedCredit | ProgressCredit | None = None,
    keep_best: KeepBest | None = None,
) -> list[dict]:
    """Run (or continue, from ``checkpoint``) ``episodes`` episodes; returns the history. The
    checkpoint (replay, credit and keep-best state included) is written every
    ``checkpoint_every`` episodes and after the last; a resumed run replays the episodes after
    it identically. ``keep_best`` scores the policy when due (its score joins that episode's
    history entry) and keeps the best snapshot."""
    credit = credit or SharedCredit()
    history: list[dict] = []
    start = 0
    if checkpoint is not None and checkpoint.exists():
        blob = torch.load(checkpoint, weights_only=True)
        if blob.get("format") != CHECKPOINT_FORMAT or blob.get("meta") != meta:
            raise AlLoopError(
                f"{checkpoint}: a policy-training checkpoint of another configuration; "
                "delete it or use another policy path"
            )
        agent.load_state_dict(blob["agent"])
        credit.load_state_dict(blob.get("credit", {}))
        if keep_best is not None:
            keep_best.load_state_dict(blob.get("keep_best", {}), checkpoint)
        history, start = json.loads(blob["history"]), int(blob["episode"])
        log(f"resuming policy training at episode {start}")
    for episode in range(start, episodes):
        rng = np.random.default_rng([seed, episode])
        cpu = time.process_time()
        total, score = run_episode(env, agent, rng, seed * 100_000 + episode, learn_steps, credit)
        cpu = time.process_time() - cpu  # logged only: CPU seconds do not depend on the load
        history.append(
            {"episode": episode, "return": total, "final_score": score, "epsilon": agent.epsilon}
        )
        log(
            f"episode {episode}: return {total:+.2f}, reward-set score {score:.3f}, "
            f"epsilon {agent.epsilon:.3f} ({cpu:.1f} CPU s)"
        )
        if keep_best is not None and keep_best.due(episode + 1, episodes):
            cpu = time.process_time()
            history[-1]["validation_return"] = keep_best.consider(agent.online, episode + 1)
            log(
                f"validation after {episode + 1} episodes: greedy return "
                f"{history[-1]['validation_return']:+.2f} over {len(keep_best.seeds)} episodes; "
                f"best {keep_best.score:+.2f} after {keep_best.episode} "
                f"({time.process_time() - cpu:.1f} CPU s)"
            )
        if checkpoint is not None and (
            (episode + 1) % checkpoint_every == 0 or episode + 1 == episodes
        ):
            atomic_save(
                {
                    "format": CHECKPOINT_FORMAT,
                    "meta": meta,
                    "agent": agent.state_dict(),
                    "credit": credit.state_dict(),
                    "keep_best": {} if keep_best is None else keep_best.state_dict(),
                    "episode": episode + 1,
                    "history": json.dumps(history),
                },
                checkpoint,
            )
    return history


# -- wiring from an experiment config -----------------------------------------------------------


def policy_splits(
    data: SegmentationData, training: RalisTraining, seed: int
) -> tuple[SegmentationData, SegmentationData, SegmentationData]:
    """Disjoint (D_S, D_R, D_T) drawn at random from ``data``; D_R holds ``reward_pool_images``
    when set (each episode scores on a draw of ``reward_images`` of them)."""
    s, r = training.state_images, training.reward_pool_images or training.reward_images
    need = s + r + training.train_images
    if need > len(data):
        reward_key = "reward_pool_images" if training.reward_pool_images else "reward_images"
        raise ConfigError(
            f"strategy.params.training: state_images + {reward_key} + train_images = {need} "
            f"but the policy data ({data.source}, split {'+'.join(training.data.splits)}) has "
            f"{len(data)}"
        )
    order = np.random.default_rng([seed, 5]).permutation(len(data))
    return (
        data.subset(np.sort(order[:s])),
        data.subset(np.sort(order[s : s + r])),
        data.subset(np.sort(order[s + r : need])),
    )


def agent_settings(training: RalisTraining) -> AgentSettings:
    return AgentSettings(
        hidden=training.hidden,
        lr=training.lr,
        gamma=training.gamma,
        batch_size=training.batch_size,
        buffer_size=training.buffer_size,
        target_update=training.target_update,
        eps_start=training.eps_start,
        eps_end=training.eps_end,
        eps_decay_steps=training.eps_decay_steps,
        max_actions=training.pools * training.pool_size,
    )


def episode_settings(training: RalisTraining, reward: str | None = None) -> EpisodeSettings:
    return EpisodeSettings(
        steps=training.steps,
        pools=training.pools,
        pool_size=training.pool_size,
        initial_regions=training.initial_regions,
        initial_head_steps=training.initial_head_steps,
        head_steps=training.head_steps,
        head_hidden=training.head_hidden,
        head_lr=training.head_lr,
        head_pixels=training.head_pixels,
        reward=reward or training.reward,
        grid=training.grid,
        kl_bins=training.kl_bins,
        reward_draw=training.reward_images if training.reward_pool_images else 0,
    )


def policy_meta(params: RalisParams, num_classes: int, unit_kind: str) -> dict:
    """Plain values that describe the policy's features; stored in the policy file."""
    t = params.training
    return {
        "region_size": descriptor_size(num_classes, t.grid),
        "action_size": action_size(num_classes, t.grid, t.kl_bins),
        "hidden": t.hidden,
        "num_classes": num_classes,
        "grid": t.grid,
        "kl_bins": t.kl_bins,
        "pool_size": t.pool_size,
        "state_images": t.state_images,
        "unit_kind": unit_kind,
        "reward": t.reward,
        # what the features and episodes were; more episodes or an evaluation may resume
        "training": t.model_dump(
            mode="json",
            # keep-best selects among the snapshots, it does not change them: a run may resume
            # with it switched on (the validation episodes are checked against the checkpoint)
            exclude={
                "episodes",
                "evaluation_episodes",
                "cache",
                "checkpoint_every",
                "validation_every",
                "validation_episodes",
                # written only when used: policies trained before it existed still resume
                *(() if t.reward_pool_images else ("reward_pool_images",)),
            },
        ),
    }


def region_sets(config, training: RalisTraining, log: Callable[[str], None] = print) -> dict:
    """D_S, D_R and D_T at feature resolution: frozen Lite0 features (cached), projected on the
    PCA of D_T's pixels; ground truth and the run's units sampled at the features' stride."""
    splits = load_dataset(config.dataset.name, **{**config.dataset.params, **training.data.params})
    parts = [getattr(splits, name) for name in training.data.splits]
    for name, part in zip(training.data.splits, parts, strict=True):
        if part.masks is None:
            raise ConfigError(f"policy data split '{name}' has no masks")
    source = concatenate(parts)
    state, reward, train = policy_splits(source, training, config.seed)
    data = {"state": state, "reward": reward, "train": train}
    raw = {k: cached_features(d.images, training.cache, log) for k, d in data.items()}
    mean, matrix = fit_projection(raw["train"], training.feature_dims, seed=config.seed)

    def region_set(d: SegmentationData, features: np.ndarray) -> RegionSet:
        units = make_unit_space(
            config.units.kind, len(d), d.hw, images=d.images, **config.units.params()
        )
        index = sample_at_stride(units.pixel_unit_index(np.arange(len(d))))
        return RegionSet(
            project(features, mean, matrix),
            sample_at_stride(d.masks),
            index,
            boxes_of(index, len(units.units())),
        )

    sets = {k: region_set(d, raw[k]) for k, d in data.items()}
    return sets | {
        "num_classes": source.num_classes,
        "class_names": [c.name for c in source.classes],
    }


def build_environment(
    config, training: RalisTraining, reward: str | None = None, log: Callable = print
) -> RegionEnv:
    """The simulated episodes of ``config`` (``reward`` overrides ``training.reward``)."""
    sets = region_sets(config, training, log)
    return RegionEnv(
        sets["train"],
        sets["state"],
        sets["reward"],
        sets["num_classes"],
        episode_settings(training, reward),
    )


def baseline_choosers(env: RegionEnv) -> dict[str, Callable]:
    return {"random": random_picks, "entropy": entropy_picks(env.num_classes, env.settings.grid)}


def train_policy_from_config(config, resume: bool = False, log: Callable[[str], None] = print):
    """``al-loop train-policy CONFIG``: learn the policy named by ``strategy.params.policy``,
    then (``evaluation_episodes`` > 0) compare it with random picks on held-out episodes. With
    ``validation_every`` > 0 the policy written is the best validated snapshot."""
    from al_loop.wiring.build import set_determinism

    if config.strategy.name != "ralis":
        raise ConfigError(
            f"strategy.name: train-policy needs 'ralis', got '{config.strategy.name}'"
        )
    params = parse_ralis_params(config.strategy.params)
    training = params.training
    policy_path = Path(params.policy)
    checkpoint = policy_path.with_name(policy_path.name + ".ckpt")
    if checkpoint.exists() and not resume:
        raise AlLoopError(f"{checkpoint}: policy training was started here; pass --resume")
    set_determinism(config.seed, config.threads)
    env = build_environment(config, training, log=log)
    meta = policy_meta(params, env.num_classes, config.units.kind)
    agent = DQNAgent(
        meta["region_size"], meta["action_size"], agent_settings(training), config.seed
    )
    log(
        f"policy training: D_S {len(env.state_data.masks)}, D_R {len(env.reward_data.masks)}, "
        f"D_T {len(env.train.masks)} images ({len(env.labelled)} regions), "
        f"{training.episodes} episodes of {training.steps} steps, {training.credit} credit"
    )
    keep_best = None
    if training.validation_every:
        seeds = validation_seeds(training.validation_episodes)
        keep_best = KeepBest(env, seeds, training.validation_every)
    history = train_policy(
        env,
        agent,
        training.episodes,
        training.learn_steps,
        config.seed,
        checkpoint,
        meta,
        log,
        training.checkpoint_every,
        make_credit(training.credit),
        keep_best,
    )
    policy, saved_meta = agent.online, {**meta, "episodes_trained": len(history)}
    record: dict = {"episodes": history}
    if keep_best is not None:
        if keep_best.network_state is None:  # a finished run resumed with keep-best switched on
            keep_best.consider(agent.online, len(history))
        policy = copy.deepcopy(agent.online)
        policy.load_state_dict(keep_best.network_state)
        record["validation"] = {
            "seeds": keep_best.seeds,
            "best_episode": keep_best.episode,
            "best_return": keep_best.score,
        }
        saved_meta["validation"] = record["validation"] | {"seeds": len(keep_best.seeds)}
        log(
            f"keep-best: the policy is the snapshot after {keep_best.episode} episodes "
            f"(validation return {keep_best.score:+.2f}); the checkpoint keeps the last state"
        )
    save_policy(policy, saved_meta, policy_path)
    log(f"wrote {policy_path}")
    if training.evaluation_episodes:
        seeds = held_out_seeds(training.evaluation_episodes)
        choosers = {"greedy": greedy_picks(policy), **baseline_choosers(env)}
        results = compare_picks(env, choosers, seeds)
        record["evaluation"] = {"seeds": seeds, **results}
        means = ", ".join(f"{k} {v['mean']:+.2f}" for k, v in results.items())
        log(f"held-out episodes ({env.settings.reward}), mean return: {means}")
    policy_path.with_name(policy_path.name + ".history.json").write_text(
        json.dumps(record, indent=1)
    )
    return record
