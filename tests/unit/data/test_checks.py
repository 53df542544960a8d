"""The up-front checks of ``semmol train``: one line naming the file, the column and the rows."""

from __future__ import annotations

import pytest

from semmol.config import DatasetConfig, SplitConfig, StandardizeConfig
from semmol.data.checks import InputError, check_training_table

#: Twenty molecules of distinct ring systems and chains: enough for every subset of a split.
SMILES = [
    "CCO", "CCCN", "CC(=O)O", "CCCCCl", "c1ccccc1", "Cc1ccccc1O", "c1ccncc1", "Cc1ccncc1",
    "C1CCCCC1", "OC1CCCCC1", "c1ccc2ccccc2c1", "c1ccoc1", "Cc1ccoc1", "c1ccsc1", "C1CCNCC1",
    "O=C1CCCCC1", "c1cnc2ccccc2c1", "C1CCOC1", "c1ccc(-c2ccccc2)cc1", "C1CC1",
]  # fmt: skip


def _table(path, rows, header=("smiles", "y")):
    path.write_text("\n".join([",".join(header), *(",".join(row) for row in rows)]) + "\n")
    return path


def _dataset(task="regression", targets=("y",)):
    return DatasetConfig(source={"kind": "local", "path": "unused"}, targets=list(targets), task=task)


def _check(path, *, task="regression", split=None, targets=("y",), **options):
    return check_training_table(
        path,
        dataset=_dataset(task, targets),
        options=StandardizeConfig(**options),
        split=split or SplitConfig(kind="random"),
    )


def _one_line_error(path, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        _check(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    return message


def test_a_usable_table_passes_with_its_counts(tmp_path):
    rows = [(smiles, str(i / 10)) for i, smiles in enumerate(SMILES)] + [("C1CC", "1.0"), ("CCS", "")]
    check = _check(_table(tmp_path / "ok.csv", rows), split=SplitConfig(kind="scaffold"))
    assert (check.records, check.molecules, check.rejected) == (22, 20, 2)  # bad SMILES, no label
    assert (
        sum(check.sizes.values()) == 21 and min(check.sizes.values()) >= 1
    )  # the split keeps unlabelled rows


def test_a_missing_column_names_the_closest_one(tmp_path):
    path = _table(tmp_path / "data.csv", [(smiles, "1.0") for smiles in SMILES], header=("smiles", "logS"))
    message = _one_line_error(path, targets=("logs",))
    assert "column 'logs' not found; did you mean 'logS'?" in message


def test_no_valid_smiles(tmp_path):
    path = _table(tmp_path / "data.csv", [("not a molecule", "1.0"), ("C1CC", "2.0"), ("", "3.0")])
    message = _one_line_error(path)
    assert (
        "column 'smiles' holds no valid SMILES: all 3 rows rejected (first at line 2: 'not a molecule'"
        in message
    )


def test_text_in_a_regression_column(tmp_path):
    rows = [(smiles, "1.5") for smiles in SMILES]
    rows[2], rows[7] = (SMILES[2], "inactive"), (SMILES[7], "5 mg")
    message = _one_line_error(_table(tmp_path / "data.csv", rows))
    assert "column 'y' has 2 of 20 rows that are no regression label (label is not a number;" in message
    assert "first at line 4: 'inactive'" in message


def test_a_single_class_in_a_classification_target(tmp_path):
    path = _table(tmp_path / "data.csv", [(smiles, "1") for smiles in SMILES[:-1]] + [(SMILES[-1], "")])
    message = _one_line_error(path, task="classification")
    assert "column 'y' has one class only: all 19 labelled rows are class 1" in message


def test_a_split_column_with_unknown_values(tmp_path):
    folds = ["train"] * 14 + ["valid"] * 3 + ["test", "tset", "Training"]
    rows = [(smiles, "1.0", fold) for smiles, fold in zip(SMILES, folds)]
    path = _table(tmp_path / "data.csv", rows, header=("smiles", "y", "fold"))
    message = _one_line_error(path, split=SplitConfig(kind="column", column="fold"))
    assert "split column 'fold' has 2 of 20 rows naming no subset (first at line 20: 'tset'" in message
    rows[18], rows[19] = (SMILES[18], "1.0", "TEST"), (SMILES[19], "1.0", "val")
    path = _table(tmp_path / "data.csv", rows, header=("smiles", "y", "fold"))
    check = _check(path, split=SplitConfig(kind="column", column="fold"))
    assert check.sizes == {"train": 14, "valid": 4, "test": 2}


def test_too_many_rejected_rows(tmp_path):
    rows = [(smiles, "1.0") for smiles in SMILES[:5]] + [("C1CC", "1.0")] * 6
    message = _one_line_error(_table(tmp_path / "data.csv", rows))
    assert "6 of 11 records rejected (54.5%), more than standardize.max_rejected_fraction 0.5" in message


def test_a_table_too_small_for_the_split(tmp_path):
    message = _one_line_error(_table(tmp_path / "data.csv", [(smiles, "1.0") for smiles in SMILES[:4]]))
    assert "4 parseable molecules (0 unparsable) give a random split" in message
