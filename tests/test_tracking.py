"""MLflow tracking: the run hierarchy, dedup, --force, the CLI integration, the embedded
default store, construction runs, and a real `mlflow server` on loopback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from mlflow.entities import ViewType

from condensebench import tracking
from condensebench.cli import main
from condensebench.errors import CondenseBenchError
from condensebench.tracking import EntryContext, Tracker, store
from tests.tracking_fixtures import fake_result, mlflow_server, store_uri, template_db  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def runs(client, experiment_id, role, view=ViewType.ACTIVE_ONLY):
    return client.search_runs([experiment_id], f"tags.`cb.role` = '{role}'", run_view_type=view)


def experiment(client, name="condensebench/digits-hard@v1"):
    exp = client.get_experiment_by_name(name)
    assert exp is not None, [e.name for e in client.search_experiments()]
    return exp


# ------------------------------------------------------------------ the store


def test_default_store_is_embedded_sqlite_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert store.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert store.sqlite_path(store.tracking_uri()) == tmp_path.resolve() / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert store.tracking_uri() == "http://127.0.0.1:5000"
    assert store.tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_uri_helpers_hide_passwords_and_find_the_ui():
    uri = "postgresql://cb:secret@db.example:5432/mlflow"
    assert "secret" not in store.display_uri(uri) and "db.example:5432" in store.display_uri(uri)
    assert store.ui_base("https://user:pw@mlflow.example/") == "https://mlflow.example"
    assert store.ui_base("sqlite:///mlflow.db") is None


def test_embedded_default_store_logs_with_nothing_to_start(template_db, tmp_path, monkeypatch):
    """No MLFLOW_TRACKING_URI: ./mlflow.db and ./mlruns in the working directory."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlflow.db").write_bytes(template_db.read_bytes())  # skip the schema migrations
    run_id = tracking.log_evaluation(fake_result("emb-ipc10", [80.0, 81.0, 82.0]))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    run = client.get_run(run_id)
    assert run.data.metrics["n_seeds"] == 3
    art = Path(run.info.artifact_uri.removeprefix("file://"))
    assert art.is_relative_to(tmp_path / "mlruns") and (art / "result.json").is_file()


def test_flatten_protocol_params():
    flat = store.flatten({"optimizer": {"lr": 0.01, "betas": [0.9, 0.999]}, "augmentations": [{"kind": "crop"}],
                          "warmup": None, "flag": True}, "protocol")
    assert flat == {"protocol.optimizer.lr": "0.01", "protocol.optimizer.betas": "[0.9, 0.999]",
                    "protocol.augmentations.0.kind": "crop", "protocol.warmup": "null", "protocol.flag": "true"}


def test_search_values_are_checked():
    with pytest.raises(ValueError):
        store.quote("x' OR '1'='1")


# ------------------------------------------------------------------ hierarchy


def check_hierarchy(client, parent_id: str, seeds: int, epochs: int = 20):
    parent = client.get_run(parent_id)
    t, m, p = parent.data.tags, parent.data.metrics, parent.data.params
    assert parent.info.status == "FINISHED"
    assert t["cb.role"] == "parent" and t["cb.kind"] == "distilled" and t["cb.method"] == "test"
    for key in ("cb.submission", "cb.submission_hash", "cb.protocol", "cb.protocol_version", "cb.protocol_hash",
                "cb.dataset", "cb.ipc", "cb.label_regime", "cb.git_commit", "cb.hardware", "cb.torch", "cb.backend"):
        assert t.get(key), key
    assert t["cb.protocol"] == "digits-hard" and t["cb.protocol_version"] == "1" and t["cb.protocol_released"] == "true"
    assert p["protocol.optimizer.lr"] == "0.01" and p["protocol.epochs"] == "300" and p["submission_id"]
    assert p["protocol_hash"] == t["cb.protocol_hash"] and p["submission_content_hash"] == t["cb.submission_hash"]
    assert m["n_seeds"] == seeds and "top1_mean" in m and "top1_std" in m
    for key in ("evaluation_seconds", "wall_clock_seconds", "storage_bytes", "construction_gpu_hours", "peak_memory_mb"):
        assert key in m, key
    children = client.search_runs([parent.info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_id}' and tags.`cb.role` = 'seed'")
    assert sorted(int(c.data.tags["cb.seed"]) for c in children) == list(range(seeds))
    summary = json.loads(t["cb.seed_runs"])
    assert {r["run"] for r in summary} == {c.info.run_id for c in children}
    for c in children:
        assert c.info.status == "FINISHED"
        assert c.data.params["seed"] == c.data.tags["cb.seed"] and c.data.params["backend"] == "local"
        for key in ("top1", "train_seconds", "eval_seconds", "wall_clock_seconds", "images_per_second", "peak_memory_mb"):
            assert key in c.data.metrics, key
        hist = client.get_metric_history(c.info.run_id, "loss")
        assert [h.step for h in sorted(hist, key=lambda h: h.step)] == list(range(epochs))
        assert c.data.tags["cb.hardware"] == "Test CPU"
    names = {f.path for f in client.list_artifacts(parent_id)}
    assert {"result.json", "protocol.json", "curves.json", "evaluation.log"} <= names
    return parent, children


def test_log_evaluation_makes_one_parent_with_a_child_per_seed(store_uri):
    result = fake_result("hier-ipc10", [80.0, 82.0, 81.0])
    parent_id = tracking.log_evaluation(result)
    client = MlflowClient(store_uri)
    parent, _ = check_hierarchy(client, parent_id, 3)
    assert parent.data.metrics["top1_mean"] == pytest.approx(81.0)
    assert parent.data.metrics["top1_std"] == pytest.approx(1.0)
    assert experiment(client).experiment_id == parent.info.experiment_id


def test_same_submission_protocol_and_seed_is_reused_not_duplicated(store_uri):
    client = MlflowClient(store_uri)
    first = tracking.log_evaluation(fake_result("dedup-ipc10", [80.0, 82.0, 81.0]))
    again = tracking.log_evaluation(fake_result("dedup-ipc10", [10.0, 10.0, 10.0]))  # same hashes, other numbers
    assert again == first
    eid = experiment(client).experiment_id
    assert len(runs(client, eid, "parent")) == 1 and len(runs(client, eid, "seed")) == 3
    assert client.get_run(first).data.metrics["top1_mean"] == pytest.approx(81.0)  # the tracked seeds won


def test_force_replaces_the_seed_runs(store_uri):
    client = MlflowClient(store_uri)
    first = tracking.log_evaluation(fake_result("force-ipc10", [80.0, 82.0, 81.0]))
    eid = experiment(client).experiment_id
    old = {c.info.run_id for c in runs(client, eid, "seed")}
    again = tracking.log_evaluation(fake_result("force-ipc10", [70.0, 71.0, 72.0]), force=True)
    assert again == first
    new = {c.info.run_id for c in runs(client, eid, "seed")}
    assert len(new) == 3 and not (new & old)
    deleted = {c.info.run_id for c in runs(client, eid, "seed", ViewType.DELETED_ONLY)}
    assert deleted == old  # soft-deleted, restorable
    assert client.get_run(first).data.metrics["top1_mean"] == pytest.approx(71.0)
    check_hierarchy(client, first, 3)


def test_more_seeds_later_are_added_to_the_same_parent(store_uri):
    client = MlflowClient(store_uri)
    first = tracking.log_evaluation(fake_result("grow-ipc10", [80.0, 82.0]))
    second = tracking.log_evaluation(fake_result("grow-ipc10", [1.0, 1.0, 90.0, 91.0]))
    assert first == second
    parent, _ = check_hierarchy(client, first, 4)
    assert parent.data.metrics["top1_mean"] == pytest.approx((80 + 82 + 90 + 91) / 4)


def test_a_protocol_variant_never_shares_the_released_experiment(store_uri):
    tracker = Tracker()
    result = fake_result("variant-ipc10", [80.0, 81.0, 82.0])
    data = result.model_dump(mode="json")
    data["protocol"]["hash"] = "ab" * 32  # same name and version, different content
    from condensebench.result import EvaluationResult

    session = tracker.evaluation(EntryContext.from_result(EvaluationResult.model_validate(data)))
    assert session.experiment_name == f"condensebench/digits-hard@v1~{'ab' * 6}"
    assert not session.released


def test_reconstruct_rebuilds_the_result_from_mlflow(store_uri):
    result = fake_result("rebuild-ipc10", [80.0, 82.0, 81.0])
    tracking.log_evaluation(result)
    session = Tracker().evaluation(EntryContext.from_result(result))
    assert set(session.tracked) == {0, 1, 2} and session.has_result
    rebuilt = session.reconstruct([0, 1])
    assert rebuilt.seeds == [0, 1] and rebuilt.top1_mean == pytest.approx(81.0)
    assert rebuilt.per_seed[0].curves["loss"] == result.per_seed[0].curves["loss"]
    assert rebuilt.submission == result.submission and rebuilt.protocol.hash == result.protocol.hash


# ------------------------------------------------------------------ construction


def test_log_construction_once_per_content(store_uri, tmp_path):
    from condensebench.submission.writer import write_submission_yaml

    sub_dir = tmp_path / "rand"
    sub_dir.mkdir()
    (sub_dir / "indices.txt").write_text("0\n1\n")
    import hashlib

    digest = hashlib.sha256((sub_dir / "indices.txt").read_bytes()).hexdigest()
    write_submission_yaml(sub_dir, {
        "id": "rand-ipc1", "kind": "baseline", "method": "random", "dataset": "digits", "ipc": 1,
        "label_regimes": ["hard"], "data": {"format": "indices", "path": "indices.txt"},
        "construction_cost": {"reported_by": "measured", "wall_clock_hours": 0.001, "device": "cpu"},
        "licence": "BSD-3-Clause", "files": [{"path": "indices.txt", "sha256": digest, "size": 4}],
    })
    run_id = tracking.log_construction(None, sub_dir, params={"seed": 0, "features": {"model": "convnet"}})
    client = MlflowClient(store_uri)
    run = client.get_run(run_id)
    assert run.data.tags["cb.role"] == "construction" and run.data.tags["cb.method"] == "random"
    assert run.data.metrics["construction_seconds"] == pytest.approx(3.6)
    assert run.data.params["method.features.model"] == "convnet"
    assert tracking.log_construction(None, sub_dir) == run_id  # same content: reused
    assert tracking.log_construction(None, sub_dir, force=True) != run_id


def test_log_construction_without_a_store_does_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert not tracking.is_configured()
    assert tracking.log_construction(None, tmp_path) is None
    assert not (tmp_path / "mlflow.db").exists()


# ------------------------------------------------------------------ the CLI


@pytest.fixture
def tiny_protocol(tmp_path) -> Path:
    """digits-hard with 3 epochs and 2 seeds: seconds on a CPU."""
    data = yaml.safe_load((REPO / "protocols" / "digits-hard" / "v1.yaml").read_text())
    data.update(epochs=3, seeds=2, schedule={"kind": "multistep", "milestones": [2], "gamma": 0.1, "reset_optimizer": True})
    path = tmp_path / "digits-hard-tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_cli_evaluate_tracks_reuses_and_forces(store_uri, tiny_protocol, digits_random, tmp_path, capsys):
    out = tmp_path / "results"
    args = ["evaluate", str(digits_random), "-p", str(tiny_protocol), "--out", str(out), "-q"]
    assert main(args + ["--seeds", "1"]) == 0
    assert "tracked in MLflow" in capsys.readouterr().out
    client = MlflowClient(store_uri)
    exp = [e for e in client.search_experiments() if e.name.startswith("condensebench/digits-hard@v1~")]
    assert len(exp) == 1  # a local variant: its own experiment
    eid = exp[0].experiment_id
    assert len(runs(client, eid, "seed")) == 1

    assert main(args) == 0  # 2 seeds: seed 0 reused, seed 1 run
    text = capsys.readouterr().out
    assert "seeds [0] already tracked" in text and "(seeds [0] reused)" in text
    [parent] = runs(client, eid, "parent")
    assert len(runs(client, eid, "seed")) == 2
    assert {"submission.yaml", "result.json", "curves.json"} <= {f.path for f in client.list_artifacts(parent.info.run_id)}
    result_file = out / "digits" / "random-ipc10" / "digits-hard@v1.json"
    first = json.loads(result_file.read_text())

    assert main(args) == 0  # everything tracked: nothing trained, same numbers
    assert "reused seeds [0, 1]" in capsys.readouterr().out
    again = json.loads(result_file.read_text())
    assert [s["top1"] for s in again["per_seed"]] == [s["top1"] for s in first["per_seed"]]
    assert len(runs(client, eid, "seed")) == 2

    assert main(args + ["--force"]) == 0
    capsys.readouterr()
    assert len(runs(client, eid, "seed")) == 2 and len(runs(client, eid, "seed", ViewType.DELETED_ONLY)) == 2

    before = len(runs(client, eid, "seed", ViewType.ALL))
    assert main(args + ["--no-track"]) == 0
    assert "not tracked (--no-track)" in capsys.readouterr().out
    assert len(runs(client, eid, "seed", ViewType.ALL)) == before


def test_tracker_refuses_a_deleted_experiment(store_uri):
    client = MlflowClient(store_uri)
    tracking.log_evaluation(fake_result("del-ipc10", [80.0, 81.0, 82.0]))
    client.delete_experiment(experiment(client).experiment_id)
    with pytest.raises(CondenseBenchError, match="is deleted"):
        tracking.log_evaluation(fake_result("del-ipc10", [80.0, 81.0, 82.0]))


# ------------------------------------------------------------------ a real server


@pytest.mark.slow
def test_log_to_a_real_mlflow_server(mlflow_server, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    result = fake_result("server-ipc10", [80.0, 82.0, 81.0])
    parent_id = tracking.log_evaluation(result)
    client = MlflowClient(mlflow_server)
    parent, children = check_hierarchy(client, parent_id, 3)
    assert parent.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    local = client.download_artifacts(parent_id, "result.json", str(tmp_path))
    assert json.loads(Path(local).read_text())["top1_mean"] == pytest.approx(81.0)
    assert tracking.log_evaluation(fake_result("server-ipc10", [1.0, 2.0, 3.0])) == parent_id  # dedup via REST
    assert len(client.search_runs([parent.info.experiment_id], "tags.`cb.role` = 'seed'")) == 3
    session = Tracker().evaluation(EntryContext.from_result(result))
    assert session.reconstruct([0, 1, 2]).top1_mean == pytest.approx(81.0)


def test_an_unreachable_server_is_one_clear_error(monkeypatch):
    from tests.tracking_fixtures import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(CondenseBenchError, match="cannot reach the MLflow tracking server"):
        Tracker()


def test_nothing_is_written_when_an_evaluation_fails_before_its_first_seed(store_uri, digits_random, tmp_path,
                                                                            monkeypatch, capsys):
    from condensebench.cli import evaluate_cmd

    assert main(["evaluate", str(digits_random), "-p", "cda", "--out", str(tmp_path)]) == 2  # incompatible
    assert "applies to" in capsys.readouterr().err

    def boom(*args, **kwargs):
        raise CondenseBenchError("the dataset is missing")

    monkeypatch.setattr(evaluate_cmd, "evaluate", boom)
    assert main(["evaluate", str(digits_random), "-p", "digits-hard", "--out", str(tmp_path)]) == 2
    client = MlflowClient(store_uri)
    assert [e.name for e in client.search_experiments()] == ["Default"]  # no experiment, no FAILED parent
