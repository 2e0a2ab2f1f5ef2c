"""Where results are tracked, how experiments are named, and the low-level MLflow calls.

Everything goes through `mlflow.MlflowClient` with explicit experiment ids: no
fluent `mlflow.start_run` state, no search by experiment name (which only warns
when the name is unknown and returns nothing).
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

from ..errors import CondenseBenchError

EXPERIMENT_PREFIX = "condensebench/"
CONSTRUCTION_EXPERIMENT = "condensebench/construction"
DEFAULT_DB = "mlflow.db"          # the embedded store: ./mlflow.db ...
DEFAULT_ARTIFACTS = "mlruns"      # ... with its artifacts under ./mlruns/

# Tags: everything that is filtered on. Metrics: everything that is sorted on.
ROLE = "cb.role"                  # parent | seed | construction
SUBMISSION = "cb.submission"      # the submission id
SUBMISSION_HASH = "cb.submission_hash"
PROTOCOL = "cb.protocol"
PROTOCOL_VERSION = "cb.protocol_version"
PROTOCOL_HASH = "cb.protocol_hash"
PROTOCOL_RELEASED = "cb.protocol_released"
SEED = "cb.seed"
SEEDS_REQUIRED = "cb.seeds_required"
SEED_RUNS = "cb.seed_runs"        # on the parent: JSON list of the children's final numbers and run ids
PARENT = "mlflow.parentRunId"
RUN_NAME = "mlflow.runName"

_HEX = re.compile(r"^[0-9a-f]{8,64}$")
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.@:/+-]{1,250}$")


def tracking_uri(explicit: str | None = None) -> str:
    """`explicit`, else $MLFLOW_TRACKING_URI, else the embedded SQLite store ./mlflow.db."""
    if explicit:
        return explicit
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return f"sqlite:///{(Path.cwd() / DEFAULT_DB).resolve().as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` URI, None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri[len("sqlite:///"):].split("?", 1)[0]
    return Path(rest) if rest.startswith("/") else Path.cwd() / rest


def display_uri(uri: str) -> str:
    """The URI without a password (for messages and the published site)."""
    parts = urlsplit(uri)
    if parts.password:
        netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return uri


def ui_base(uri: str) -> str | None:
    """The web UI of a tracking server (http/https URIs), for links to runs."""
    if uri.startswith(("http://", "https://")):
        parts = urlsplit(uri)
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "") if parts.hostname else parts.netloc
        return urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
    return None


def check_server(uri: str, timeout: float = 10.0) -> None:
    """A tracking server must answer before anything is logged: MLflow's own client would
    retry a dead server for minutes before failing."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answered (authentication and proxies may guard /health)
    except (OSError, ValueError) as exc:
        raise CondenseBenchError(
            f"cannot reach the MLflow tracking server {display_uri(uri)} ({exc}): start it (`make mlflow-server`), "
            "unset MLFLOW_TRACKING_URI to use the embedded ./mlflow.db, or pass --no-track"
        ) from exc


def open_client(uri: str | None = None, *, must_exist: bool = False):
    """An `MlflowClient` for the store; `must_exist` refuses to create an empty SQLite file."""
    uri = tracking_uri(uri)
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    db = sqlite_path(uri)
    if db is not None:
        if must_exist and not db.is_file():
            raise CondenseBenchError(
                f"no tracking store at {db}: run `condensebench evaluate` (or `make evaluate`) first, "
                "or point MLFLOW_TRACKING_URI at the store that holds the results"
            )
        db.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no tqdm bars in our output
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri if db is not None else None)


def quote(value: str) -> str:
    """A value for a `search_runs` filter string. Only plain ids and hashes are searched on."""
    value = str(value)
    if not _SAFE_VALUE.match(value):
        raise ValueError(f"refusing to search on {value!r}: not a plain id or hash")
    return f"'{value}'"


def check_hash(value: str, what: str) -> str:
    if not _HEX.match(value or ""):
        raise CondenseBenchError(f"{what} {value!r} is not a hex digest")
    return value


def tag_filter(**tags: str) -> str:
    """`tags.`cb.role` = 'parent' AND ...` from keyword pairs (key underscores kept)."""
    return " AND ".join(f"tags.`{k}` = {quote(v)}" for k, v in tags.items())


def search_all(client, experiment_ids: list[str], filter_string: str, *, page_size: int = 5000,
               order_by: list[str] | None = None) -> Iterator:
    """Every active run matching the filter, page by page (Run objects, never a DataFrame)."""
    from mlflow.entities import ViewType

    if not experiment_ids:
        return
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string, run_view_type=ViewType.ACTIVE_ONLY,
                                  max_results=page_size, order_by=order_by, page_token=token)
        yield from page
        token = page.token
        if not token:
            break


def artifact_location_for(uri: str, experiment_name: str) -> str | None:
    """For SQLite stores, artifacts live beside the database (`<dir>/mlruns/...`), not in
    whatever the working directory is; servers and other databases decide for themselves."""
    db = sqlite_path(uri)
    if db is None:
        return None
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", experiment_name).strip("-")
    return (db.resolve().parent / DEFAULT_ARTIFACTS / slug).as_uri()


def get_or_create_experiment(client, uri: str, name: str, tags: dict[str, str]) -> str:
    """The id of the named experiment, created with `tags` when missing."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location_for(uri, name), tags=tags)
        except MlflowException as exc:  # created concurrently by someone else
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise CondenseBenchError(f"cannot create MLflow experiment {name!r}: {exc}") from exc
    if exp.lifecycle_stage != "active":
        raise CondenseBenchError(
            f"MLflow experiment {name!r} is deleted; restore it (`mlflow experiments restore --experiment-id "
            f"{exp.experiment_id}`) or remove it permanently (`mlflow gc`) before tracking to it again"
        )
    return exp.experiment_id


# ------------------------------------------------------------------ batching


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def log_batch(client, run_id: str, *, metrics: dict[str, float] | None = None,
              curves: dict[str, list[float]] | None = None, params: dict[str, str] | None = None,
              tags: dict[str, str] | None = None, timestamp_ms: int | None = None) -> None:
    """Metrics (final values at step 0, curves with step = epoch index), params and tags
    in as few `log_batch` calls as MLflow's limits allow (1000 entities, 100 params+tags)."""
    from mlflow.entities import Metric, Param, RunTag

    ts = timestamp_ms or int(time.time() * 1000)
    ms = [Metric(k, float(v), ts, 0) for k, v in (metrics or {}).items() if v is not None]
    for key, values in (curves or {}).items():
        ms.extend(Metric(key, float(v), ts, step) for step, v in enumerate(values))
    ps = [Param(k, v) for k, v in (params or {}).items()]
    ts_ = [RunTag(k, v) for k, v in (tags or {}).items()]
    small = ps + ts_
    for part in _chunks(small, 100):
        client.log_batch(run_id, params=[x for x in part if isinstance(x, Param)],
                         tags=[x for x in part if isinstance(x, RunTag)])
    for part in _chunks(ms, 1000):
        client.log_batch(run_id, metrics=part)


# ------------------------------------------------------------------ values


def flatten(data, prefix: str) -> dict[str, str]:
    """Nested dicts/lists as MLflow params: `protocol.optimizer.lr` -> "0.01". Lists of plain
    values stay one JSON value; lists of mappings are indexed (`augmentations.0.kind`)."""
    out: dict[str, str] = {}

    def walk(value, key):
        if isinstance(value, dict):
            if not value:
                out[key] = "{}"
            for k, v in value.items():
                walk(v, f"{key}.{k}")
        elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            for i, v in enumerate(value):
                walk(v, f"{key}.{i}")
        else:
            out[key] = param_value(value)

    walk(data, prefix)
    return out


def param_value(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 6000 else text[:5990] + " [cut]"


def tag_value(value) -> str:
    text = "" if value is None else (value if isinstance(value, str) else json.dumps(value))
    return text if len(text) <= 8000 else text[:7990] + " [cut]"
