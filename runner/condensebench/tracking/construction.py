"""Construction runs: what building a condensed set cost, measured by the project for its
own baselines (`condensebench baseline ...`). One run per submission content hash in the
experiment `condensebench/construction`; a set built again with the same content is reused
unless forced. The same costs also travel in submission.yaml (`construction_cost`), so
every evaluation carries them as metrics whether or not a construction run exists."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import CondenseBenchError
from . import store
from .evaluation import environment_tags
from .store import ROLE, RUN_NAME, SUBMISSION, SUBMISSION_HASH


def is_configured() -> bool:
    """Whether a tracking store is in use: $MLFLOW_TRACKING_URI is set, or the embedded
    ./mlflow.db exists. Commands that only *may* log (baseline construction) check this so
    that they never create a store as a side effect."""
    if os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        return True
    db = store.sqlite_path(store.tracking_uri())
    return db is not None and db.is_file()


def log_construction(
    submission=None,
    directory: str | Path | None = None,
    *,
    seconds: float | None = None,
    device: str | None = None,
    params: dict | None = None,
    peak_memory_mb: float | None = None,
    environment: dict | None = None,
    log_text: str | None = None,
    force: bool = False,
    tracker=None,
) -> str | None:
    """Log the construction of the submission in `directory` (submission.yaml written).

    `submission`: the parsed `Submission` (read from `directory` when None). `seconds`,
    `device` and peak memory default to the submission's `construction_cost`. `params`: the
    method's settings (seed, scoring model, ...), logged flattened as `method.*` params.
    Returns the run id (an existing one when the same content was logged before and not
    `force`), or None when no tracking store is configured and no `tracker` is given."""
    from ..environment import describe
    from ..submission import read_submission_yaml
    from ..submission.loader import content_hash
    from .evaluation import Tracker

    if directory is None:
        raise CondenseBenchError("log_construction needs the submission directory")
    if tracker is None and not is_configured():
        return None
    directory = Path(directory)
    sub = submission if submission is not None else read_submission_yaml(directory)
    cost = sub.construction_cost
    if seconds is None:
        seconds = (cost.wall_clock_hours or 0.0) * 3600.0
    if seconds < 0:
        raise CondenseBenchError("construction seconds must be >= 0")
    device = device or cost.device or "cpu"
    digest = content_hash(sub)
    tracker = tracker or Tracker()
    client = tracker.client
    eid = store.get_or_create_experiment(
        client, tracker.uri, store.CONSTRUCTION_EXPERIMENT,
        {ROLE: "construction", "mlflow.note.content": "What building each condensed set cost, one run per content hash."},
    )
    filt = store.tag_filter(**{ROLE: "construction", SUBMISSION_HASH: digest})
    existing = [r for r in store.search_all(client, [eid], filt) if r.info.status == "FINISHED"]
    if existing and not force:
        return existing[0].info.run_id
    env = environment or describe("cuda" if str(device).startswith("cuda") else "cpu")
    name = f"{sub.id} construction"
    tags = {
        ROLE: "construction", RUN_NAME: name, SUBMISSION: sub.id, SUBMISSION_HASH: digest,
        "cb.kind": sub.kind, "cb.method": store.tag_value(sub.method), "cb.dataset": sub.dataset, "cb.ipc": str(sub.ipc),
        "cb.construction_reported_by": cost.reported_by, "cb.construction_device": store.tag_value(device),
        **environment_tags(env),
    }
    run = client.create_run(eid, run_name=name, tags=tags)
    rid = run.info.run_id
    hours = seconds / 3600.0
    metrics = {"construction_seconds": seconds, "construction_wall_clock_hours": hours,
               "construction_gpu_hours": cost.gpu_hours, "construction_peak_memory_gb": cost.peak_memory_gb,
               "construction_scoring_model_hours": cost.scoring_model_hours}
    if metrics["construction_gpu_hours"] is None and str(device).startswith("cuda"):
        metrics["construction_gpu_hours"] = hours
    if peak_memory_mb is not None:
        metrics["construction_peak_memory_gb"] = peak_memory_mb / 1024.0
    run_params = {"submission_id": sub.id, "submission_content_hash": digest, "device": store.param_value(device)}
    if params:
        run_params.update(store.flatten(params, "method"))
    store.log_batch(client, rid, metrics=metrics, params=run_params)
    if (directory / "submission.yaml").is_file():
        client.log_artifact(rid, str(directory / "submission.yaml"))
    if log_text:
        client.log_text(rid, log_text, "construction.log")
    client.set_terminated(rid, "FINISHED")
    for old in existing:
        client.delete_run(old.info.run_id)  # soft delete: replaced by the forced re-run
    return rid
