from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
from rdkit import Chem

from semmol.config import ConformerConfig, DatasetConfig, StandardizeConfig
from semmol.data.conformers import build_shard
from semmol.data.description import DESCRIPTION_WORDS, describe_molecule, tokenize_description
from semmol.data.standardize import standardize_table


def describe(smiles: str) -> str:
    return describe_molecule(Chem.MolFromSmiles(smiles))


@pytest.mark.parametrize(
    ("smiles", "groups"),
    [
        ("CC(=O)Oc1ccccc1C(=O)O", "carboxylic acid, ester"),  # aspirin
        ("c1ccccc1O", "phenol"),
        ("CCO", "alcohol"),
        ("CCN(CC)CC", "tertiary amine"),
        ("N#Cc1ccccc1", "nitrile"),
        ("CC(=O)Nc1ccc(O)cc1", "amide, phenol"),  # paracetamol
        ("Cc1ccc(cc1)S(=O)(=O)N", "sulfonamide"),
        ("CCOCC", "ether"),
        ("C1CCCCC1", "none recognised"),
    ],
)
def test_known_molecules_name_their_functional_groups(smiles: str, groups: str):
    assert f"functional groups: {groups}." in describe(smiles)


def test_rings_charge_polarity_and_rule_of_five():
    naphthol = describe("Oc1ccc2ccccc2c1")
    assert "2 rings in 1 ring system: 2 aromatic and 0 aliphatic" in naphthol
    assert "it contains a benzene ring." in naphthol and "it is neutral." in naphthol
    assert "it has no rings." in describe("CCCC")
    assert "heteroaromatic ring with nitrogen" in describe("c1ccncc1")
    assert "net formal charge is positive 1" in describe("C[N+](C)(C)C")
    assert "separated charges" in describe("[NH3+]CC(=O)[O-]")
    assert "it is neutral." in describe("O=[N+]([O-])c1ccccc1")  # nitro: a bonded charge pair
    assert "so it is hydrophilic" in describe("OCC(O)CO")
    assert "so it is very lipophilic" in describe("CCCCCCCCCCCCCCCC")
    assert "halogens: bromine, chlorine." in describe("Clc1ccc(Br)cc1")
    assert "it has 1 stereocenter." in describe("C[C@H](N)C(=O)O")
    # cyclosporin-sized: several rule-of-five violations
    big = "CC[C@H](C)[C@@H](C(=O)O)NC(=O)" * 6 + "C"
    assert "violates lipinski's rule of five" in describe(big)


def test_the_same_molecule_gives_the_same_text_whatever_the_smiles():
    assert describe("OCC") == describe("C(O)C") == describe("CCO")


def test_every_token_written_is_in_the_closed_vocabulary(moleculenet_dir):
    table = pl.read_csv(moleculenet_dir / "bbbp.csv", infer_schema=False)
    unknown = set()
    for smiles in table.get_column("smiles").to_list():
        mol = Chem.MolFromSmiles(smiles)
        if mol is not None:
            unknown |= set(tokenize_description(describe_molecule(mol))) - set(DESCRIPTION_WORDS)
    assert not unknown


def test_a_datasets_text_column_replaces_the_generated_description(tmp_path):
    source = pl.DataFrame(
        {"smiles": ["CCO", "c1ccccc1", "CC(=O)O"], "note": ["an alcohol written by hand", None, ""]}
    )
    dataset = DatasetConfig(source={"kind": "local", "path": "x.csv"}, text_column="note")
    result = standardize_table(source, dataset=dataset, options=StandardizeConfig(), benchmark=True)
    molecules = tmp_path / "molecules.parquet"
    result.molecules.write_parquet(molecules)
    assert result.molecules.get_column("text").to_list() == ["an alcohol written by hand", None, None]
    shard = tmp_path / "shard.parquet"
    build_shard(molecules, shard=0, n_shards=1, options=ConformerConfig(n_conformers=1), out=shard)
    texts = pq.read_table(shard, columns=["description"]).column("description").to_pylist()
    assert texts == ["an alcohol written by hand", describe("c1ccccc1"), describe("CC(=O)O")]


def test_a_missing_text_column_is_named(tmp_path):
    dataset = DatasetConfig(source={"kind": "local", "path": "x.csv"}, text_column="note")
    with pytest.raises(ValueError, match="note"):
        standardize_table(
            pl.DataFrame({"smiles": ["CCO"]}), dataset=dataset, options=StandardizeConfig(), benchmark=True
        )
