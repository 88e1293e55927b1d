"""The ``strategy.params`` of ``ralis``: the policy file, how it is used on the target pool, and
(under ``training``) how ``al-loop train-policy`` learns it. Validated once, unknown keys fail."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from al_loop.core.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Split = Literal["train", "val", "test"]


class PolicyData(_Section):
    """Where D_S, D_R and D_T come from: a split of the configured dataset, or several joined in
    the order given (e.g. ``[val, test]``: CamVid's three drives, where one split is one or two),
    optionally with other dataset params (e.g. another synthetic seed for images the target pool
    never had)."""

    split: Split | tuple[Split, ...] = "test"
    params: dict[str, Any] = Field(default_factory=dict)  # overrides of dataset.params

    @property
    def splits(self) -> tuple[str, ...]:
        return (self.split,) if isinstance(self.split, str) else self.split

    @model_validator(mode="after")
    def _not_the_target_pool(self) -> PolicyData:
        if not self.splits:
            raise ValueError("split: name at least one of train, val, test")
        if len(set(self.splits)) != len(self.splits):
            raise ValueError(f"split: {list(self.splits)} names a split twice")
        if "train" in self.splits and not self.params:
            raise ValueError(
                "split 'train' with the run's own dataset params is the target pool: its labels "
                "would leak into the policy; use split test, or params with another seed"
            )
        return self


class RalisTraining(_Section):
    """Sizes default to a CPU-feasible toy scale; the paper's scale is noted per key. The
    episodes train a small head on frozen, cached Lite0 features (not the loop's segmenter)."""

    data: PolicyData = PolicyData()
    state_images: int = Field(10, gt=0)  # |D_S| (paper: 10 images for CamVid)
    reward_images: int = Field(10, gt=0)  # |D_R| (paper: 10)
    # > 0: each episode scores on reward_images frames drawn afresh from this many, so the policy
    # cannot learn what helps one fixed reward set (it led entropy by 7.7 points on its own
    # episodes and by 0.1 on the pool's frames); 0: one fixed D_R (the paper)
    reward_pool_images: int = Field(0, ge=0)
    train_images: int = Field(16, gt=0)  # |D_T| (paper: 100 for CamVid)
    episodes: int = Field(20, gt=0)  # paper: 50-100
    steps: int = Field(6, gt=0)  # actions per episode (paper: until a region budget)
    pools: int = Field(4, gt=0)  # K sub-pools per step, one region labelled from each
    pool_size: int = Field(10, gt=1)  # N candidates per sub-pool (paper: 50)
    initial_regions: int = Field(8, gt=0)
    initial_head_steps: int = Field(60, gt=0)  # head gradient steps at episode start
    head_steps: int = Field(15, gt=0)  # head gradient steps after each action
    head_hidden: int = Field(64, gt=0)
    head_lr: float = Field(0.01, gt=0)
    head_pixels: int = Field(8192, gt=0)  # labelled pixels sampled per head step
    feature_dims: int = Field(64, gt=0)  # PCA of the 496 Lite0 hypercolumn channels
    cache: str = "runs/ralis_cache"  # encoder features, computed once per image
    reward: Literal["miou", "weighted_iou"] = "miou"
    # what each pick's transition learns from (strategies.ralis.credit); the paper: shared
    credit: Literal["shared", "progress", "marginal"] = "shared"
    grid: int = Field(2, gt=0)  # entropy pooling grid per region (state and action features)
    kl_bins: int = Field(8, gt=0)  # bins of each KL-divergence histogram
    # the DQN
    hidden: int = Field(64, gt=0)
    lr: float = Field(1e-3, gt=0)
    gamma: float = Field(0.9, ge=0, le=1)  # paper: 0.999 with long episodes
    batch_size: int = Field(32, gt=0)  # paper: 16
    buffer_size: int = Field(3200, gt=0)  # paper: 3200
    target_update: int = Field(20, gt=0)  # gradient updates between target copies
    learn_steps: int = Field(4, gt=0)  # gradient updates per action (paper: 1)
    eps_start: float = Field(1.0, ge=0, le=1)
    eps_end: float = Field(0.05, ge=0, le=1)
    eps_decay_steps: float = Field(40.0, gt=0)  # e-folding of epsilon in actions
    evaluation_episodes: int = Field(0, ge=0)  # after training: greedy, random, entropy
    # keep-best: every `validation_every` episodes (and after the last) the greedy policy plays
    # `validation_episodes` fixed episodes (seeds apart from training and held-out ones); the
    # policy file is the best snapshot, the checkpoint the last state. 0: the last state
    validation_every: int = Field(0, ge=0)
    validation_episodes: int = Field(8, gt=0)
    checkpoint_every: int = Field(1, gt=0)  # episodes between checkpoints (replay included)

    @model_validator(mode="after")
    def _reward_pool_holds_a_reward_set(self) -> RalisTraining:
        if 0 < self.reward_pool_images < self.reward_images:
            raise ValueError(
                f"reward_pool_images ({self.reward_pool_images}) must be 0 or at least "
                f"reward_images ({self.reward_images})"
            )
        return self


class RalisParams(_Section):
    policy: str  # file written by `al-loop train-policy` and read by the strategy
    pool_size: int | None = Field(None, gt=1)  # N at deployment; None: the training N
    state_images: int | None = Field(None, gt=0)  # |D_S| drawn from the pool; None: training
    training: RalisTraining = RalisTraining()


def parse_ralis_params(params: dict[str, Any]) -> RalisParams:
    try:
        return RalisParams.model_validate(params)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"strategy.params.{key}: {message}") from None
