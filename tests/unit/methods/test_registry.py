import pytest

from semmol.config import ExperimentConfig, load_config
from semmol.methods import METHODS, check_head_input


def _experiment(**sections) -> ExperimentConfig:
    return load_config(
        {
            "datasets": {"corpus": {"source": {"kind": "local", "path": "corpus.csv"}}},
            "corpus": "corpus",
            "benchmarks": [],
        }
        | sections
    )


@pytest.mark.parametrize("method", sorted(METHODS))
def test_method_mode_needs_a_method_that_offers_a_head_input(method):
    experiment = _experiment(pretrain={"method": method}, finetune={"mode": "method"})
    if METHODS[method].head_input_class is None:
        message = f"run 'r': finetune.mode 'method': pretraining method '{method}' offers no head input"
        with pytest.raises(ValueError, match=message):
            check_head_input(experiment, "run 'r'")
    else:
        check_head_input(experiment, "run 'r'")


def test_a_model_pretrained_elsewhere_is_not_judged_by_the_runs_method():
    """Its head input comes with the model it names (checked when fine-tuning loads it)."""
    experiment = _experiment(
        pretrain={"method": "infonce"},
        finetune={"mode": "method", "pretrained": {"kind": "local", "path": "model.pt"}},
    )
    check_head_input(experiment, "run 'r'")


def test_encoder_mode_needs_no_head_input():
    check_head_input(_experiment(pretrain={"method": "infonce"}), "run 'r'")
