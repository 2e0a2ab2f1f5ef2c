"""The typed schema every protocol YAML file is validated against.

Every setting that moves accuracy is an explicit field (reference/protocols.md,
"Details a frozen protocol must pin"). Choices of one of several kinds are
discriminated unions keyed by `kind`/`arch`, and unknown fields are refused,
so a typo can never silently switch something off.
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LabelRegime = Literal["hard", "soft", "kd"]

# ----------------------------------------------------------------- models


class ConvNetSpec(Strict):
    """DC's ConvNet: [conv3x3 -> norm -> act -> pool] x depth, then one linear layer."""

    arch: Literal["convnet"]
    depth: int = Field(ge=1, le=5)
    width: int = Field(default=128, ge=1)
    norm: Literal["instancenorm", "batchnorm", "none"] = "instancenorm"
    act: Literal["relu"] = "relu"
    pooling: Literal["avgpooling", "maxpooling", "none"] = "avgpooling"


class TorchvisionSpec(Strict):
    """A torchvision classifier trained from scratch; at <= small_input_max_px the
    3x3 stride-1 first conv without max-pool (SRe2L/RDED/DD-Ranking) is used."""

    arch: Literal["resnet18", "resnet50", "resnet101", "mobilenet_v2", "efficientnet_b0"]
    small_input_variant: Literal["conv3x3_no_maxpool", "none"] = "conv3x3_no_maxpool"
    small_input_max_px: int = 64


class CifarResNetSpec(Strict):
    """DeepCore's ResNet_32x32 (CIFAR-style ResNet-18)."""

    arch: Literal["resnet18_cifar"]


ModelSpec = Annotated[Union[ConvNetSpec, TorchvisionSpec, CifarResNetSpec], Field(discriminator="arch")]

# ------------------------------------------------------------- optimizers

WeightDecayScope = Literal["all", "weights_ndim_gt1"]


class SGDSpec(Strict):
    kind: Literal["sgd"]
    lr: float = Field(gt=0)
    momentum: float = Field(default=0.0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    nesterov: bool = False
    weight_decay_scope: WeightDecayScope = "all"


class AdamWSpec(Strict):
    kind: Literal["adamw", "adam"]
    lr: float = Field(gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(default=0.0, ge=0)
    weight_decay_scope: WeightDecayScope = "all"


OptimizerSpec = Annotated[Union[SGDSpec, AdamWSpec], Field(discriminator="kind")]

# ---------------------------------------------------------- lr schedules


class ConstantSchedule(Strict):
    kind: Literal["constant"]


class CosineSchedule(Strict):
    """lr * 0.5 * (1 + cos(pi * t / (span * epochs))): span 1 is the full cosine to 0
    (SRe2L, CDA), span 2 RDED's half cosine and EDC's st=2 (ends at 0.5 * lr)."""

    kind: Literal["cosine"]
    span: float = Field(default=1.0, ge=1.0)
    step: Literal["epoch", "iteration"] = "epoch"


class CosineAnnealingSchedule(Strict):
    """torch CosineAnnealingLR(T_max=epochs or iterations, eta_min) (DeepCore)."""

    kind: Literal["cosine_annealing"]
    eta_min: float = Field(default=0.0, ge=0)
    step: Literal["epoch", "iteration"] = "epoch"


class StepSchedule(Strict):
    """lr * gamma ** (number of milestones <= epoch). DC re-creates the optimizer at
    each milestone, which also resets momentum: reset_optimizer pins that."""

    kind: Literal["multistep"]
    milestones: list[int]
    gamma: float = Field(gt=0)
    reset_optimizer: bool = False


ScheduleSpec = Annotated[
    Union[ConstantSchedule, CosineSchedule, CosineAnnealingSchedule, StepSchedule],
    Field(discriminator="kind"),
]


class WarmupSpec(Strict):
    """Linear warm-up from start_factor * lr to lr over `epochs`; the main schedule
    then runs over the remaining epochs (SRe2L Tiny: LinearLR then CosineAnnealing)."""

    epochs: int = Field(ge=1)
    start_factor: float = Field(default=0.01, gt=0, le=1)


# ---------------------------------------------------------- augmentations

Interpolation = Literal["bilinear", "nearest"]


class RandomResizedCropAug(Strict):
    kind: Literal["random_resized_crop"]
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    interpolation: Interpolation = "bilinear"
    antialias: bool = True


class RandomCropAug(Strict):
    kind: Literal["random_crop"]
    padding: int = Field(ge=0)
    padding_mode: Literal["constant", "reflect"] = "constant"


class HorizontalFlipAug(Strict):
    kind: Literal["horizontal_flip"]
    p: float = Field(default=0.5, ge=0, le=1)


class PatchShuffleAug(Strict):
    """RDED's ShufflePatches: shuffle `factor` column strips, then `factor` row strips."""

    kind: Literal["patch_shuffle"]
    factor: int = Field(ge=1)


class DSAParams(Strict):
    prob_flip: float = 0.5
    ratio_scale: float = 1.2
    ratio_rotate: float = 15.0
    ratio_crop_pad: float = 0.125
    ratio_cutout: float = 0.5
    brightness: float = 1.0
    saturation: float = 2.0
    contrast: float = 0.5


class DSAAug(Strict):
    """Differentiable Siamese Augmentation (DC utils.py DiffAugment), per-sample params."""

    kind: Literal["dsa"]
    strategy: str = "color_crop_cutout_flip_scale_rotate"
    mode: Literal["S", "M"] = "S"
    params: DSAParams = DSAParams()

    @model_validator(mode="after")
    def _known_ops(self):
        known = {"color", "crop", "cutout", "flip", "scale", "rotate"}
        unknown = [op for op in self.strategy.split("_") if op not in known]
        if unknown:
            raise ValueError(f"unknown DSA ops {unknown}; known: {sorted(known)}")
        return self


class RandAugmentAug(Strict):
    kind: Literal["rand_augment"]
    num_ops: int = 2
    magnitude: int = 9


class NormalizeStep(Strict):
    """Where normalisation happens in the pipeline (mean/std come from `normalization`)."""

    kind: Literal["normalize"]


AugmentationSpec = Annotated[
    Union[
        RandomResizedCropAug,
        RandomCropAug,
        HorizontalFlipAug,
        PatchShuffleAug,
        DSAAug,
        RandAugmentAug,
        NormalizeStep,
    ],
    Field(discriminator="kind"),
]


class NoMix(Strict):
    kind: Literal["none"]


class CutMixSpec(Strict):
    """One box per batch, lam ~ Beta(alpha, alpha), lam re-computed from the clipped box."""

    kind: Literal["cutmix"]
    alpha: float = Field(gt=0)
    prob: float = Field(default=1.0, ge=0, le=1)


class MixUpSpec(Strict):
    kind: Literal["mixup"]
    alpha: float = Field(gt=0)
    prob: float = Field(default=1.0, ge=0, le=1)


MixSpec = Annotated[Union[NoMix, CutMixSpec, MixUpSpec], Field(discriminator="kind")]

# ------------------------------------------------------------------ loss


class CrossEntropyLoss(Strict):
    kind: Literal["cross_entropy"]
    label_smoothing: float = 0.0


class KLLoss(Strict):
    """KLDivLoss('batchmean')(log_softmax(s/T), softmax(t/T)), times T^2 if scale_t2."""

    kind: Literal["kl"]
    temperature: float = Field(gt=0)
    scale_t2: bool = False


class MSECELoss(Strict):
    """EDC/G-VBSM: mse(student logits, teacher logits) + ce_weight * CE(student, label)."""

    kind: Literal["mse_ce"]
    ce_weight: float = Field(ge=0)
    # EDC/G-VBSM take the CE term on each image's own label even under CutMix ("own");
    # "mixed" weights the two labels by lam like the hard-label loss.
    ce_target: Literal["own", "mixed"] = "own"


class SoftCrossEntropyLoss(Strict):
    """DATM: -sum(softmax(target / T) * log_softmax(out)) / B."""

    kind: Literal["soft_cross_entropy"]
    temperature: float = Field(default=1.0, gt=0)


LossSpec = Annotated[
    Union[CrossEntropyLoss, KLLoss, MSECELoss, SoftCrossEntropyLoss], Field(discriminator="kind")
]

# --------------------------------------------------------------- teacher


class TorchvisionWeights(Strict):
    """torchvision's published weights, read offline from TORCH_HOME's hub cache."""

    source: Literal["torchvision"]
    name: str  # e.g. ResNet18_Weights.IMAGENET1K_V1
    file: str  # the file name torchvision caches (its 8-hex prefix is torchvision's own check)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class FileWeights(Strict):
    """A safetensors state dict; `path` is relative to the project root, else to
    <data root>/teachers/."""

    source: Literal["file"]
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


WeightsRef = Annotated[Union[TorchvisionWeights, FileWeights], Field(discriminator="source")]


class TeacherMember(Strict):
    model: ModelSpec
    weights: dict[str, WeightsRef]  # dataset name -> weights


class TeacherSpec(Strict):
    """The teacher ensemble (logits averaged), run in eval mode on the same
    augmented and mixed batch as the student at every step."""

    mode: Literal["online"] = "online"
    members: list[TeacherMember] = Field(min_length=1)


# ------------------------------------------------------------ normalisation

NAMED_STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar10_deepcore": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4866, 0.4409), (0.2673, 0.2564, 0.2762)),
    "cifar100_edc": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}


class NormalizationSpec(Strict):
    """`dataset` uses the dataset card's mean/std; a named set forces those values
    for every dataset (RDED normalises everything with ImageNet statistics)."""

    stats: Literal["dataset", "imagenet", "cifar10", "cifar10_deepcore", "cifar100", "cifar100_edc"] = "dataset"


class EMASpec(Strict):
    decay: float = Field(gt=0, lt=1)
    parameters_only: bool = True  # EDC: BN buffers are not averaged
    evaluate_with_ema: bool = True


# ------------------------------------------------------------ evaluation


class EvaluationSpec(Strict):
    """How the real test split is scored. The headline is the accuracy after the
    last epoch: no model selection on the test split."""

    report: Literal["final_epoch"] = "final_epoch"
    # "rded": Resize((size // 7) * 8) then CenterCrop(size), RDED's validation transform
    resize: Literal["none", "rded"] = "none"
    batch_size: int = Field(default=500, ge=1)  # no effect on accuracy (eval mode)
    topk: list[int] = [1, 5]


class BatchByIPC(Strict):
    """Batch size looked up by IPC (largest listed IPC <= the set's IPC, else the
    smallest), multiplied for large class counts, capped at the set size."""

    by_ipc: dict[int, int]
    class_multiplier: dict[int, int] = {}


class Source(Strict):
    key: str  # e.g. "[D]"
    ref: str  # repo@commit and files


class Protocol(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: int = Field(ge=1)
    title: str
    description: str
    sources: list[Source] = Field(min_length=1)
    follows: str | None = None  # which source wins where the sources disagree, and why
    datasets: list[str] = Field(min_length=1)  # dataset cards it applies to
    label_regime: LabelRegime
    model: ModelSpec
    epochs: int = Field(ge=1)
    extra_final_pass: bool = False  # DC's loop runs Epoch+1 passes
    batch_size: int | BatchByIPC
    optimizer: OptimizerSpec
    schedule: ScheduleSpec
    warmup: WarmupSpec | None = None
    loss: LossSpec
    teacher: TeacherSpec | None = None
    normalization: NormalizationSpec = NormalizationSpec()
    augmentations: list[AugmentationSpec] = []
    mix: MixSpec = NoMix(kind="none")
    ema: EMASpec | None = None
    evaluation: EvaluationSpec = EvaluationSpec()
    seeds: int = Field(default=3, ge=1)
    notes: list[str] = []

    @model_validator(mode="after")
    def _consistent(self):
        needs_teacher = self.label_regime == "kd"
        if needs_teacher and self.teacher is None:
            raise ValueError("label_regime 'kd' needs a teacher")
        if not needs_teacher and self.teacher is not None:
            raise ValueError(f"label_regime {self.label_regime!r} takes no teacher")
        if self.label_regime == "hard" and self.loss.kind != "cross_entropy":
            raise ValueError("label_regime 'hard' trains with loss kind 'cross_entropy'")
        if self.label_regime != "hard" and self.loss.kind == "cross_entropy":
            raise ValueError(f"label_regime {self.label_regime!r} needs a soft-target loss")
        if sum(a.kind == "normalize" for a in self.augmentations) > 1:
            raise ValueError("augmentations: at most one 'normalize' step")
        if isinstance(self.schedule, StepSchedule) and any(
            not 0 < m <= self.epochs for m in self.schedule.milestones
        ):
            raise ValueError("schedule.milestones must lie in 1..epochs")
        if self.warmup is not None and self.warmup.epochs >= self.epochs:
            raise ValueError("warmup.epochs must be smaller than epochs")
        return self

    def total_passes(self) -> int:
        return self.epochs + (1 if self.extra_final_pass else 0)

    def batch_size_for(self, ipc: int, num_classes: int, set_size: int) -> int:
        if isinstance(self.batch_size, int):
            batch = self.batch_size
        else:
            table = self.batch_size.by_ipc
            below = [k for k in table if k <= ipc]
            batch = table[max(below)] if below else table[min(table)]
            batch *= self.batch_size.class_multiplier.get(num_classes, 1)
        return max(1, min(batch, set_size))
