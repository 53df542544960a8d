"""Published reference scores shown beside the pipeline's runs.

Test-set means on the deterministic scaffold split of the full MoleculeNet data sets, as
reported in Table 1 (classification) and Table 2 (regression) of the Uni-Mol paper, which
also quotes the chemprop D-MPNN figures. ROC-AUC is stored as a fraction in [0, 1], the
scale of every score in semmol; RMSE in the target's units. They are only comparable with
runs on the same split kind and the full data sets (not a ``max_rows`` subset).
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCE_NOTE = (
    "Zhou et al., 'Uni-Mol: A Universal 3D Molecular Representation Learning Framework', ICLR 2023, "
    "Tables 1 and 2 (chemprop D-MPNN figures as quoted there); deterministic scaffold split, full data sets"
)


@dataclass(frozen=True)
class PublishedScore:
    """One published test score.

    Attributes:
        method: the method's name as shown in the table.
        benchmark: lower-case benchmark name (bbbp, tox21, esol, lipophilicity).
        split: split kind the score was measured on.
        metric: 'roc_auc' (fraction) or 'rmse'.
        value: the published mean.
    """

    method: str
    benchmark: str
    split: str
    metric: str
    value: float


def _scores(method: str, roc_auc: dict[str, float], rmse: dict[str, float]) -> list[PublishedScore]:
    return [
        *(PublishedScore(method, bench, "scaffold", "roc_auc", value) for bench, value in roc_auc.items()),
        *(PublishedScore(method, bench, "scaffold", "rmse", value) for bench, value in rmse.items()),
    ]


PUBLISHED: tuple[PublishedScore, ...] = (
    *_scores("chemprop D-MPNN", {"bbbp": 0.710, "tox21": 0.759}, {"esol": 1.050, "lipophilicity": 0.683}),
    *_scores("Uni-Mol", {"bbbp": 0.729, "tox21": 0.796}, {"esol": 0.788, "lipophilicity": 0.603}),
)


def published_scores(benchmark: str, *, split: str) -> list[PublishedScore]:
    """The published scores of a benchmark (matched case-insensitively) on a split kind.

    Args:
        benchmark: benchmark name as configured, e.g. 'BBBP' or 'bbbp'.
        split: split kind; published figures exist for 'scaffold' only.
    """
    return [score for score in PUBLISHED if score.benchmark == benchmark.lower() and score.split == split]
