"""Fine-tuned model files are self-contained: predictions on new molecules, alone or as an ensemble."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from semmol.evaluate.records import PRED_SUFFIX as RECORD_PRED_SUFFIX
from semmol.inference.predict import PRED_SUFFIX, STD_SUFFIX, Predictor, predict_smiles
from semmol.runtime.checkpoint import load_file

from ...conftest import ESOL_TARGET

pytestmark = pytest.mark.slow


def test_the_model_file_holds_what_predicting_needs(finetuned_dirs):
    saved = load_file(finetuned_dirs[0] / "model.pt")  # weights_only: plain data and tensors
    metadata = saved["metadata"]
    assert saved["format"] == "semmol.property_model/3" and saved["semmol_version"]
    assert (metadata["task"], metadata["targets"], metadata["seed"]) == ("regression", [ESOL_TARGET], 0)
    assert len(metadata["label_mean"]) == len(metadata["label_std"]) == 1 and metadata["label_std"][0] > 0
    assert metadata["featurization"]["conformers"]["ecfp_bits"] == 256
    assert set(metadata["featurization"]) == {"standardize", "conformers"}
    encoder = saved["spec"]["encoder"]
    assert encoder["vocab"]
    # RDKit's descriptor list only with a descriptors view: the others need no RDKit
    assert (encoder["descriptor_names"] is not None) == ("descriptors" in encoder["modalities"])


def test_predictions_on_new_input_repeat_the_pipeline_s(finetuned_dirs):
    """Featurized afresh (conformers included), the test molecules get the pipeline's predictions."""
    recorded = pl.read_parquet(finetuned_dirs[0] / "predictions.parquet").filter(pl.col("subset") == "test")
    predicted = predict_smiles([Predictor.load(finetuned_dirs[0])], recorded["smiles"].to_list())
    assert predicted["status"].to_list() == ["ok"] * recorded.height
    assert predicted["smiles_canonical"].to_list() == recorded["smiles"].to_list()
    np.testing.assert_allclose(
        predicted[ESOL_TARGET + PRED_SUFFIX].to_numpy(),
        recorded[ESOL_TARGET + RECORD_PRED_SUFFIX].to_numpy(),
        rtol=1e-5,
        atol=1e-5,
    )


def test_rejected_inputs_keep_their_row_with_the_reason(finetuned_dirs):
    predicted = predict_smiles(
        [Predictor.load(finetuned_dirs[0] / "model.pt")], ["CCO", "C1CC", None, "c1ccccc1O"]
    )
    assert predicted.height == 4
    assert predicted["status"].to_list() == ["ok", "rejected", "rejected", "ok"]
    assert "unparsable SMILES" in predicted["reason"][1] and predicted["reason"][2] == "empty SMILES"
    values = predicted[ESOL_TARGET + PRED_SUFFIX]
    assert values.is_null().to_list() == [False, True, True, False]


def test_a_seed_ensemble_gives_the_mean_and_the_spread(finetuned_dirs):
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "not a molecule"]
    alone = [predict_smiles([Predictor.load(d)], smiles)[ESOL_TARGET + PRED_SUFFIX] for d in finetuned_dirs]
    together = predict_smiles([Predictor.load(d) for d in finetuned_dirs], smiles)
    stacked = np.stack([column.to_numpy()[:3] for column in alone])
    np.testing.assert_allclose(together[ESOL_TARGET + PRED_SUFFIX].to_numpy()[:3], stacked.mean(0), rtol=1e-6)
    np.testing.assert_allclose(together[ESOL_TARGET + STD_SUFFIX].to_numpy()[:3], stacked.std(0), rtol=1e-6)
    assert (together[ESOL_TARGET + STD_SUFFIX].to_numpy()[:3] > 0).all()
    assert together[ESOL_TARGET + STD_SUFFIX][3] is None


def test_an_ensemble_of_other_benchmarks_is_refused(finetuned_dirs):
    first, other = Predictor.load(finetuned_dirs[0]), Predictor.load(finetuned_dirs[1])
    other.metadata = {**other.metadata, "targets": ["exp"]}
    with pytest.raises(
        ValueError, match="its .targets. differs .* an ensemble needs models of one benchmark"
    ):
        predict_smiles([first, other], ["CCO"])
