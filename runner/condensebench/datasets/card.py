"""Dataset cards: one validated YAML file per dataset in `datasets/`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import CondenseBenchError
from ..paths import datasets_dir
from ..yamlio import load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SklearnDigitsSource(_Strict):
    """scikit-learn's bundled 8x8 digits, split once with a fixed seed (no download)."""

    kind: Literal["sklearn_digits"]
    test_size: int = Field(gt=0)
    split_seed: int


class TorchvisionCifarSource(_Strict):
    """torchvision's on-disk CIFAR format (`cifar-10-batches-py/`, `cifar-100-python/`)."""

    kind: Literal["torchvision_cifar10", "torchvision_cifar100"]


class ImageFolderSource(_Strict):
    """An ImageFolder tree `<dir>/<split>/<class>/<file>` under the data root."""

    kind: Literal["image_folder"]
    dir: str
    train: str = "train"
    test: str = "test"
    # ImageNet-style trees hold images of any size: Resize(resize) + CenterCrop(image_size).
    resize: int | None = None


DataSource = Annotated[
    Union[SklearnDigitsSource, TorchvisionCifarSource, ImageFolderSource], Field(discriminator="kind")
]


class DatasetCard(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    description: str
    classes: list[str] = Field(min_length=2)
    image_size: int = Field(gt=0)  # square images, in pixels
    channels: Literal[1, 3]
    mean: list[float]
    std: list[float]
    train_size: int = Field(gt=0)
    test_size: int = Field(gt=0)
    source: DataSource
    # sha256 of the decoded test split (uint8 pixels, labels); None = not pinned yet
    test_fingerprint: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    how_to_get: str  # shown when the files are missing

    @model_validator(mode="after")
    def _check(self):
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError("mean and std need one value per channel")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be unique")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def embedded(self) -> bool:
        return self.source.kind == "sklearn_digits"


def list_cards(root: Path | None = None) -> dict[str, Path]:
    root = root or datasets_dir()
    if not root.is_dir():
        raise CondenseBenchError(
            f"no datasets folder at {root}: run condensebench from a checkout, or set CONDENSEBENCH_HOME to one"
        )
    return {p.stem: p for p in sorted(root.glob("*.yaml"))}


def load_card(name: str, root: Path | None = None) -> DatasetCard:
    cards = list_cards(root)
    if name not in cards:
        import difflib

        close = difflib.get_close_matches(name, list(cards), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise CondenseBenchError(f"unknown dataset {name!r}.{hint} Known: {', '.join(cards)}")
    card = load_model(DatasetCard, cards[name])
    if card.name != name:
        from ..errors import SchemaError

        raise SchemaError(cards[name], [f"name: {card.name!r} does not match the file name"])
    return card
