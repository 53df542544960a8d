"""Pretraining methods as plug-ins, chosen by name (``pretrain.method``).

Each method subclasses :class:`~semmol.methods.base.PretrainMethod`; :data:`METHODS` maps
names to them. The pretraining and fine-tuning loops use this registry and nothing else.
"""

from __future__ import annotations

from semmol.config import ExperimentConfig, PretrainJob
from semmol.methods.base import PretrainMethod
from semmol.methods.infonce import InfoNCEMethod
from semmol.methods.lgmcl import LGMCLMethod
from semmol.methods.mmsa.method import MMSAMethod
from semmol.methods.semmol.method import SemMolMethod

METHODS: dict[str, type[PretrainMethod]] = {
    cls.name: cls for cls in (InfoNCEMethod, SemMolMethod, MMSAMethod, LGMCLMethod)
}


def method_class(name: str) -> type[PretrainMethod]:
    """The method registered as ``name``.

    Raises:
        ValueError: no such method.
    """
    if name not in METHODS:
        raise ValueError(f"unknown pretraining method '{name}'; expected one of {sorted(METHODS)}")
    return METHODS[name]


def build_method(job: PretrainJob) -> PretrainMethod:
    """A fresh (untrained) instance of the job's ``pretrain.method``."""
    return method_class(job.pretrain.method)(job)


def check_head_input(experiment: ExperimentConfig, where: str) -> None:
    """Fail when ``finetune.mode: method`` asks for the head input of a pretraining method that
    offers none (:attr:`PretrainMethod.head_input_class`).

    The typed config cannot check this itself: it does not import the registry, whose methods
    import it. The workflow calls this on the experiment and each resolved run as it loads them.

    Args:
        experiment: the experiment, or one run of it (:func:`semmol.config.resolve_run`).
        where: what ``experiment`` is, for the error, e.g. "run 'semmol_head'".

    Raises:
        ValueError: the run's own pretraining method offers no head input.
    """
    finetune, method = experiment.finetune, experiment.pretrain.method
    own_pretraining = finetune.pretrained is None
    if finetune.mode == "method" and own_pretraining and method_class(method).head_input_class is None:
        raise ValueError(f"{where}: finetune.mode 'method': pretraining method '{method}' offers no head input")
