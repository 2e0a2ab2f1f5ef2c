"""Baselines computed by the project: coresets and a cheap distilled reference.

Every method is one module registering one :class:`SelectionMethod` subclass in
:data:`METHODS`; importing this package registers them all.
"""
from . import aum, ccs, dm, el2n, forgetting, herding, kcenter, random  # noqa: F401  (registration)
from .base import METHODS, MethodConfig, SelectionMethod, SelectionResult, TrainSet, build_method

__all__ = ["METHODS", "MethodConfig", "SelectionMethod", "SelectionResult", "TrainSet", "build_method"]
