"""Parquet layouts of the data stages, and checked reading of shard files.

``molecules.parquet`` (standardize): one row per accepted source record.
    row (int64, index of the record in the source file, header excluded), smiles_input,
    smiles (canonical), duplicate_of (int64 or null; benchmarks keep duplicates), text (string
    or null; only with a dataset's ``text_column``), then one float64 column per configured
    target (NaN = missing label).
``rejected.parquet`` (standardize, and labels): row, column, value, reason, stage.
Shard files (conformers): one row per molecule of ``molecules.parquet``, every modality the
later stages need, so no stage after this one runs RDKit on the corpus. See
:data:`SHARD_SCHEMA`; ``coords`` holds heavy-atom coordinates per conformer, in the atom
order of ``atom_features`` (the order of ``Chem.MolFromSmiles(smiles)``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from semmol.data.feature_sizes import ATOM_FEATURES, BOND_FEATURES, ERG_SIZE, MACCS_BITS, PUBCHEM_BITS

#: Conformer status values. Only "ok" and "mmff_failed" rows carry coordinates.
STATUS_OK = "ok"
STATUS_MMFF_FAILED = "mmff_failed"  # embedded, but MMFF94 has no parameters for some atom
STATUS_EMBED_FAILED = "embed_failed"
STATUS_TIMEOUT = "timeout"
#: Not embedded on purpose: a dataset's ``conformer_fraction`` left it out, or the rows are
#: featurized for a model without a 3D view.
STATUS_NOT_EMBEDDED = "not_embedded"
STATUSES = (STATUS_OK, STATUS_MMFF_FAILED, STATUS_EMBED_FAILED, STATUS_TIMEOUT, STATUS_NOT_EMBEDDED)

#: Key of the JSON metadata each shard carries in its Parquet schema.
SHARD_METADATA_KEY = b"semmol.shard"

REJECTED_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("column", pa.string()),
        ("value", pa.string()),
        ("reason", pa.string()),
        ("stage", pa.string()),
    ]
)


def shard_schema(ecfp_bits: int, *, n_descriptors: int | None = None) -> pa.Schema:
    """Schema of a shard file whose ECFP column holds ``ecfp_bits`` bits (packed, big-endian) and
    its descriptors column ``n_descriptors`` values (default: this RDKit's count, imported here)."""
    if n_descriptors is None:
        from semmol.data.featurize import DESCRIPTOR_NAMES

        n_descriptors = len(DESCRIPTOR_NAMES)
    if ecfp_bits % 8:
        raise ValueError(f"ecfp_bits must be a multiple of 8, got {ecfp_bits}")
    xyz = pa.list_(pa.float32(), 3)
    return pa.schema(
        [
            ("mol_index", pa.int64()),  # position in molecules.parquet
            ("row", pa.int64()),  # record index in the source file
            ("smiles", pa.string()),
            ("atomic_numbers", pa.list_(pa.int8())),
            ("atom_features", pa.list_(pa.list_(pa.int16(), len(ATOM_FEATURES)))),
            ("bonds", pa.list_(pa.list_(pa.int32(), 2))),
            ("bond_features", pa.list_(pa.list_(pa.int16(), len(BOND_FEATURES)))),
            ("coords", pa.list_(pa.list_(xyz))),  # conformers x atoms x 3, Angstrom
            ("energies", pa.list_(pa.float64())),  # MMFF94 kcal/mol per conformer, NaN if not optimised
            ("ecfp", pa.binary(ecfp_bits // 8)),  # np.packbits of the 0/1 bit vector
            ("descriptors", pa.list_(pa.float32(), n_descriptors)),  # featurize.rdkit_descriptors
            ("maccs", pa.binary(math.ceil(MACCS_BITS / 8))),  # np.packbits of featurize.maccs_keys
            ("pubchem", pa.binary(math.ceil(PUBCHEM_BITS / 8))),  # np.packbits of pubchem.pubchem_fingerprint
            ("erg", pa.list_(pa.float32(), ERG_SIZE)),  # featurize.erg_fingerprint
            ("image", pa.binary()),
            (
                "description",
                pa.string(),
            ),  # the dataset's text_column, else description.describe_molecule  # RGB PNG of the 2D depiction (featurize.depiction_png); null: none
            ("status", pa.string()),
            ("seconds", pa.float32()),  # wall time spent on this molecule
        ]
    )


#: The column names, which need no RDKit (the descriptor count changes no name).
SHARD_COLUMNS = shard_schema(8, n_descriptors=1).names


class ShardError(ValueError):
    """A shard file is missing, truncated, corrupted or not of the shard layout."""


def read_shard(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """Read a shard file, checking its layout.

    Args:
        path: the shard's Parquet file.
        columns: subset of columns to read (default: all).

    Raises:
        ShardError: naming the file, when it cannot be read or lacks shard columns.
    """
    path = Path(path)
    try:
        table = pq.read_table(path, columns=columns)
    except FileNotFoundError:
        raise ShardError(f"{path}: shard file not found; re-run the conformers stage") from None
    except (pa.ArrowException, OSError) as error:
        raise ShardError(f"{path}: not a readable Parquet shard (truncated or corrupted?): {error}") from None
    wanted = columns or SHARD_COLUMNS
    missing = [name for name in wanted if name not in table.column_names]
    if missing:
        raise ShardError(f"{path}: not a semmol shard, missing columns {missing}")
    return table


def unpack_bits(packed: bytes | np.ndarray, n_bits: int) -> np.ndarray:
    """The 0/1 ``uint8`` bit vector stored, packed, in a shard's ``ecfp`` or ``maccs`` cell."""
    return np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=n_bits)
