"""The canonical submission format: every data format loads to the same pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from condensebench.errors import CondenseBenchError, SchemaError
from condensebench.submission import load_submission

from .helpers import digits_subset, make_png_submission, make_tensor_submission


def test_shipped_example_loads(digits_random):
    cset = load_submission(digits_random)
    assert cset.images.shape == (100, 1, 8, 8)
    assert torch.bincount(cset.labels).tolist() == [10] * 10
    assert 0.0 <= float(cset.images.min()) and float(cset.images.max()) <= 1.0
    assert cset.submission.kind == "baseline" and len(cset.content_hash) == 64


@pytest.mark.parametrize("fmt", ["safetensors", "npz"])
def test_tensor_formats_and_png_give_identical_pixels(tmp_path, fmt):
    idx, images, labels = digits_subset(ipc=5)
    a = load_submission(make_tensor_submission(tmp_path / "t", images, labels, fmt=fmt))
    b = load_submission(make_png_submission(tmp_path / "p", images, labels))
    order_a, order_b = torch.argsort(a.labels, stable=True), torch.argsort(b.labels, stable=True)
    assert torch.equal(a.images[order_a], b.images[order_b])
    assert a.storage_bytes > 0 and b.storage_bytes > 0


def test_normalized_space_is_not_normalised_twice(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    mean, std = 0.3, 0.4
    normalised = ((images.astype(np.float32) / 255.0) - mean) / std
    space = {"kind": "normalized", "mean": [mean], "std": [std]}
    a = load_submission(make_tensor_submission(tmp_path / "n", normalised, labels, pixel_space=space))
    b = load_submission(make_tensor_submission(tmp_path / "u", images, labels))
    assert torch.allclose(a.images, b.images, atol=1e-6)


def test_soft_labels_load_as_logits(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    soft = np.random.default_rng(0).normal(size=(50, 10)).astype(np.float32)
    cset = load_submission(make_tensor_submission(tmp_path / "s", images, labels, soft_labels=soft))
    assert cset.soft_labels.shape == (50, 10)
    assert torch.allclose(cset.soft_labels, torch.from_numpy(soft))


def test_wrong_checksum_is_refused_naming_the_file(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(tmp_path / "c", images, labels)
    data = d / "data.safetensors"
    blob = bytearray(data.read_bytes())
    blob[-1] ^= 0xFF
    data.write_bytes(bytes(blob))
    with pytest.raises(CondenseBenchError, match=r"files\[0\] data.safetensors: sha256"):
        load_submission(d)


def test_class_imbalance_is_refused(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    labels = labels.copy()
    labels[0] = (labels[0] + 1) % 10
    with pytest.raises(CondenseBenchError, match="class-balanced"):
        load_submission(make_tensor_submission(tmp_path / "b", images, labels))


def test_schema_error_names_file_and_field(tmp_path, digits_random):
    d = tmp_path / "sub"
    d.mkdir()
    (d / "indices.txt").write_text((digits_random / "indices.txt").read_text())
    text = (digits_random / "submission.yaml").read_text().replace("ipc: 10", "ipc: ten")
    (d / "submission.yaml").write_text(text)
    with pytest.raises(SchemaError) as err:
        load_submission(d)
    assert "submission.yaml" in str(err.value) and "ipc" in str(err.value)


def test_pickle_files_are_refused(tmp_path):
    _, images, labels = digits_subset(ipc=5)
    d = make_tensor_submission(tmp_path / "pk", images, labels)
    text = (d / "submission.yaml").read_text().replace("data.safetensors", "data.pt")
    (d / "data.safetensors").rename(d / "data.pt")
    (d / "submission.yaml").write_text(text)
    with pytest.raises(CondenseBenchError, match="condensebench import"):
        load_submission(d)
