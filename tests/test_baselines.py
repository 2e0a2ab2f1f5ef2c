"""Baselines: each method's defining property on small synthetic data, the
registry and option validation, recipes, the score cache and the writer."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from condensebench.baselines import METHODS, SelectionMethod, SelectionResult, TrainSet, build_method
from condensebench.baselines.base import MethodConfig, rank_with_ties
from condensebench.baselines.ccs import ccs_select
from condensebench.baselines.dm import class_mean_discrepancy, distribution_matching
from condensebench.baselines.features import build_random_convnet
from condensebench.baselines.herding import herding_order
from condensebench.baselines.kcenter import kcenter_order
from condensebench.baselines.recipes import (
    DMRecipe,
    ScoringRecipe,
    list_recipes,
    load_recipe,
    load_recipe_file,
    recipe_hash,
)
from condensebench.baselines.runner import log_construction as REAL_LOG_CONSTRUCTION
from condensebench.baselines.scoring import (
    aum_from_margins,
    el2n_scores,
    forgetting_events,
    get_scores,
    margins,
)
from condensebench.errors import CondenseBenchError, SchemaError
from condensebench.protocol.schema import ConvNetSpec
from condensebench.registry import Registry

REPO = Path(__file__).resolve().parents[1]
ALL_METHODS = ["aum", "ccs", "dm", "el2n", "forgetting", "herding", "kcenter", "random"]


@pytest.fixture(autouse=True)
def _no_tracking(monkeypatch):
    """Builds in these tests never log to a real tracking store; calls are recorded."""
    from condensebench.baselines import runner

    calls: list[dict] = []
    monkeypatch.setattr(runner, "log_construction", lambda sub, directory, **kw: calls.append({"id": sub.id, **kw}))
    return calls


def toy_trainset(n_per_class: int = 20, classes: int = 3, size: int = 8, channels: int = 1, seed: int = 0) -> TrainSet:
    """Class c's images are noise around a class-specific grey level: learnable in a few epochs."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    base = (labels.float() + 1) / (classes + 1) * 255
    noise = torch.randn(len(labels), channels, size, size, generator=g) * 30
    images = (base.view(-1, 1, 1, 1) + noise).clamp(0, 255).to(torch.uint8)
    return TrainSet(name="toy", images=images, labels=labels, num_classes=classes, mean=(0.5,) * channels,
                    std=(0.25,) * channels, fingerprint="f" * 64)


# ----------------------------------------------------------- the registry


def test_every_method_is_registered_and_one_small_interface():
    assert METHODS.names() == ALL_METHODS
    for name in METHODS.names():
        cls = METHODS.get(name)
        assert issubclass(cls, SelectionMethod)
        assert issubclass(cls.Config, MethodConfig)
        assert cls.Config.model_config["extra"] == "forbid"
        assert cls.produces in ("indices", "images")


def test_registry_refuses_unknown_names_with_suggestions():
    with pytest.raises(CondenseBenchError, match="Did you mean: herding"):
        METHODS.get("hearding")
    with pytest.raises(CondenseBenchError, match="unknown baseline method 'nope'"):
        build_method("nope")


def test_registry_refuses_duplicates():
    reg: Registry[type] = Registry("baseline method")
    reg.register("x")(int)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("x")(float)


def test_select_is_abstract():
    class Incomplete(SelectionMethod):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete(MethodConfig())


def test_unknown_and_misspelled_options_are_refused():
    with pytest.raises(CondenseBenchError, match="orderr"):
        build_method("el2n", {"orderr": "hard"})
    with pytest.raises(CondenseBenchError, match="random"):  # random takes no options
        build_method("random", {"features": "pixels"})
    with pytest.raises(CondenseBenchError, match="features"):
        build_method("herding", {"features": "pixelz"})
    assert build_method("kcenter", {"features": "random_convnet"}).config.features.kind == "random_convnet"


def test_budget_is_checked():
    data = toy_trainset(n_per_class=5)
    with pytest.raises(CondenseBenchError, match="fewer than 6 per class"):
        build_method("random").select(data, 6, generator=torch.Generator().manual_seed(0))
    with pytest.raises(CondenseBenchError, match="positive integer"):
        build_method("random").select(data, 0, generator=torch.Generator().manual_seed(0))


def test_selection_result_needs_exactly_one_payload():
    with pytest.raises(ValueError, match="exactly one"):
        SelectionResult(labels=torch.zeros(2, dtype=torch.long))


# ------------------------------------------------------------------ random


def test_random_is_class_balanced_and_seeded():
    data = toy_trainset(n_per_class=30, classes=4)
    method = build_method("random")
    state = torch.get_rng_state()
    a = method.select(data, 5, generator=torch.Generator().manual_seed(1))
    b = method.select(data, 5, generator=torch.Generator().manual_seed(1))
    c = method.select(data, 5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(torch.get_rng_state(), state)  # no global RNG
    assert torch.bincount(a.labels).tolist() == [5, 5, 5, 5]
    assert np.array_equal(a.indices, b.indices) and not np.array_equal(a.indices, c.indices)
    assert np.all(np.diff(a.indices) > 0)


# ------------------------------------------------------ herding, k-center


def test_kcenter_picks_the_farthest_point():
    pts = torch.tensor([[0.0], [1.0], [2.0], [10.0], [4.0]])
    # from 0: the farthest is 10; then the point farthest from {0, 10} is 4 (distance 4 vs 2 and 1)
    assert kcenter_order(pts, 3, first=0) == [0, 3, 4]
    rng = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=rng)
    picks = kcenter_order(x, 10, first=7)
    for k in range(1, len(picks)):
        d = torch.cdist(x, x[picks[:k]]).min(1).values
        assert picks[k] == int(d.argmax())  # each pick is the farthest from the chosen centers


def test_herding_running_mean_approaches_the_class_mean():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 8, generator=g) * torch.linspace(0.5, 3, 8)
    mu = x.mean(0)
    order = herding_order(x, 40)
    dist = [float((x[order[:k]].mean(0) - mu).norm()) for k in range(1, 41)]
    assert order[0] == int(((x - mu) ** 2).sum(1).argmin())  # the first pick is the point nearest the mean
    assert dist[-1] < 0.1 * dist[0]
    assert len(set(order)) == 40
    random_dist = np.mean([float((x[torch.randperm(300, generator=g)[:40]].mean(0) - mu).norm()) for _ in range(50)])
    assert dist[-1] < 0.25 * random_dist  # far closer than random subsets of the same size


@pytest.mark.parametrize("name", ["herding", "kcenter"])
@pytest.mark.parametrize("features", ["pixels", "random_convnet"])
def test_geometric_coresets_are_class_balanced(name, features):
    data = toy_trainset()
    res = build_method(name, {"features": features}).select(data, 4, generator=torch.Generator().manual_seed(0))
    assert torch.bincount(res.labels).tolist() == [4, 4, 4]
    assert torch.equal(data.labels[torch.from_numpy(res.indices)], res.labels)
    assert "features" in res.details


# ----------------------------------------------------------------- scores


def test_el2n_is_the_norm_of_softmax_minus_onehot():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 0.0, 0.0], [10.0, -10.0, 0.0]])
    labels = torch.tensor([0, 2, 1])
    expected = torch.stack([torch.linalg.vector_norm(torch.softmax(l, 0) - torch.eye(3)[y]) for l, y in zip(logits, labels)])
    assert torch.allclose(el2n_scores(logits, labels), expected)
    assert math.isclose(float(el2n_scores(logits, labels)[1]), math.sqrt((2 / 3) ** 2 + 2 * (1 / 3) ** 2), rel_tol=1e-6)
    assert float(el2n_scores(torch.tensor([[30.0, 0.0]]), torch.tensor([0]))) < 1e-6


def test_forgetting_counts_correct_to_incorrect_transitions():
    history = torch.tensor([
        [1, 0, 0, 1],
        [0, 0, 1, 1],
        [1, 0, 0, 1],
        [0, 0, 1, 1],
        [1, 1, 1, 0],
    ], dtype=torch.bool)
    # example 0: 1->0 at t=1 and t=3; example 1: never correct before t=4; 2: 1->0 at t=2; 3: 1->0 at t=4
    assert forgetting_events(history).tolist() == [2, 0, 1, 1]


def test_aum_is_the_mean_margin():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 4.0, 1.0]])
    labels = torch.tensor([0, 0])
    assert margins(logits, labels).tolist() == [1.0, -4.0]  # assigned minus the largest other logit
    hist = torch.tensor([[1.0, -4.0], [3.0, 0.0], [2.0, -1.0]])
    assert aum_from_margins(hist).tolist() == [2.0, pytest.approx(-5 / 3)]


def test_rank_with_ties_breaks_ties_with_the_seed():
    values = np.array([1, 0, 1, 1, 0, 2])
    a = rank_with_ties(values, torch.Generator().manual_seed(0))
    b = rank_with_ties(values, torch.Generator().manual_seed(0))
    orders = {tuple(rank_with_ties(values, torch.Generator().manual_seed(s))) for s in range(20)}
    assert np.array_equal(a, b)
    assert len(orders) > 1  # different seeds order the ties differently
    for order in orders:
        assert list(values[list(order)]) == [0, 0, 1, 1, 1, 2]


def test_ccs_keeps_coverage_after_pruning():
    scores = np.linspace(0.0, 1.0, 1000)  # difficulty, higher = harder
    g = torch.Generator().manual_seed(0)
    picks = ccs_select(scores, budget=10, prune_fraction=0.3, strata=10, generator=g)
    assert len(set(picks.tolist())) == 10
    chosen = scores[picks]
    assert chosen.max() <= scores[699] + 1e-12  # nothing from the hardest 30 %
    kept_lo, kept_hi = 0.0, scores[699]
    bins = np.minimum(((chosen - kept_lo) / (kept_hi - kept_lo) * 10).astype(int), 9)
    assert sorted(bins.tolist()) == list(range(10))  # one from every stratum of the kept range
    # easy-first ranking, by contrast, piles up at the easy end
    assert scores[np.argsort(scores)[:10]].max() < 0.01


def test_ccs_allocates_small_strata_fully_and_spends_the_budget():
    scores = np.concatenate([np.zeros(2), np.full(100, 0.5), np.ones(100)])  # three strata: 2, 100, 100 examples
    picks = ccs_select(scores, budget=30, prune_fraction=0.0, strata=3, generator=torch.Generator().manual_seed(0))
    chosen = scores[picks]
    assert len(picks) == 30 and (chosen == 0).sum() == 2 and (chosen == 0.5).sum() == 14 and (chosen == 1).sum() == 14


# ------------------------------------------------- scoring run and cache


def tiny_scoring_recipe(tmp_path: Path, **changes) -> Path:
    data = {
        "kind": "scoring", "name": "toy-scoring", "version": 1, "title": "toy", "description": "toy",
        "datasets": ["toy"], "model": {"arch": "convnet", "depth": 1, "width": 8},
        "seeds": [0, 1], "epochs": 4, "el2n_epoch": 2, "batch_size": 16,
        "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9}, "schedule": {"kind": "constant"},
    }
    data.update(changes)
    path = tmp_path / "toy-scoring.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_scoring_run_is_cached_by_fingerprint_and_recipe(tmp_path):
    data = toy_trainset()
    recipe = load_recipe_file(tiny_scoring_recipe(tmp_path))
    first = get_scores(recipe, data)
    second = get_scores(recipe, data)
    assert not first.reused and second.reused
    assert np.array_equal(first.el2n, second.el2n) and second.seconds == first.seconds
    assert first.el2n.shape == first.forgetting.shape == first.aum.shape == (len(data),)
    assert np.all((first.el2n >= 0) & (first.el2n <= math.sqrt(2)))
    assert np.all(first.forgetting <= recipe.epochs)
    other = load_recipe_file(tiny_scoring_recipe(tmp_path, epochs=3))
    assert recipe_hash(other) != recipe_hash(recipe)
    assert not get_scores(other, data).reused  # a changed recipe is a new run


@pytest.mark.parametrize("name", ["el2n", "forgetting", "aum", "ccs"])
def test_score_based_methods_are_class_balanced(tmp_path, name):
    data = toy_trainset()
    options = {"recipe": str(tiny_scoring_recipe(tmp_path))}
    res = build_method(name, options).select(data, 3, generator=torch.Generator().manual_seed(0))
    assert torch.bincount(res.labels).tolist() == [3, 3, 3]
    assert res.scoring_seconds > 0 and res.details["scoring_recipe"] == "toy-scoring@1"


def test_easy_and_hard_first_take_opposite_ends(tmp_path):
    data = toy_trainset()
    recipe = str(tiny_scoring_recipe(tmp_path))
    scores = get_scores(load_recipe_file(recipe), data)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    easy = build_method("el2n", {"recipe": recipe}).select(data, 3, generator=g())
    hard = build_method("el2n", {"recipe": recipe, "order": "hard"}).select(data, 3, generator=g())
    for c in range(3):
        cls = np.flatnonzero(data.labels.numpy() == c)
        e = scores.el2n[np.intersect1d(easy.indices, cls)]
        h = scores.el2n[np.intersect1d(hard.indices, cls)]
        assert e.max() <= np.sort(scores.el2n[cls])[2] + 1e-12
        assert h.min() >= np.sort(scores.el2n[cls])[-3] - 1e-12


def test_recipe_for_another_dataset_is_refused(tmp_path):
    data = toy_trainset()
    with pytest.raises(CondenseBenchError, match="not for dataset toy"):
        build_method("el2n", {"recipe": "digits-convnet-scoring"}).select(data, 2, generator=torch.Generator())
    with pytest.raises(CondenseBenchError, match="needs a 'scoring' one"):
        build_method("el2n", {"recipe": "digits-dm"}).select(data, 2, generator=torch.Generator())


# -------------------------------------------------------------------- recipes


def test_shipped_recipes_validate_and_are_named_after_their_files():
    found = list_recipes()
    assert {"digits-convnet-scoring", "digits-dm", "cifar10-convnet-scoring", "cifar10-dm"} <= set(found)
    for name in found:
        recipe = load_recipe(name)
        assert recipe.name == name
        assert isinstance(recipe, (ScoringRecipe, DMRecipe))
        assert recipe_hash(recipe) == recipe_hash(load_recipe(name))


def test_recipe_schema_names_the_bad_field(tmp_path):
    with pytest.raises(SchemaError, match="el2n_epoch"):
        load_recipe_file(tiny_scoring_recipe(tmp_path, el2n_epoch=9))
    with pytest.raises(SchemaError, match="epochz"):
        load_recipe_file(tiny_scoring_recipe(tmp_path, epochz=3))


# ----------------------------------------------------------------------- dm


@pytest.mark.slow
def test_dm_reduces_the_mmd_between_synthetic_and_real_features():
    data = toy_trainset(n_per_class=30, classes=3)
    recipe = DMRecipe(kind="distribution_matching", name="toy-dm", version=1, title="t", description="d",
                      datasets=["toy"], model=ConvNetSpec(arch="convnet", depth=2, width=16), iterations=60,
                      real_batch_per_class=30, lr_images=1.0, momentum=0.5)
    g = torch.Generator().manual_seed(0)
    images, labels, losses = distribution_matching(recipe, data, 2, iterations=60, generator=g)
    g0 = torch.Generator().manual_seed(0)  # the same draw of initial images
    classes = [np.flatnonzero(data.labels.numpy() == c) for c in range(3)]
    init = np.concatenate([idx[torch.randperm(len(idx), generator=g0)[:2].numpy()] for idx in classes])
    assert torch.equal(labels, data.labels[torch.from_numpy(init)])

    def mmd(x_unit: torch.Tensor) -> float:
        total = 0.0
        mean, std = torch.tensor(data.mean).view(1, -1, 1, 1), torch.tensor(data.std).view(1, -1, 1, 1)
        for seed in range(1000, 1010):  # held-out random networks
            net = build_random_convnet(recipe.model, data, seed)
            with torch.no_grad():
                fr = net.features(data.normalized()).flatten(1)
                fs = net.features((x_unit - mean) / std).flatten(1)
            total += float(class_mean_discrepancy([fr[data.labels == c] for c in range(3)],
                                                  [fs[labels == c] for c in range(3)]))
        return total

    before = mmd(data.images[torch.from_numpy(init)].float() / 255)
    after = mmd(images)
    assert after < 0.5 * before
    assert images.dtype == torch.float32 and images.min() >= 0 and images.max() <= 1


def test_dm_method_produces_a_balanced_distilled_set(tmp_path):
    data = toy_trainset()
    path = tmp_path / "toy-dm.yaml"
    path.write_text(yaml.safe_dump({
        "kind": "distribution_matching", "name": "toy-dm", "version": 1, "title": "t", "description": "d",
        "datasets": ["toy"], "model": {"arch": "convnet", "depth": 2, "width": 8}, "iterations": 5,
        "real_batch_per_class": 8, "lr_images": 1.0,
        "augmentation": {"kind": "dsa", "strategy": "color_crop_cutout_scale_rotate"},
    }))
    state = torch.get_rng_state()
    res = build_method("dm", {"recipe": str(path)}).select(data, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)
    assert not res.is_coreset and res.images.shape == (6, 1, 8, 8)
    assert torch.bincount(res.labels).tolist() == [2, 2, 2]


# ------------------------------------------------------- writing submissions


def test_construction_is_logged_only_when_a_store_is_configured(monkeypatch, tmp_path):
    from condensebench import tracking

    seen = []
    monkeypatch.setattr(tracking, "log_construction", lambda sub, directory, **kw: seen.append(kw) or "run-1")
    monkeypatch.setattr(tracking, "is_configured", lambda: False)
    assert REAL_LOG_CONSTRUCTION(None, tmp_path, seconds=1.0, params={}) is None and not seen
    monkeypatch.setattr(tracking, "is_configured", lambda: True)
    assert REAL_LOG_CONSTRUCTION(None, tmp_path, seconds=2.0, params={"seed": 0}) == "run-1"
    assert seen == [{"seconds": 2.0, "params": {"seed": 0}}]


def test_make_baseline_writes_a_loadable_submission(tmp_path, _no_tracking):
    from condensebench.baselines.runner import make_baseline
    from condensebench.submission import load_submission

    out = make_baseline("random", dataset="digits", ipc=3, seed=4, out=tmp_path / "random-ipc3-s4", quiet=True)
    sub = out.submission
    assert sub.kind == "baseline" and sub.method == "random" and sub.ipc == 3 and sub.id == "random-ipc3-s4"
    cost = sub.construction_cost
    assert cost.reported_by == "measured" and cost.wall_clock_hours is not None and cost.peak_memory_gb > 0
    assert cost.device.startswith("cpu")
    cset = load_submission(out.directory)
    assert torch.bincount(cset.labels).tolist() == [3] * 10
    with pytest.raises(CondenseBenchError, match="--force"):
        make_baseline("random", dataset="digits", ipc=3, seed=4, out=out.directory, quiet=True)
    assert _no_tracking[0]["id"] == "random-ipc3-s4" and _no_tracking[0]["params"]["seed"] == 4
    again = make_baseline("random", dataset="digits", ipc=3, seed=4, out=out.directory, quiet=True, force=True)
    assert (again.directory / "indices.txt").read_text() == (out.directory / "indices.txt").read_text()


def test_make_baseline_writes_distilled_images(tmp_path):
    from condensebench.baselines.runner import make_baseline
    from condensebench.submission import load_submission

    recipe = tmp_path / "tiny-dm.yaml"
    recipe.write_text(yaml.safe_dump({
        "kind": "distribution_matching", "name": "tiny-dm", "version": 1, "title": "t", "description": "d",
        "datasets": ["digits"], "model": {"arch": "convnet", "depth": 2, "width": 8}, "iterations": 5,
        "real_batch_per_class": 8, "lr_images": 1.0,
    }))
    out = make_baseline("dm", dataset="digits", ipc=1, out=tmp_path / "dm-ipc1", quiet=True,
                        options={"recipe": str(recipe), "iterations": 3})
    assert out.submission.data.format == "safetensors" and out.submission.id == "dm-ipc1"
    assert "iterations: 3" in out.submission.notes and "tiny-dm@1" in out.submission.notes
    cset = load_submission(out.directory)
    assert cset.images.shape == (10, 1, 8, 8) and float(cset.images.max()) <= 1.0


def test_cli_baseline(tmp_path, capsys):
    from condensebench.cli import main

    assert main(["baseline", "list"]) == 0
    assert "kcenter" in capsys.readouterr().out
    assert main(["baseline", "kcentre", "--dataset", "digits", "--ipc", "1"]) == 2
    assert "Did you mean: kcenter" in capsys.readouterr().err
    assert main(["baseline", "random", "--dataset", "digits", "--ipc", "1", "--order", "hard",
                 "--out", str(tmp_path / "x")]) == 2
    assert "order" in capsys.readouterr().err
    assert main(["baseline", "kcenter", "--dataset", "digits", "--ipc", "2", "-q", "--out", str(tmp_path / "k")]) == 0
    assert yaml.safe_load((tmp_path / "k" / "submission.yaml").read_text())["id"] == "kcenter-ipc2"


# ------------------------------------------------------ shipped submissions


def shipped_baselines() -> list[Path]:
    out = []
    for path in sorted((REPO / "submissions").glob("*/*/submission.yaml")):
        if yaml.safe_load(path.read_text()).get("kind") == "baseline":
            out.append(path.parent)
    return out


@pytest.mark.parametrize("directory", shipped_baselines(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_baselines_are_canonical(directory):
    from condensebench.submission import read_submission_yaml
    from condensebench.submission.loader import verify_files

    sub = read_submission_yaml(directory)
    assert directory.parent.name == sub.dataset and directory.name == sub.id
    assert sub.id.startswith(f"{sub.method}-ipc{sub.ipc}")
    assert sub.method in METHODS
    assert sub.construction_cost.reported_by == "measured"
    verify_files(directory, sub)
    if sub.dataset == "digits":  # embedded: the full load needs no data root
        from condensebench.submission import load_submission

        load_submission(directory)
