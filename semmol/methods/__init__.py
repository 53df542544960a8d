"""Pretraining methods as plug-ins, chosen by name (``pretrain.method``).

Each method subclasses :class:`~semmol.methods.base.PretrainMethod`; :data:`METHODS` maps
names to them. The pretraining and fine-tuning loops use this registry and nothing else.
"""

from __future__ import annotations

from semmol.config import PretrainJob
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
