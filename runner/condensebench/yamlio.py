"""Safe YAML loading and schema validation with errors that name the file and field."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from .errors import SchemaError

M = TypeVar("M", bound=BaseModel)

MAX_YAML_BYTES = 256 * 1024  # a submission or protocol file is a few KiB
MAX_YAML_NODES = 20_000  # alias bombs expand to millions of nodes


class _LimitedSafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's parser when available) that counts constructed nodes, so an
    alias bomb fails fast."""

    def __init__(self, stream, max_nodes: int | None = None):
        super().__init__(stream)
        self._nodes = 0
        self._max_nodes = max_nodes or MAX_YAML_NODES

    def construct_object(self, node, deep=False):
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise yaml.YAMLError(f"more than {self._max_nodes} YAML nodes (alias bomb?)")
        return super().construct_object(node, deep=deep)


def _count_expanded(node, seen_budget: list[int], limit: int | None = None) -> None:
    # Walk the composed graph following aliases: an alias bomb has few textual
    # nodes but an exponential expansion, which this budget catches before construction.
    seen_budget[0] -= 1
    if seen_budget[0] < 0:
        raise yaml.YAMLError(f"the document expands to more than {limit or MAX_YAML_NODES} nodes (alias bomb?)")
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _count_expanded(child, seen_budget, limit)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _count_expanded(key, seen_budget, limit)
            _count_expanded(value, seen_budget, limit)


def read_yaml(path: str | Path, *, max_bytes: int | None = None, max_nodes: int | None = None) -> object:
    """Safe-load a YAML file with a size limit and a node budget (defaults: MAX_YAML_BYTES,
    MAX_YAML_NODES; a submission.yaml listing thousands of files passes larger ones)."""
    path = Path(path)
    max_bytes = max_bytes or MAX_YAML_BYTES
    try:
        if path.is_symlink():
            raise SchemaError(path, ["is a symbolic link; YAML files must be regular files"])
        size = path.stat().st_size
        if size > max_bytes:
            raise SchemaError(path, [f"is {size} bytes; the limit is {max_bytes}"])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(path, ["file not found"]) from None
    except UnicodeDecodeError as exc:
        raise SchemaError(path, [f"is not UTF-8 text ({exc.reason})"]) from None
    return parse_yaml(text, path, max_nodes=max_nodes)


def parse_yaml(text: str, path: str | Path = "<string>", *, max_nodes: int | None = None) -> object:
    max_nodes = max_nodes or MAX_YAML_NODES
    try:
        loader = _LimitedSafeLoader(text, max_nodes)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _count_expanded(node, [max_nodes], max_nodes)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise SchemaError(path, [f"not valid YAML: {exc}"]) from None


def format_validation_error(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        problems.append(f"{loc}: {err['msg']}")
    return problems


def validate(model: type[M], data: object, path: str | Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SchemaError(path, format_validation_error(exc)) from None


def load_model(model: type[M], path: str | Path, *, max_bytes: int | None = None, max_nodes: int | None = None) -> M:
    return validate(model, read_yaml(path, max_bytes=max_bytes, max_nodes=max_nodes), path)
