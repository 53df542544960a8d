"""New molecules, prepared exactly as the pipeline prepared a model's training data.

A model file records how its inputs were made (the ``standardize`` and ``conformers`` options
of its run); :func:`prepare_molecules` repeats those steps on SMILES it has never seen:
standardization, 2D features, fingerprints, descriptors and, when the model has a 3D view,
conformers with the configured time limit. Every input keeps its place: a molecule that
cannot be used carries its reason instead of a dataset position.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pyarrow as pa

from semmol.config import ConformerConfig, StandardizeConfig
from semmol.data.chem import quiet_rdkit
from semmol.data.conformers import featurize_molecules
from semmol.data.reader import ShardDataset
from semmol.data.schema import STATUS_EMBED_FAILED, STATUS_TIMEOUT, shard_schema
from semmol.data.standardize import MoleculeCleaner

log = logging.getLogger(__name__)

#: Per-input status of prepared molecules.
READY = "ok"
NO_3D = "no_3d"  # usable, but without a conformer: the 3D view is missing, as in training
REJECTED = "rejected"


@dataclass
class PreparedMolecules:
    """Inputs in their original order, and the dataset of the usable ones.

    Attributes:
        canonical: canonical SMILES per input (``None`` where rejected).
        status: :data:`READY`, :data:`NO_3D` or :data:`REJECTED` per input.
        reason: why an input was rejected or has no 3D view (``None`` otherwise).
        positions: per input, its position in ``dataset`` (``None`` where rejected).
        dataset: the usable molecules with every stored conformer (``None`` when none is usable).
    """

    canonical: list[str | None]
    status: list[str]
    reason: list[str | None]
    positions: list[int | None]
    dataset: ShardDataset | None

    @property
    def usable(self) -> list[int]:
        """Indices of the inputs that have a dataset position."""
        return [i for i, position in enumerate(self.positions) if position is not None]


def prepare_molecules(
    smiles: list[str | None],
    *,
    standardize: StandardizeConfig,
    conformers: ConformerConfig,
    modalities: list[str],
    threads: int = 1,
) -> PreparedMolecules:
    """Standardize and featurize ``smiles`` as the conformers stage does.

    Args:
        smiles: the input SMILES (``None`` or empty for a missing cell).
        standardize: the model's ``standardize`` options (no size filter: a user's molecule is
            predicted whatever its size, as benchmark molecules are).
        conformers: the model's ``conformers`` options (fingerprint, conformer count, time limit).
        modalities: the views the model reads: conformers are made for ``geom3d``, depictions
            are loaded for ``image``.
        threads: worker processes for the featurization; default 1.
    """
    embed_3d = "geom3d" in modalities
    cleaner = MoleculeCleaner(standardize, size_filter=False)
    canonical: list[str | None] = []
    reason: list[str | None] = []
    with quiet_rdkit():
        for text in smiles:
            clean, why = cleaner(text)
            canonical.append(clean)
            reason.append(why)
    status = [READY if clean is not None else REJECTED for clean in canonical]
    accepted = [i for i, clean in enumerate(canonical) if clean is not None]
    records = featurize_molecules(
        [canonical[i] for i in accepted],
        options=conformers,
        threads=threads,
        embed=embed_3d,
        desc="featurize",
    )
    positions: list[int | None] = [None] * len(smiles)
    for position, (i, record) in enumerate(zip(accepted, records)):
        record["mol_index"], record["row"] = position, i
        positions[i] = position
        if embed_3d and record["status"] in (STATUS_EMBED_FAILED, STATUS_TIMEOUT):
            status[i], reason[i] = NO_3D, f"no conformer ({record['status']}); predicted without the 3D view"
    dataset = None
    if records:
        table = pa.Table.from_pylist(records, schema=shard_schema(conformers.ecfp_bits))
        dataset = ShardDataset(table=table, conformers="all", images="image" in modalities)
    log.info(
        "%d molecules: %d usable (%d without a conformer), %d rejected",
        len(smiles),
        len(records),
        status.count(NO_3D),
        status.count(REJECTED),
    )
    return PreparedMolecules(
        canonical=canonical, status=status, reason=reason, positions=positions, dataset=dataset
    )
