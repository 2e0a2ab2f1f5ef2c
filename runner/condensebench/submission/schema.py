"""The typed schema of `submission.yaml`, shared by distilled sets, coresets and baselines."""
from __future__ import annotations

import datetime as dt
from pathlib import PurePosixPath
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LabelRegime = Literal["hard", "soft", "kd"]
SHA256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_relative_path(value: str) -> str:
    p = PurePosixPath(value)
    if not value or p.is_absolute() or ".." in p.parts or "\\" in value or value.startswith("~"):
        raise ValueError(f"{value!r} must be a relative path inside the submission folder (no '..', no absolute path)")
    return value


class Paper(Strict):
    title: str
    venue: str | None = None
    year: int | None = Field(default=None, ge=1990, le=2100)
    url: str | None = None


class ConstructionCost(Strict):
    """What building the set cost. Outside entries report it themselves; the
    project measures it for its own baselines."""

    reported_by: Literal["self", "measured"]
    gpu_hours: float | None = Field(default=None, ge=0)
    gpu_model: str | None = None
    peak_memory_gb: float | None = Field(default=None, ge=0)
    wall_clock_hours: float | None = Field(default=None, ge=0)
    device: str | None = None
    scoring_model_hours: float | None = Field(default=None, ge=0)  # coresets scored by a trained model


class CodeRef(Strict):
    url: str
    commit: str | None = None


class DataFile(Strict):
    path: str
    sha256: SHA256
    size: int = Field(ge=0)
    url: str | None = None  # large sets by reference: fetched into the local cache

    _path = field_validator("path")(check_relative_path)


class Uint8Space(Strict):
    """Plain 8-bit pixels (PNG) or uint8 tensors; float tensors in [0, 1] also count."""

    kind: Literal["uint8"]


class NormalizedSpace(Strict):
    """Tensors saved after (x - mean) / std with these values (e.g. DC's saved sets)."""

    kind: Literal["normalized"]
    mean: list[float]
    std: list[float]


class ZCASpace(Strict):
    """ZCA-whitened pixels (MTT/DATM). `path` is a safetensors file with `mean` (D,)
    and `matrix` (D, D), D = C*H*W: whitened = (x - mean) @ matrix, applied to
    images in `input` space (unit [0,1] pixels, or normalised with mean/std)."""

    kind: Literal["zca"]
    path: str
    input: Literal["unit", "normalized"] = "unit"
    input_mean: list[float] | None = None
    input_std: list[float] | None = None
    eps: float | None = None  # documentation of how the matrix was fitted

    _path = field_validator("path")(check_relative_path)

    @model_validator(mode="after")
    def _normalized_needs_stats(self):
        if self.input == "normalized" and (self.input_mean is None or self.input_std is None):
            raise ValueError("input 'normalized' needs input_mean and input_std")
        return self


PixelSpace = Annotated[Union[Uint8Space, NormalizedSpace, ZCASpace], Field(discriminator="kind")]


class PNGFolderData(Strict):
    """`<path>/<class index>/<any name>.png`: the folder gives the label."""

    format: Literal["png_folder"]
    path: str
    pixel_space: Uint8Space = Uint8Space(kind="uint8")

    _path = field_validator("path")(check_relative_path)


class TensorFileData(Strict):
    """One safetensors or npz file holding `images` (N, C, H, W) and `labels` (N,)."""

    format: Literal["safetensors", "npz"]
    path: str
    pixel_space: PixelSpace

    _path = field_validator("path")(check_relative_path)


class IndicesData(Strict):
    """A coreset: a text file of indices into the dataset's train split, one per line."""

    format: Literal["indices"]
    path: str

    _path = field_validator("path")(check_relative_path)


DataSpec = Annotated[Union[PNGFolderData, TensorFileData, IndicesData], Field(discriminator="format")]


class SoftLabels(Strict):
    """Fixed soft labels (N, classes) in the same order as the images."""

    path: str  # safetensors or npz file with key `soft_labels`
    kind: Literal["logits", "probabilities"]

    _path = field_validator("path")(check_relative_path)


class Submission(Strict):
    schema_version: Literal[1] = 1
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,80}$")
    kind: Literal["distilled", "coreset", "baseline"]
    method: str = Field(min_length=1, max_length=80)
    paper: Paper | None = None
    authors: list[str] = []
    dataset: str
    ipc: int = Field(ge=1)
    label_regimes: list[LabelRegime] = Field(min_length=1)
    data: DataSpec
    soft_labels: SoftLabels | None = None
    construction_cost: ConstructionCost
    code: CodeRef | None = None
    licence: str
    created: dt.date | None = None
    files: list[DataFile] = Field(min_length=1)
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.kind == "coreset" and self.data.format != "indices":
            raise ValueError("data: a coreset lists indices into the train split (format 'indices')")
        if "soft" in self.label_regimes and self.soft_labels is None:
            raise ValueError("label_regimes: 'soft' needs soft_labels")
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files: a path is listed twice")
        return self
