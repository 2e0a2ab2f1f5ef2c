"""Protocol files: schema, frozen versions, hashes, and the literature's values."""
from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest

from condensebench.errors import CondenseBenchError, SchemaError
from condensebench.protocol import Protocol, list_protocols, load_protocol, load_protocol_file, protocol_hash
from condensebench.protocol.store import compute_lock, lock_path
from condensebench.yamlio import validate

from .conftest import REPO

SHIPPED = sorted(list_protocols())


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "condensebench", *args], capture_output=True, text=True, cwd=REPO)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_protocol_validates_and_cites_sources(name):
    proto = load_protocol(name)
    assert proto.name == name
    assert proto.sources and all(s.ref for s in proto.sources)
    assert proto.evaluation.report == "final_epoch"


def test_the_required_protocols_are_shipped():
    required = {"dc-convnet", "dsa-convnet", "deepcore-resnet18", "sre2l", "cda", "cda-hard", "rded",
                "edc", "gvbsm", "hl-sgd", "digits-hard", "digits-kd"}
    assert required <= set(SHIPPED)


def test_lock_file_matches_every_released_version():
    recorded = json.loads(lock_path().read_text())
    assert recorded == compute_lock(), "a released protocol was edited: add a new version instead"


def test_cda_values_through_the_cli():
    out = run_cli("protocols", "show", "cda", "--json")
    assert out.returncode == 0, out.stderr
    cda = json.loads(out.stdout)
    assert cda["batch_size"] == 128
    assert cda["epochs"] == 300
    assert cda["optimizer"]["kind"] == "adamw" and cda["optimizer"]["lr"] == 0.001
    assert cda["loss"]["kind"] == "kl" and cda["loss"]["temperature"] == 20
    assert cda["teacher"]["members"][0]["model"]["arch"] == "resnet18"
    assert len(cda["hash"]) == 64


def test_dc_convnet_values_through_the_cli():
    dc = json.loads(run_cli("protocols", "show", "dc-convnet", "--json").stdout)
    opt = dc["optimizer"]
    assert (opt["kind"], opt["lr"], opt["momentum"], opt["weight_decay"]) == ("sgd", 0.01, 0.9, 0.0005)
    assert dc["batch_size"] == 256
    assert dc["model"] == {**dc["model"], "arch": "convnet", "width": 128, "depth": 3}
    assert dc["epochs"] == 300 and dc["augmentations"] == []


def _leaf_paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaf_paths(v, prefix + (k,))
    elif isinstance(obj, list) and obj and not all(isinstance(v, (int, float, str)) for v in obj):
        for i, v in enumerate(obj):
            yield from _leaf_paths(v, prefix + (i,))
    else:
        yield prefix, obj


def _changed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.5 if value else 0.5
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return value[:-1] if value else [1]
    return None


@pytest.mark.parametrize("name", ["cda", "dc-convnet", "digits-kd", "rded"])
def test_hash_changes_when_any_value_changes(name):
    proto = load_protocol(name)
    base = proto.model_dump(mode="json")
    h0 = protocol_hash(proto)
    checked = 0
    for path, value in _leaf_paths(base):
        new = _changed(value)
        if new is None:
            continue
        data = copy.deepcopy(base)
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = new
        try:
            variant = Protocol.model_validate(data)
        except Exception:
            continue  # a value the schema refuses cannot become a protocol at all
        assert protocol_hash(variant) != h0, f"changing {'.'.join(map(str, path))} kept the hash"
        checked += 1
    assert checked >= 15


def test_same_content_same_hash():
    a = load_protocol("cda")
    b = Protocol.model_validate(a.model_dump(mode="json"))
    assert protocol_hash(a) == protocol_hash(b)


def test_schema_errors_name_the_file_and_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = (REPO / "protocols" / "digits-kd" / "v1.yaml").read_text()
    bad.write_text(text.replace("kind: cutmix", "kind: cutMix").replace("epochs: 300", "epochs: 300\nepochz: 3"))
    with pytest.raises(SchemaError) as err:
        load_protocol_file(bad)
    msg = str(err.value)
    assert str(bad) in msg
    assert "mix" in msg and "cutMix" in msg
    assert "epochz" in msg


def test_kd_protocol_without_teacher_is_refused():
    data = load_protocol("digits-kd").model_dump(mode="json")
    data["teacher"] = None
    with pytest.raises(SchemaError, match="teacher"):
        validate(Protocol, data, "x.yaml")


def test_unknown_protocol_suggests_names():
    with pytest.raises(CondenseBenchError, match="Did you mean: cda"):
        load_protocol("cdaa")


def test_cli_lists_protocols_and_refuses_unknown_ones():
    out = run_cli("protocols", "list")
    assert out.returncode == 0 and "cda@1" in out.stdout and "digits-hard@1" in out.stdout
    bad = run_cli("protocols", "show", "nope")
    assert bad.returncode == 2 and "unknown protocol" in bad.stderr and "Traceback" not in bad.stderr


def test_batch_size_by_ipc_lookup():
    rded = load_protocol("rded")
    assert rded.batch_size_for(10, 1000, 10_000) == 100  # 50 x 2 for 1000 classes
    assert rded.batch_size_for(1, 10, 10) == 10
    hl = load_protocol("hl-sgd")
    assert hl.batch_size_for(50, 1000, 50_000) == 128
