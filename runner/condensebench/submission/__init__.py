"""The canonical submission format: `submissions/<dataset>/<entry-id>/submission.yaml` plus data."""
from .loader import CondensedSet, load_submission, read_submission_yaml
from .schema import Submission

__all__ = ["CondensedSet", "Submission", "load_submission", "read_submission_yaml"]
