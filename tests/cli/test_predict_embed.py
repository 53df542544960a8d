"""``semmol predict``, ``semmol embed`` and ``semmol download-model`` from the command line."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from semmol.cli.main import main
from semmol.runtime.checkpoint import load_file

from ..conftest import ESOL_TARGET, RING_CLASSES

pytestmark = pytest.mark.slow


def test_predict_smiles_prints_a_csv(finetuned_dirs, capsys):
    main(["predict", "--model", str(finetuned_dirs[0]), "--smiles", "CCO", "c1ccccc1O"])
    table = pl.read_csv(capsys.readouterr().out.encode())
    assert table.columns == ["smiles", "smiles_canonical", ESOL_TARGET + "__pred", "status", "reason"]
    assert table["smiles_canonical"].to_list() == ["CCO", "Oc1ccccc1"] and table["status"].to_list() == [
        "ok",
        "ok",
    ]


def test_predict_a_file_with_an_ensemble_keeps_every_input_column(finetuned_dirs, moleculenet_dir, tmp_path):
    source = pl.read_csv(moleculenet_dir / "lipophilicity.csv", n_rows=12)
    source = source.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("C1C")).otherwise("smiles").alias("smiles")
    )
    source.write_csv(tmp_path / "new.csv")
    models = [str(d / "model.pt") for d in finetuned_dirs]
    main(
        [
            "predict",
            "--model",
            *models,
            "--input",
            str(tmp_path / "new.csv"),
            "--output",
            str(tmp_path / "p.parquet"),
        ]
    )
    table = pl.read_parquet(tmp_path / "p.parquet")
    assert table.columns[:3] == source.columns and table.height == 12
    assert {ESOL_TARGET + "__pred", ESOL_TARGET + "__std"} <= set(table.columns)
    assert table["status"][3] == "rejected" and table[ESOL_TARGET + "__pred"].null_count() == 1


def test_predict_with_a_multiclass_model_names_each_class_and_the_predicted_one(
    multiclass_finetuned, capsys
):
    smiles = ["CCCCCCO", "CCc1ccccc1", "c1ccc2ccccc2c1", "C1C"]
    main(["predict", "--model", str(multiclass_finetuned), "--smiles", *smiles])
    table = pl.read_csv(capsys.readouterr().out.encode())
    probabilities = [f"rings__prob_{name}" for name in RING_CLASSES]
    assert table.columns == ["smiles", "smiles_canonical", "rings__pred", *probabilities, "status", "reason"]
    assert table["rings__pred"].to_list() == ["acyclic", "one_ring", "polycyclic", None]  # C1C is rejected
    np.testing.assert_allclose(table.select(probabilities).to_numpy()[:3].sum(axis=1), 1.0, rtol=1e-5)


def test_predict_names_a_missing_column(finetuned_dirs, tmp_path):
    (tmp_path / "new.csv").write_text("SMILES\nCCO\n")
    with pytest.raises(SystemExit, match=r"new\.csv: column 'smiles' not found \(columns: SMILES\)"):
        main(["predict", "--model", str(finetuned_dirs[0]), "--input", str(tmp_path / "new.csv")])


def test_embed_writes_one_vector_column_per_modality(pretrained_dir, tmp_path):
    (tmp_path / "mols.csv").write_text("id,smiles\na,CCO\nb,c1ccccc1O\nc,not-a-smiles\n")
    out = tmp_path / "emb.parquet"
    main(
        ["embed", "--model", str(pretrained_dir), "--input", str(tmp_path / "mols.csv"), "--output", str(out)]
    )
    table = pq.read_table(out)
    embeddings = ["smiles_embedding", "graph2d_embedding", "geom3d_embedding"]
    assert table.column_names == ["id", "smiles", "smiles_canonical", *embeddings, "status", "reason"]
    assert table.num_rows == 3 and table.column("status").to_pylist() == ["ok", "ok", "rejected"]


def test_embed_names_each_view_s_nearest_corpus_center(pretrained_dir, tiny_benchmark, tmp_path):
    library = tmp_path / "centers"
    main(["centers", "--model", str(pretrained_dir / "model.pt"), "--shards-manifest",
          str(tiny_benchmark["manifest"]), "--n-centers", "4", "--out-dir", str(library)])  # fmt: skip
    (tmp_path / "mols.csv").write_text("smiles\nCCO\nnot-a-smiles\nc1ccccc1O\n")
    out = tmp_path / "emb.parquet"
    main(["embed", "--model", str(pretrained_dir), "--input", str(tmp_path / "mols.csv"), "--output", str(out),
          "--modalities", "smiles", "graph2d", "--centers", str(library)])  # fmt: skip
    table = pq.read_table(out)
    assert table.column_names[-6:] == [
        "smiles_center", "smiles_center_cosine", "graph2d_center", "graph2d_center_cosine", "status", "reason"
    ]  # fmt: skip
    for modality in ("smiles", "graph2d"):
        centers = np.load(library / f"{modality}.npy")
        embeddings = table.column(f"{modality}_embedding").to_pylist()
        assert table.column(f"{modality}_center").to_pylist()[1] is None  # the rejected row
        for row in (0, 2):
            similarity = centers @ np.asarray(embeddings[row])
            assert table.column(f"{modality}_center")[row].as_py() == int(similarity.argmax())
            assert table.column(f"{modality}_center_cosine")[row].as_py() == pytest.approx(
                similarity.max(), abs=1e-5
            )


def test_download_model_fetches_and_checks_a_pretrained_model(pretrained_dir, tmp_path):
    source = json.dumps({"kind": "local", "path": str(pretrained_dir / "model.pt")})
    main(["download-model", "--name", "elsewhere", "--source", source, "--out-dir", str(tmp_path / "got")])
    manifest = json.loads((tmp_path / "got/manifest.json").read_text())
    assert manifest["file"] == "model.pt" and manifest["modalities"] == ["smiles", "graph2d", "geom3d"]
    assert load_file(tmp_path / "got/model.pt")["format"] == "semmol.encoder/1"
    (tmp_path / "notes.txt").write_text("no model here")
    source = json.dumps({"kind": "local", "path": str(tmp_path / "notes.txt")})
    with pytest.raises(SystemExit, match=r"bad/model\.pt: not a readable torch file"):
        main(["download-model", "--name", "bad", "--source", source, "--out-dir", str(tmp_path / "bad")])
    assert not (tmp_path / "bad/manifest.json").exists()
