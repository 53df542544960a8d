"""One row of the results table (:mod:`semmol.evaluate.aggregate`), in a module of its own so that
the plots (:mod:`semmol.evaluate.plots`), which the aggregation imports, can take rows without
importing the aggregation back."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SummaryRow:
    """Test scores of one run on one benchmark split.

    Attributes:
        run: run name, baseline name, or published method.
        benchmark: benchmark name.
        split: split kind.
        metric: 'roc_auc', 'roc_auc_ovr' (fractions) or 'rmse'.
        mean: mean test score over seeds (the published value for published rows).
        std: sample standard deviation (ddof=1); NaN for fewer than two seeds and published rows.
        n: seeds with a score; ``None`` for published rows.
        seeds: those seeds, ascending.
        kind: 'pipeline', 'baseline' or 'published'.
        ensemble: the test score of the mean of the seeds' predictions (what a user deploying
            the seed ensemble gets); NaN for published rows and where the seeds' test sets differ.
        untrained_views: fine-tuned views that the run's pretraining method's own terms never
            trained (their reconstruction terms at most); empty for most rows.
    """

    run: str
    benchmark: str
    split: str
    metric: str
    mean: float
    std: float
    n: int | None
    seeds: tuple[int, ...]
    kind: str
    ensemble: float = math.nan
    untrained_views: tuple[str, ...] = ()
