"""The one small interface every baseline implements, and the name registry.

A baseline turns a dataset's full train split into a condensed set of `budget`
images per class. Coresets return indices into the train split; distillation
baselines return new images. Every method is one module that registers one
subclass of :class:`SelectionMethod` with ``@METHODS.register("name")``:

    @METHODS.register("random")
    class RandomSelection(SelectionMethod):
        Config = RandomConfig
        def select(self, dataset, budget, *, generator): ...

Options are a typed pydantic ``Config`` (``extra="forbid"``, so a misspelled
option is an error naming the field, never silently ignored), randomness comes
only from the explicit ``torch.Generator`` passed to ``select``, and the global
RNGs are never read or changed (model initialisation runs under
``torch.random.fork_rng``).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from ..errors import CondenseBenchError
from ..registry import Registry
from ..submission.schema import Paper

__all__ = [
    "METHODS",
    "MethodConfig",
    "SelectionMethod",
    "SelectionResult",
    "TrainSet",
    "build_method",
    "check_budget",
    "per_class_indices",
    "seed_from",
]


class MethodConfig(BaseModel):
    """Base of every method's options: frozen, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TrainSet:
    """A dataset's full train split, as the baselines see it."""

    name: str  # dataset card name
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    num_classes: int
    mean: tuple[float, ...]  # the card's normalisation
    std: tuple[float, ...]
    fingerprint: str  # sha256 of pixels and labels (datasets.splits.fingerprint)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"TrainSet.images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (len(self.images),):
            raise ValueError("TrainSet.labels must have one label per image")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def normalized(self, index: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """float32 (x / 255 - mean) / std for all images, or the indexed ones."""
        x = self.images if index is None else self.images[torch.as_tensor(index, dtype=torch.long)]
        mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
        return (x.float() / 255.0 - mean) / std


@dataclass(frozen=True)
class SelectionResult:
    """What a method produced. Exactly one of `indices` (a coreset: sorted indices
    into the train split) and `images` (a distilled set: float32 (N, C, H, W) in
    [0, 1]) is set; `labels` are the labels of the set in the same order."""

    labels: torch.Tensor
    indices: np.ndarray | None = None
    images: torch.Tensor | None = None
    # seconds spent training scoring models (for cached scores: the run that made them)
    scoring_seconds: float = 0.0
    scoring_reused: bool = False  # True when the scores came from the cache
    details: dict[str, str | int | float] = field(default_factory=dict)  # recorded in the submission's notes

    def __post_init__(self):
        if (self.indices is None) == (self.images is None):
            raise ValueError("SelectionResult needs exactly one of indices and images")
        n = len(self.indices) if self.indices is not None else len(self.images)
        if len(self.labels) != n:
            raise ValueError(f"SelectionResult: {n} items but {len(self.labels)} labels")
        if self.images is not None and (self.images.dtype != torch.float32 or self.images.dim() != 4):
            raise ValueError("SelectionResult.images must be float32 (N, C, H, W) in [0, 1]")

    @property
    def is_coreset(self) -> bool:
        return self.indices is not None


class SelectionMethod(abc.ABC):
    """One baseline. Subclasses set `Config`, `produces` and `paper`, and override `select`."""

    Config: ClassVar[type[MethodConfig]] = MethodConfig
    produces: ClassVar[Literal["indices", "images"]] = "indices"
    paper: ClassVar[Paper | None] = None
    summary: ClassVar[str] = ""

    def __init__(self, config: MethodConfig, *, device: str = "cpu", log: Callable[[str], None] | None = None):
        if not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} takes a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config
        self.device = device
        self.log: Callable[[str], None] = log or (lambda message: None)  # progress messages

    @abc.abstractmethod
    def select(self, dataset: TrainSet, budget: int, *, generator: torch.Generator) -> SelectionResult:
        """Choose (or synthesise) `budget` images per class from `dataset`.

        Abstract: abc refuses to instantiate a method class that does not define it."""


METHODS: Registry[type[SelectionMethod]] = Registry("baseline method")


def build_method(name: str, options: dict[str, object] | None = None, *, device: str = "cpu",
                 log: Callable[[str], None] | None = None) -> SelectionMethod:
    """The registered method `name` with its Config validated from `options`."""
    from pydantic import ValidationError

    from ..yamlio import format_validation_error

    cls = METHODS.get(name)
    try:
        config = cls.Config.model_validate(options or {})
    except ValidationError as exc:
        problems = "; ".join(format_validation_error(exc))
        fields = ", ".join(cls.Config.model_fields) or "none"
        raise CondenseBenchError(f"baseline {name}: invalid options: {problems} (its options: {fields})") from None
    return cls(config, device=device, log=log)


# ------------------------------------------------------------------ helpers


def check_budget(dataset: TrainSet, budget: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise CondenseBenchError(f"the budget (images per class) must be a positive integer, got {budget!r}")
    counts = torch.bincount(dataset.labels, minlength=dataset.num_classes)
    if int(counts.min()) < budget:
        c = int(counts.argmin())
        raise CondenseBenchError(
            f"dataset {dataset.name}: class {c} has {int(counts[c])} train images, fewer than {budget} per class"
        )


def per_class_indices(labels: torch.Tensor, num_classes: int) -> list[np.ndarray]:
    """Indices of each class, ascending."""
    lab = labels.numpy()
    return [np.flatnonzero(lab == c) for c in range(num_classes)]


def seed_from(generator: torch.Generator) -> int:
    """A 63-bit seed drawn from `generator` (for a model initialised under fork_rng)."""
    return int(torch.randint(0, 2**63 - 1, (1,), generator=generator).item())


def rank_with_ties(values: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """Argsort ascending by value; ties broken by a random permutation drawn from `generator`."""
    tiebreak = torch.randperm(len(values), generator=generator).numpy()
    return np.lexsort((tiebreak, np.asarray(values)))
