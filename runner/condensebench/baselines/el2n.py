"""`el2n`: EL2N scores (Paul et al., 2021) averaged over a few models at an early
checkpoint; easy-first with strict class balance by default, hard-first available."""
from __future__ import annotations

from ..submission.schema import Paper
from .base import METHODS
from .ranking import ScoreRanking


@METHODS.register("el2n")
class EL2N(ScoreRanking):
    score = "el2n"
    summary = "EL2N at an early checkpoint, averaged over models; easy-first per class"
    paper = Paper(title="Deep Learning on a Data Diet: Finding Important Examples Early in Training",
                  venue="NeurIPS", year=2021, url="https://arxiv.org/abs/2107.07075")
