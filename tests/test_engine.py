"""The training engine end to end on digits: learning, determinism, regimes, CLI."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from condensebench.protocol import load_protocol_file
from condensebench.runner.evaluation import evaluate

from .conftest import REPO, write_protocol
from .helpers import digits_subset, make_tensor_submission


def test_a_short_run_learns_digits(short_protocol, digits_random):
    result = evaluate(digits_random, load_protocol_file(short_protocol), seeds=[0], quiet=True)
    seed = result.per_seed[0]
    assert seed.top1 > 70.0, seed.top1  # chance is 10 %
    assert len(seed.curves["loss"]) == 31  # 30 epochs + DC's final pass
    assert seed.curves["loss"][-1] < seed.curves["loss"][0]
    assert seed.curves["lr"][0] == pytest.approx(0.01) and seed.curves["lr"][-1] == pytest.approx(0.001)
    assert result.dataset["test_size"] == 450


def test_same_seed_twice_gives_identical_accuracy(short_protocol, digits_random):
    proto = load_protocol_file(short_protocol)
    a = evaluate(digits_random, proto, seeds=[3], quiet=True)
    b = evaluate(digits_random, proto, seeds=[3], quiet=True)
    assert a.per_seed[0].top1 == b.per_seed[0].top1
    assert a.per_seed[0].curves["loss"] == b.per_seed[0].curves["loss"]


def test_different_seeds_train_different_students(short_protocol, digits_random):
    result = evaluate(digits_random, load_protocol_file(short_protocol), seeds=[0, 1], quiet=True)
    assert result.per_seed[0].curves["loss"] != result.per_seed[1].curves["loss"]
    assert result.top1_std >= 0.0 and len(result.per_seed) == 2


def test_kd_regime_with_the_pinned_teacher(tmp_path, digits_random):
    proto = load_protocol_file(write_protocol(tmp_path, "digits-kd", epochs=40))
    result = evaluate(digits_random, proto, seeds=[0], quiet=True)
    assert result.protocol.label_regime == "kd"
    assert result.per_seed[0].top1 > 50.0


def test_soft_regime_uses_the_stored_soft_labels(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    # soft labels that point at the true class: the student must learn from them
    logits = np.full((50, 10), -2.0, dtype=np.float32)
    logits[np.arange(50), labels] = 4.0
    sub = make_tensor_submission(tmp_path / "s", images, labels, soft_labels=logits)
    kd = (REPO / "protocols" / "digits-kd" / "v1.yaml").read_text()
    import yaml

    data = yaml.safe_load(kd)
    data.update(name="digits-soft-test", label_regime="soft", teacher=None, epochs=20)
    path = tmp_path / "soft.yaml"
    path.write_text(yaml.safe_dump(data))
    result = evaluate(sub, load_protocol_file(path), seeds=[0], quiet=True)
    assert result.per_seed[0].top1 > 50.0


def test_ema_and_mixup_run(tmp_path, digits_random):
    path = write_protocol(tmp_path, "digits-kd", epochs=10, ema={"decay": 0.9}, mix={"kind": "mixup", "alpha": 0.8})
    result = evaluate(digits_random, load_protocol_file(path), seeds=[0], quiet=True)
    assert 0.0 <= result.per_seed[0].top1 <= 100.0


def cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "condensebench", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_writes_a_result_json(tmp_path, short_protocol, digits_random):
    out = cli("evaluate", str(digits_random), "-p", str(short_protocol), "--seeds", "2", "--out", str(tmp_path), "-q")
    assert out.returncode == 0, out.stderr
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 1
    result = json.loads(files[0].read_text())
    assert result["seeds"] == [0, 1] and len(result["per_seed"]) == 2
    assert len(result["protocol"]["hash"]) == 64 and len(result["submission"]["content_hash"]) == 64
    assert result["environment"]["torch"].startswith("2.14.1")
    assert "mean" in out.stdout and "+-" in out.stdout
    accs = [s["top1"] for s in result["per_seed"]]
    assert result["top1_mean"] == pytest.approx(sum(accs) / 2)


@pytest.mark.parametrize("args, message", [
    (["evaluate", "nowhere", "-p", "digits-hard"], "no submission.yaml"),
    (["evaluate", "submissions/digits/random-ipc10", "-p", "nope"], "unknown protocol"),
    (["evaluate", "submissions/digits/random-ipc10", "-p", "cda"], "applies to"),
    (["evaluate", "submissions/digits/random-ipc10", "-p", "digits-hard", "--device", "cuda"], "cuda"),
    (["evaluate", "submissions/digits/random-ipc10", "-p", "digits-hard", "--seeds", "0"], "--seeds"),
])
def test_cli_bad_input_gives_one_message_and_exit_2(args, message, tmp_path):
    out = cli(*args, "--out", str(tmp_path))
    if message == "cuda" and out.returncode == 0:
        pytest.skip("a GPU is present")
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr
    assert "Traceback" not in out.stderr
