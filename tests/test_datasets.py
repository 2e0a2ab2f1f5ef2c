"""Dataset cards, the frozen digits split, fingerprints, missing data, archives."""
from __future__ import annotations

import io
import tarfile

import pytest
import torch

from condensebench.datasets import list_cards, load_card, load_split, load_test_split
from condensebench.datasets.card import DatasetCard
from condensebench.datasets.prepare import prepare_from_archive
from condensebench.errors import CondenseBenchError, DataMissingError


@pytest.mark.parametrize("name", sorted(list_cards()))
def test_every_card_validates(name):
    card = load_card(name)
    assert card.num_classes == len(card.classes)
    assert len(card.mean) == card.channels


def test_required_cards_exist():
    assert {"digits", "cifar10", "cifar100", "cifar10-jpeg", "tinyimagenet", "imagenette",
            "imagenet100", "imagenet1k"} <= set(list_cards())


def test_digits_split_is_frozen_and_matches_its_fingerprint():
    card = load_card("digits")
    test = load_test_split(card)
    train = load_split(card, "train")
    assert test.images.shape == (450, 1, 8, 8) and test.images.dtype == torch.uint8
    assert train.images.shape == (1347, 1, 8, 8)
    assert test.fingerprint == card.test_fingerprint
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 46  # stratified
    assert int(test.images.max()) == 255


def test_changed_test_split_is_refused():
    card = load_card("digits")
    forged = card.model_copy(update={"test_fingerprint": "0" * 64})
    with pytest.raises(CondenseBenchError, match="fingerprint"):
        load_test_split(forged)


def test_missing_data_says_what_to_put_where(tmp_path):
    card = load_card("cifar10-jpeg")
    with pytest.raises(DataMissingError) as err:
        load_test_split(card, tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar10-jpeg" / "test") in msg and "datasets prepare" in msg
    cifar = load_card("cifar10")
    with pytest.raises(DataMissingError, match="download=True"):
        load_test_split(cifar, tmp_path)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_prepare_refuses_path_traversal_and_writes_nothing(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    _tar(archive, [("train/a.jpg", b"x"), ("../../escape.txt", b"owned")])
    root = tmp_path / "root"
    with pytest.raises(CondenseBenchError, match="unsafe member"):
        prepare_from_archive(load_card("cifar10-jpeg"), archive, root, quiet=True)
    assert not root.exists() and not (tmp_path.parent / "escape.txt").exists()


def test_image_folder_round_trip_with_a_tiny_tree(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    card = DatasetCard.model_validate({
        **load_card("cifar10-jpeg").model_dump(), "name": "tiny", "classes": ["a", "b"],
        "train_size": 4, "test_size": 4, "test_fingerprint": None,
        "source": {"kind": "image_folder", "dir": "tiny"},
    })
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in ("a", "b"):
            d = tmp_path / "tiny" / split / c
            d.mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(d / f"{i}.png")
    first = load_test_split(card, tmp_path, quiet=True)
    again = load_test_split(card, tmp_path, quiet=True)  # from the cache
    assert first.images.shape == (4, 3, 32, 32)
    assert first.labels.tolist() == [0, 0, 1, 1]
    assert torch.equal(first.images, again.images) and first.fingerprint == again.fingerprint
