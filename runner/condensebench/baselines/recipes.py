"""Pinned recipes for the baselines that train or optimise something.

A recipe is a YAML file in ``baselines/recipes/`` validated like a protocol
(typed, ``extra="forbid"``, a discriminated union keyed by ``kind``):

- ``scoring``: the training-dynamics run shared by el2n, forgetting, aum and
  ccs (model, epochs, optimizer, schedule, augmentation, one model per seed,
  the epoch at which EL2N is read);
- ``distribution_matching``: DM's settings (embedding ConvNet, iterations,
  real batch per class, image learning rate, DSA).

Its identity is ``name@version`` plus the sha256 of its canonical JSON (every
field, defaults resolved, keys sorted), which keys the score cache and is
recorded in each submission built from it. Machine settings (device, data
root) are never recipe fields.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ..errors import CondenseBenchError, SchemaError
from ..paths import project_root
from ..protocol.schema import (
    AugmentationSpec,
    ConvNetSpec,
    DSAAug,
    ModelSpec,
    NormalizationSpec,
    OptimizerSpec,
    ScheduleSpec,
    StepSchedule,
)
from ..yamlio import format_validation_error, read_yaml

__all__ = ["DMRecipe", "Recipe", "ScoringRecipe", "default_recipe", "load_recipe", "recipe_hash", "recipes_dir"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RecipeBase(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: int = Field(ge=1)
    title: str
    description: str
    datasets: list[str] = Field(min_length=1)  # dataset cards it is the recipe for
    notes: list[str] = []

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class ScoringRecipe(_RecipeBase):
    """Train one model per seed on the full train split and record, per example:
    EL2N after `el2n_epoch` epochs, and over all epochs the forgetting events and
    the margin (for AUM) at each presentation."""

    kind: Literal["scoring"]
    model: ModelSpec
    seeds: list[int] = Field(min_length=1)  # one independently initialised model per seed
    epochs: int = Field(ge=1)
    el2n_epoch: int = Field(ge=1)  # EL2N is read after this many epochs (an early checkpoint)
    batch_size: int = Field(ge=1)
    optimizer: OptimizerSpec
    schedule: ScheduleSpec
    augmentations: list[AugmentationSpec] = []
    normalization: NormalizationSpec = NormalizationSpec()

    @model_validator(mode="after")
    def _check(self):
        if self.el2n_epoch > self.epochs:
            raise ValueError(f"el2n_epoch ({self.el2n_epoch}) must be <= epochs ({self.epochs})")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError("seeds must be distinct")
        if isinstance(self.schedule, StepSchedule) and any(not 0 < m <= self.epochs for m in self.schedule.milestones):
            raise ValueError("schedule.milestones must lie in 1..epochs")
        return self


class DMRecipe(_RecipeBase):
    """Distribution matching (Zhao & Bilen, WACV 2023): synthetic images, initialised
    from real ones, are optimised so that the mean embedding of each class under a
    freshly initialised random ConvNet matches the real class mean, every iteration."""

    kind: Literal["distribution_matching"]
    model: ConvNetSpec  # the embedding network, re-initialised at random every iteration
    iterations: int = Field(ge=1)
    real_batch_per_class: int = Field(ge=1)
    lr_images: float = Field(gt=0)  # SGD on the images (in normalised space)
    momentum: float = Field(default=0.5, ge=0)
    augmentation: DSAAug | None = None  # the same DSA draw applied to real and synthetic images
    init: Literal["real"] = "real"


Recipe = Annotated[Union[ScoringRecipe, DMRecipe], Field(discriminator="kind")]
_ADAPTER: TypeAdapter = TypeAdapter(Recipe)


def recipes_dir() -> Path:
    return project_root() / "baselines" / "recipes"


def canonical_json(recipe: ScoringRecipe | DMRecipe) -> str:
    return json.dumps(recipe.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def recipe_hash(recipe: ScoringRecipe | DMRecipe) -> str:
    return hashlib.sha256(canonical_json(recipe).encode()).hexdigest()


def load_recipe_file(path: str | Path) -> ScoringRecipe | DMRecipe:
    path = Path(path)
    data = read_yaml(path)
    try:
        recipe = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise SchemaError(path, format_validation_error(exc)) from None
    if path.parent.resolve() == recipes_dir().resolve() and path.stem != recipe.name:
        raise SchemaError(path, [f"name: {recipe.name!r} does not match the file name {path.name!r}"])
    return recipe


def list_recipes(root: Path | None = None) -> dict[str, Path]:
    root = root or recipes_dir()
    return {p.stem: p for p in sorted(root.glob("*.yaml"))} if root.is_dir() else {}


def load_recipe(ref: str) -> ScoringRecipe | DMRecipe:
    """A recipe by name (a file in baselines/recipes/) or by path to a YAML file."""
    if ref.endswith((".yaml", ".yml")) or Path(ref).is_file():
        if not Path(ref).is_file():
            raise CondenseBenchError(f"recipe file {ref} not found")
        return load_recipe_file(ref)
    known = list_recipes()
    if ref not in known:
        import difflib

        close = difflib.get_close_matches(ref, list(known), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise CondenseBenchError(f"unknown recipe {ref!r}.{hint} Available: {', '.join(known) or 'none'}")
    return load_recipe_file(known[ref])


def default_recipe(kind: str, dataset: str) -> ScoringRecipe | DMRecipe:
    """The one recipe of `kind` that lists `dataset`."""
    found = []
    for path in list_recipes().values():
        recipe = load_recipe_file(path)
        if recipe.kind == kind and dataset in recipe.datasets:
            found.append(recipe)
    if not found:
        raise CondenseBenchError(
            f"no {kind} recipe in {recipes_dir()} lists dataset {dataset!r}; write one or pass --recipe FILE"
        )
    if len(found) > 1:
        raise CondenseBenchError(
            f"several {kind} recipes list dataset {dataset!r} ({', '.join(r.name for r in found)}); pick one with --recipe"
        )
    return found[0]


def check_recipe_for(recipe: ScoringRecipe | DMRecipe, kind: str, dataset: str) -> None:
    if recipe.kind != kind:
        raise CondenseBenchError(f"recipe {recipe.ref} is a {recipe.kind!r} recipe; this method needs a {kind!r} one")
    if dataset not in recipe.datasets:
        raise CondenseBenchError(f"recipe {recipe.ref} is for {', '.join(recipe.datasets)}, not for dataset {dataset}")
