"""Typed experiment config, validated once at the entry point.

Every section forbids unknown keys, so a typo fails with a one-line error that names the key.
Parts receive plain values from here; nothing reads a global config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from al_loop.core.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Section):
    name: str = "synthetic"  # a key of al_loop.data.DATASETS
    params: dict[str, Any] = Field(default_factory=dict)


class UnitsConfig(_Section):
    kind: Literal["image", "grid", "superpixel"] = "grid"
    cell: int = Field(32, gt=0)  # grid cell side in pixels (working resolution)
    # superpixel: a cut of a higra watershed hierarchy (al_loop.core.segments.hierarchical_segments)
    criterion: Literal["area", "volume", "dynamics"] = "area"
    threshold: float = Field(200.0, gt=0)  # area: segments smaller than this many pixels merge
    sigma: float = Field(1.0, ge=0)  # Gaussian smoothing before the colour gradient

    def params(self) -> dict[str, Any]:
        if self.kind == "grid":
            return {"cell": self.cell}
        if self.kind == "superpixel":
            return {"criterion": self.criterion, "threshold": self.threshold, "sigma": self.sigma}
        return {}


class WindowsConfig(_Section):
    """Fit on windows around labelled pixels instead of whole images (al_loop/models/windows.py):
    an epoch is a random cover of every labelled pixel by ``size`` x ``size`` windows, each
    placed so its first labelled pixel has at least ``context`` pixels of image on every side."""

    size: int = Field(128, gt=0)  # a multiple of 32 (the encoder's output stride)
    context: int | None = Field(None, ge=0)  # None: size // 4

    @model_validator(mode="after")
    def _fits(self) -> WindowsConfig:
        if self.size % 32:
            raise ValueError(f"size must be a multiple of 32, got {self.size}")
        if self.context is not None and self.context > (self.size - 1) // 2:
            raise ValueError(
                f"context must be at most {(self.size - 1) // 2} for size {self.size}, "
                f"got {self.context}"
            )
        return self


class PlateauFitConfig(_Section):
    """Each round's fit trains until val mIoU stops improving (``al_loop/models/plateau.py``),
    as the full-supervision reference does, instead of a fixed number of epochs: the loop's
    curve then says what its labels are worth (a fixed 2-epoch fit gave 67 whole CamVid frames
    about the steps of 17; README). Epochs count the pool's images, not the labelled ones."""

    patience: int = Field(3, gt=0)  # val evaluations without a better mIoU before stopping
    eval_every: int = Field(1, gt=0)  # epochs (of the pool) between val evaluations
    max_epochs: int = Field(30, gt=0)  # epochs (of the pool) at most per round


class SegmenterConfig(_Section):
    arch: str = "Unet"
    encoder: str = "timm-tf_efficientnet_lite0"
    encoder_weights: str | None = "lite0-imagenet"
    epochs: int = Field(3, gt=0)
    min_steps: int = Field(0, ge=0)  # at least this many optimiser steps per fit
    batch_size: int = Field(16, gt=0)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warm_start: bool = True
    augment: bool = True
    dropout: float = Field(0.0, ge=0, lt=1)  # before the head; > 0 enables MC dropout (BALD)
    windows: WindowsConfig | None = None  # None: fit on whole images
    bf16: bool = False  # bfloat16 autocast in training (README "Speed": measured on this CPU)
    # None: each round fits ``epochs`` / ``min_steps``; set: each round trains on until val
    # mIoU plateaus (from the last round's weights with warm_start), keeping the best epoch
    until_plateau: PlateauFitConfig | None = None


class StrategyConfig(_Section):
    name: str = "entropy"  # a key of strategies.STRATEGIES
    params: dict[str, Any] = Field(default_factory=dict)


class RetrainConfig(_Section):
    """Retrain a learned interactive method on the labels acquired so far, after every round
    (al_loop/interactive/learned/retrain.py)."""

    steps: int = Field(0, ge=0)  # optimiser steps per round; 0: the method is never retrained
    batch_size: int = Field(8, gt=0)
    lr: float = Field(1e-5, gt=0)  # measured on the demo data: 1e-4 got worse round by round
    min_object_pixels: int = Field(32, ge=1)  # smaller labelled components are not trained on
    # Train at the scale of what the method is shown: a grid unit's cell plus its context
    # (measured: trained at the whole image's scale, the retrained click model made grid units
    # dearer, 9.2-9.8 s instead of 7.5 s). False: the whole image's scale.
    unit_scale: bool = True


class AnnotationConfig(_Section):
    method: str = "watershed_clicks"  # a key of al_loop.interactive.METHODS
    max_interactions: int = Field(20, gt=0)
    target_iou: float = Field(0.9, gt=0, le=1)
    use_model_mask: bool = False  # offer the segmenter's prediction as the starting mask
    context_margin: int = Field(16, ge=0)  # pixels of image around a unit the method sees
    min_instance_pixels: int = Field(16, ge=1)
    # method-specific settings: an interactive method's constructor arguments, or for
    # feature_space the box-labeller's (al_loop/annotators/feature_space.py)
    params: dict[str, Any] = Field(default_factory=dict)
    retrain: RetrainConfig = RetrainConfig()
    # a learned method's weights may have been trained on the pool's or val's images (their
    # metadata says so, or does not say): refused unless true (leakage: a person's model has
    # never seen the images they label)
    allow_seen_images: bool = False
    # the cost table that prices simulated interactions (a path, relative to the working
    # directory; None: configs/costs.yaml), e.g. one measured from a person by `al-loop costs`
    costs: str | None = None

    @field_validator("costs")
    @classmethod
    def _absolute(cls, costs: str | None) -> str | None:
        # made absolute where the config is read, so a sweep's workers find it from anywhere
        return None if costs is None else str(Path(costs).expanduser().resolve())


class BudgetConfig(_Section):
    initial_seconds: float = Field(300.0, gt=0)  # round 0: random seed set
    round_seconds: float = Field(300.0, gt=0)
    total_seconds: float = Field(1800.0, gt=0)

    @model_validator(mode="after")
    def _total_covers_initial(self) -> BudgetConfig:
        if self.total_seconds < self.initial_seconds:
            raise ValueError("total_seconds must be at least initial_seconds")
        return self


class ReferenceConfig(_Section):
    """Full supervision: the same model trained once on every pool label (the 100 % line)."""

    enabled: bool = True
    epochs: int | None = Field(None, gt=0)  # None: the segmenter's epochs
    # None: at least as many optimiser steps as the loop's fits are guaranteed together (warm
    # start accumulates steps over rounds), so the 100 % line is never the less-trained model.
    min_steps: int | None = Field(None, ge=0)
    # Train until val mIoU stops improving (al_loop/models/plateau.py): after the epochs /
    # min_steps above, stop once ``patience`` val evaluations in a row bring no better mIoU,
    # keep the best; at most ``max_epochs``. None: a fixed-length fit, as before.
    patience: int | None = Field(None, gt=0)
    eval_every: int = Field(1, gt=0)  # epochs between val evaluations
    max_epochs: int = Field(60, gt=0)

    @model_validator(mode="after")
    def _cap_covers_epochs(self) -> ReferenceConfig:
        if self.patience is not None and self.epochs is not None and self.epochs > self.max_epochs:
            raise ValueError(f"max_epochs ({self.max_epochs}) is below epochs ({self.epochs})")
        return self


# torch device spellings a run may name; whether the machine has one is checked before the run
# starts (al_loop.wiring.build.check_device), not here: a stored GPU run must still load on a CPU.
DEVICE_PATTERN = r"(cpu|cuda|mps|xpu)(:\d+)?"


class ExperimentConfig(_Section):
    name: str = "experiment"
    seed: int = 0
    device: str = "cpu"  # cpu, cuda, cuda:N, mps, xpu
    threads: int | None = Field(None, gt=0)
    dataset: DatasetConfig = DatasetConfig()
    units: UnitsConfig = UnitsConfig()
    segmenter: SegmenterConfig = SegmenterConfig()
    strategy: StrategyConfig = StrategyConfig()
    annotation: AnnotationConfig = AnnotationConfig()
    budget: BudgetConfig = BudgetConfig()
    full_supervision: ReferenceConfig = ReferenceConfig()

    @field_validator("device")
    @classmethod
    def _a_torch_device(cls, device: str) -> str:
        if not re.fullmatch(DEVICE_PATTERN, device):
            raise ValueError(
                f"'{device}' is not a torch device; valid: cpu, cuda, cuda:N, mps, xpu"
            )
        return device

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that make a run what it is: the config with every key at its default left
    out, so that a key a later version adds (with a default that keeps the old behaviour) leaves
    stored runs, finished sweeps and cached references valid. A config this schema no longer
    reads (a removed key) is returned as it is, so it differs from every current config."""
    try:
        identity = ExperimentConfig.model_validate(config).model_dump(
            mode="json", exclude_defaults=True
        )
    except ValidationError:
        return config
    # Whether the 100 % line is computed does not change the run's own curve: a run made
    # without it is the same run, and a later sweep with it only attaches the reference.
    reference = identity.get("full_supervision", {})
    reference.pop("enabled", None)
    if not reference:
        identity.pop("full_supervision", None)
    return identity


def describe_validation_error(err: ValidationError, origin: str) -> str:
    """One line naming the first bad key: ``origin: section.key: message (+N more)``."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
    message = message.removeprefix("Value error, ")  # our validators' own words
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {key}: {message}{more}"


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict[str, Any]:
    """A YAML file's top-level mapping, or a one-line ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{path}: not a UTF-8 text file (byte {err.start}); is it the {what} file?"
        ) from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(err)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def yaml_problem(err: yaml.YAMLError) -> str:
    """A YAML error in a few words with its place: 'expected ',' or ']' (line 1, column 4)'."""
    text = str(err).splitlines()
    problem = getattr(err, "problem", None) or (text[0] if text else type(err).__name__)
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def parse_config(data: dict[str, Any], origin: str = "config") -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, origin)) from None


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    data = read_yaml_mapping(path)
    return parse_config(merge(data, overrides or {}), origin=str(path))


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overrides`` (nested dicts or dotted keys) into a copy of ``base``."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            value, key = {rest: value}, head
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
