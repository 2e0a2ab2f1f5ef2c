"""`condensebench validate`: every problem at once, each naming the file and field."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from condensebench.cli import main
from condensebench.datasets import load_card, load_split, load_test_split
from condensebench.submission.leakage import THRESHOLD, find_near_duplicates
from condensebench.submission.validate import validate_submission
from condensebench.submission.writer import write_submission_yaml

from .conftest import REPO
from .helpers import digits_subset, make_png_submission, make_tensor_submission, meta


def errors_about(report, text: str) -> list:
    return [p for p in report.errors if text in str(p)]


def test_valid_png_and_tensor_submissions_pass(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    png = validate_submission(make_png_submission(tmp_path / "p", images, labels))
    assert png.ok, png.summary()
    assert png.n_images == 50 and png.format == "png_folder"
    pngs = sum(f.stat().st_size for f in (tmp_path / "p" / "images").rglob("*.png"))
    assert png.storage_bytes == pngs == png.storage["images"]
    assert png.leakage["checked"] and png.leakage["test_images"] == 450 and png.leakage["matches"] == []

    st = validate_submission(make_tensor_submission(tmp_path / "t", images, labels))
    assert st.ok, st.summary()
    assert st.storage_bytes == (tmp_path / "t" / "data.safetensors").stat().st_size


def test_shipped_submissions_are_valid():
    for yaml_path in sorted((REPO / "submissions").glob("digits/*/submission.yaml")):
        report = validate_submission(yaml_path.parent)
        assert report.ok, report.summary()


def test_soft_labels_are_checked_and_counted(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    soft = np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32)
    good = validate_submission(make_tensor_submission(tmp_path / "s", images, labels, soft_labels=soft))
    assert good.ok, good.summary()
    assert good.storage["soft_labels"] == 50 * 10 * 4
    assert good.storage_bytes == (tmp_path / "s" / "data.safetensors").stat().st_size

    bad = soft[:, :9].copy()
    bad[3, 2] = np.nan
    wrong = validate_submission(make_tensor_submission(tmp_path / "w", images, labels, soft_labels=bad))
    assert errors_about(wrong, "soft_labels: must be (N, classes) = [50, 10], got [50, 9]"), wrong.summary()

    nan = soft.copy()
    nan[4, 1] = np.inf
    report = validate_submission(make_tensor_submission(tmp_path / "n", images, labels, soft_labels=nan))
    assert errors_about(report, "NaN or Inf in rows [4]"), report.summary()


def test_every_problem_is_reported_at_once(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    labels = labels.copy()
    labels[0] = (labels[0] + 1) % 10  # imbalance
    d = make_tensor_submission(tmp_path / "many", images, labels)
    (d / "README.txt").write_text("unlisted")  # unlisted file
    text = (d / "submission.yaml").read_text().replace("method: test", "method: 'FILL-IN: method'")
    (d / "submission.yaml").write_text(text)
    blob = bytearray((d / "data.safetensors").read_bytes())  # checksum mismatch (last byte of pixel data)
    blob[-1] ^= 1
    (d / "data.safetensors").write_bytes(bytes(blob))

    report = validate_submission(d)
    messages = "\n".join(map(str, report.problems))
    assert "README.txt: is not listed" in messages
    assert "data.safetensors: files[0].sha256: sha256" in messages
    assert "data.safetensors: labels: not class-balanced" in messages
    assert "WARNING submission.yaml: method: unfinished placeholder" in messages
    assert len(report.errors) == 3 and len(report.warnings) == 1

    strict = validate_submission(d, strict=True)
    assert len(strict.errors) == 4


def test_cli_json_report_and_out_folder(tmp_path, capsys):
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(tmp_path / "j", images, labels)
    (d / "stray.bin").write_bytes(b"\x00")
    out = tmp_path / "reports"
    code = main(["validate", str(d), "--json", "--out", str(out)])
    assert code == 1
    reports = json.loads(capsys.readouterr().out)
    assert reports[0]["ok"] is False and reports[0]["n_errors"] == 1
    problem = reports[0]["problems"][0]
    assert problem["file"] == "stray.bin" and problem["severity"] == "error"
    assert [p.name for p in out.iterdir()] == ["digits__test-set.validation.json"]
    (d / "stray.bin").unlink()
    assert main(["validate", str(d), "--no-leakage"]) == 0


def test_unknown_dataset_and_schema_errors_name_the_field(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(tmp_path / "u", images, labels)
    text = (d / "submission.yaml").read_text()
    (d / "submission.yaml").write_text(text.replace("dataset: digits", "dataset: digitz"))
    report = validate_submission(d)
    assert errors_about(report, "submission.yaml: dataset: unknown dataset 'digitz'. Did you mean: digits?")
    (d / "submission.yaml").write_text(text.replace("ipc: 5", "ipc: five").replace("kind: distilled", "kind: magic"))
    report = validate_submission(d)
    assert errors_about(report, "submission.yaml: ipc:") and errors_about(report, "submission.yaml: kind:")
    # the files are still checked when the schema is not valid
    assert not errors_about(report, "sha256")


@pytest.mark.parametrize("case", ["uint8-out-of-range", "implausible-normalised", "uint8-as-normalized"])
def test_pixel_space_plausibility(tmp_path, case):
    _, images, labels = digits_subset(ipc=5)
    unit = images.astype(np.float32) / 255.0
    if case == "uint8-out-of-range":
        d = make_tensor_submission(tmp_path / case, unit * 255.0, labels)
        phrase = "look like 0..255 values"
    elif case == "implausible-normalised":
        space = {"kind": "normalized", "mean": [0.0], "std": [10.0]}  # de-normalises to [-5, 10]-ish
        d = make_tensor_submission(tmp_path / case, (unit - 0.3) / 0.4, labels, pixel_space=space)
        phrase = "lie in [0, 1]"
    else:
        d = make_tensor_submission(tmp_path / case, images, labels,
                                   pixel_space={"kind": "normalized", "mean": [0.3], "std": [0.4]})
        phrase = "uint8 images declared as pixel space 'normalized'"
    report = validate_submission(d)
    assert any(phrase in p.message and p.field.startswith("data.pixel_space") for p in report.errors), report.summary()


def test_normalised_set_is_plausible(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    x = ((images.astype(np.float32) / 255.0) - 0.3) / 0.4
    d = make_tensor_submission(tmp_path / "n", x, labels, pixel_space={"kind": "normalized", "mean": [0.3], "std": [0.4]})
    report = validate_submission(d)
    assert report.ok and not report.warnings, report.summary()


def _coreset(tmp_path, idx, ipc=10):
    d = tmp_path / "c"
    d.mkdir(exist_ok=True)
    (d / "indices.txt").write_text("".join(f"{int(i)}\n" for i in idx))
    write_submission_yaml(d, meta("core", {"format": "indices", "path": "indices.txt"}, ipc, kind="coreset"))
    return d


def test_coreset_indices_checks(tmp_path):
    idx, _, _ = digits_subset(ipc=10, seed=1)  # seed 0 is the shipped random-ipc10: an exact copy
    assert validate_submission(_coreset(tmp_path, idx)).ok
    bad = idx.copy()
    bad[1] = bad[0]  # a repeat (and so one class short)
    bad[2] = 99_999  # out of range
    report = validate_submission(_coreset(tmp_path, bad))
    text = report.summary()
    assert "indices repeat" in text and "out of range at lines [3]" in text and "not class-balanced" in text


def test_exact_copy_of_an_existing_submission_is_flagged(tmp_path, digits_random):
    copy = tmp_path / "copy"
    shutil.copytree(digits_random, copy)
    report = validate_submission(copy, submissions_root=REPO / "submissions")
    assert report.duplicates_of == ["digits/random-ipc10"]
    assert errors_about(report, "an exact copy of the existing submission digits/random-ipc10")
    # the original itself is not its own copy
    assert validate_submission(digits_random, submissions_root=REPO / "submissions").ok


def test_files_listed_twice_absolute_and_noncanonical_paths(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(tmp_path / "p", images, labels)
    text = (d / "submission.yaml").read_text()
    (d / "submission.yaml").write_text(text.replace("- path: data.safetensors", "- path: /etc/passwd"))
    report = validate_submission(d)
    assert errors_about(report, "files[0].path: '/etc/passwd' must be a relative path"), report.summary()
    (d / "submission.yaml").write_text(text.replace("- path: data.safetensors", "- path: ./data.safetensors"))
    report = validate_submission(d)
    assert errors_about(report, "not in canonical form"), report.summary()


# ----------------------------------------------------------------- leakage


def test_leakage_finds_perturbed_and_mirrored_test_images_on_digits():
    test = load_test_split(load_card("digits"))
    x = test.images[:60].float() / 255.0
    g = torch.Generator().manual_seed(0)
    variants = torch.cat([
        (x[:15] + 0.02 * torch.randn(x[:15].shape, generator=g)).clamp(0, 1),  # light noise
        (x[15:30] + 0.1).clamp(0, 1),  # brighter
        x[30:45].flip(-1),  # mirrored
        0.5 + 0.8 * (x[45:60] - 0.5),  # lower contrast
    ])
    matches = find_near_duplicates(variants, test.images)
    assert [m.index for m in matches] == list(range(60))
    assert all(m.test_index == m.index for m in matches)
    assert all(m.flipped == (30 <= m.index < 45) for m in matches)


def test_leakage_does_not_flag_distinct_digits():
    card = load_card("digits")
    train = load_split(card, "train")
    matches = find_near_duplicates(train.images, load_test_split(card).images)
    assert matches == [], [(m.index, m.test_index, m.distance) for m in matches]


def test_leakage_search_is_exact_against_brute_force():
    """The folded block-average pre-filter never drops a pair within the threshold."""
    from condensebench.submission.leakage import normalise

    g = torch.Generator().manual_seed(1)
    base = torch.rand(200, 3, 12, 12, generator=g)
    smooth = torch.nn.functional.avg_pool2d(base, 3, 1, 1)
    queries = (smooth[:100] + 0.03 * torch.randn(100, 3, 12, 12, generator=g)).clamp(0, 1)
    matches = {m.index: m for m in find_near_duplicates(queries, smooth, threshold=0.25)}
    a, b = normalise(queries).reshape(100, -1), normalise(smooth).reshape(200, -1)
    for flip in (False, True):
        bb = normalise(smooth.flip(-1)).reshape(200, -1) if flip else b
        d = torch.cdist(a, bb) / a.shape[1] ** 0.5
        for i, j in (d <= 0.25).nonzero().tolist():
            assert i in matches and matches[i].distance <= d[i, j] + 1e-5


@pytest.mark.slow
def test_leakage_on_real_cifar10(cifar10_jpeg_root):
    """Calibration on real data: random train images are (almost) never flagged; copied test
    images are, after JPEG re-encoding, noise, brightness change or mirroring."""
    import io

    from PIL import Image

    card = load_card("cifar10-jpeg")
    test = load_test_split(card, cifar10_jpeg_root, quiet=True)
    train = load_split(card, "train", cifar10_jpeg_root, quiet=True)
    sel = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(0))[:5000]
    flagged = find_near_duplicates(train.images[sel], test.images)
    assert len(flagged) <= 3  # CIFAR-10 has a few genuine train/test near-duplicates (ciFAIR)

    def jpeg(img):
        buf = io.BytesIO()
        Image.fromarray(img.numpy().transpose(1, 2, 0)).save(buf, "JPEG", quality=75)
        return torch.from_numpy(np.asarray(Image.open(buf)).transpose(2, 0, 1).copy())

    x = test.images[:200]
    variants = torch.cat([
        torch.stack([jpeg(i) for i in x[:50]]).float() / 255,
        (x[50:100].float() / 255 + 0.015 * torch.randn(50, 3, 32, 32)).clamp(0, 1),
        (x[100:150].float() / 255 + 0.08).clamp(0, 1),
        x[150:200].flip(-1).float() / 255,
    ])
    found = {m.index for m in find_near_duplicates(variants, test.images) if m.test_index == m.index}
    assert len(found) >= 190, sorted(set(range(200)) - found)
    assert THRESHOLD == 0.1
