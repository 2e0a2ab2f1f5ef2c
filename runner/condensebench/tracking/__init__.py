"""Results in MLflow: evaluations (a parent run per submission and protocol, a child per
seed) and constructions (what building a set cost).

The API other commands call:

    from condensebench import tracking

    tracking.log_evaluation(result)                 # an EvaluationResult; reuses tracked seeds
    tracking.log_construction(submission, directory)  # costs from its submission.yaml
    tracking.log_construction(None, directory, seconds=12.3, device="cpu",
                              params={"seed": 0, "features": "convnet"})

Both write to `MLFLOW_TRACKING_URI`, else to the embedded store ./mlflow.db (artifacts in
./mlruns/), and return the MLflow run id. `log_construction` only logs when a store is
configured (`is_configured()`: the variable is set or ./mlflow.db exists) and returns None
otherwise; evaluations always track unless `--no-track`. See docs/tracking.md.
"""
from __future__ import annotations

from .construction import is_configured, log_construction
from .evaluation import EntryContext, EvaluationSession, Tracker, combine
from .store import CONSTRUCTION_EXPERIMENT, EXPERIMENT_PREFIX, display_uri, tracking_uri


def log_evaluation(result, *, force: bool = False, uri: str | None = None, log_text: str | None = None) -> str:
    """Log an `EvaluationResult` (all its seeds) and return the parent run id. Seeds already
    tracked for the same (submission content hash, protocol hash) are kept, not duplicated,
    unless `force`."""
    return Tracker(uri).log_evaluation(result, force=force, log_text=log_text)


__all__ = [
    "CONSTRUCTION_EXPERIMENT", "EXPERIMENT_PREFIX", "EntryContext", "EvaluationSession", "Tracker", "combine",
    "display_uri", "is_configured", "log_construction", "log_evaluation", "tracking_uri",
]
