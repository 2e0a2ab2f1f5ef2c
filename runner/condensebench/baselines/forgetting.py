"""`forgetting`: forgetting-event counts over training (Toneva et al., 2019); ties
(frequent: counts are small integers) broken randomly with the seed."""
from __future__ import annotations

from ..submission.schema import Paper
from .base import METHODS
from .ranking import ScoreRanking


@METHODS.register("forgetting")
class Forgetting(ScoreRanking):
    score = "forgetting"
    summary = "forgetting events during training; easy-first (least forgotten) per class"
    paper = Paper(title="An Empirical Study of Example Forgetting during Deep Neural Network Learning",
                  venue="ICLR", year=2019, url="https://arxiv.org/abs/1812.05159")
