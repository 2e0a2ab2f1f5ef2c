"""`aum`: area under the margin over training (Pleiss et al., 2020); a low AUM is a
hard (or mislabelled) example, so easy-first keeps the highest AUM."""
from __future__ import annotations

from ..submission.schema import Paper
from .base import METHODS
from .ranking import ScoreRanking


@METHODS.register("aum")
class AUM(ScoreRanking):
    score = "aum"
    summary = "area under the margin over training; easy-first (highest AUM) per class"
    paper = Paper(title="Identifying Mislabeled Data using the Area Under the Margin Ranking",
                  venue="NeurIPS", year=2020, url="https://arxiv.org/abs/2001.10528")
