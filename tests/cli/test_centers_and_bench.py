"""``semmol centers`` and ``semmol bench`` end to end on the tiny benchmark shards."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from semmol.cli.main import main
from semmol.config import PretrainJob
from semmol.train.pretrain import pretrain

pytestmark = pytest.mark.slow

JOB = {
    "model": {
        "proj_dim": 16,
        "smiles": {"dim": 16, "layers": 1, "heads": 2, "max_len": 64},
        "graph2d": {"dim": 16, "layers": 1},
        "geom3d": {"dim": 16, "layers": 1, "num_gaussians": 8},
    },
    "pretrain": {"method": "infonce", "steps": 2, "batch_size": 8, "warmup_steps": 1},
}


def centers(model: Path, manifest: Path, n_centers: int, out: Path) -> None:
    main(["centers", "--model", str(model), "--shards-manifest", str(manifest), "--n-centers", str(n_centers),
          "--out-dir", str(out)])  # fmt: skip


def test_centers_writes_a_library_per_modality(tiny_benchmark, tmp_path):
    pretrain(PretrainJob.model_validate(JOB), shards_manifest=tiny_benchmark["manifest"], out_dir=tmp_path)
    out = tmp_path / "centers"
    centers(tmp_path / "model.pt", tiny_benchmark["manifest"], 4, out)
    library = json.loads((out / "library.json").read_text())
    assert set(library["modalities"]) == {"smiles", "graph2d", "geom3d"}
    for modality, stats in library["modalities"].items():
        matrix = np.load(out / stats["centers"])
        assert matrix.shape == (4, 16)
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, rtol=1e-4)
        assert sum(stats["counts"]) == stats["molecules"] > 0
        assert 0 <= stats["inertia"] <= 2 and stats["usage_entropy"] <= stats["max_entropy"] + 1e-9
        index = faiss.read_index(str(out / stats["index"]))
        assert index.ntotal == 4
    with pytest.raises(SystemExit, match="fewer than the 4096 centers"):
        centers(tmp_path / "model.pt", tiny_benchmark["manifest"], 4096, tmp_path / "too_many")


def test_bench_prints_figures(tiny_benchmark, moleculenet_dir, capsys):
    main(["bench", "conformers", str(moleculenet_dir / "esol.csv"), "--limit", "6"])
    figures = json.loads(capsys.readouterr().out)
    assert (
        figures["molecules"] == 6
        and figures["molecules_per_cpu_second"] > 0
        and 0 <= figures["failure_rate"] <= 1
    )
    main(["bench", "pretrain", str(tiny_benchmark["manifest"]), "--job", json.dumps(JOB), "--steps", "2"])
    figures = json.loads(capsys.readouterr().out)
    assert figures["steps_timed"] == 2 and figures["molecules_per_second"] > 0 and figures["peak_rss_mb"] > 0


def _ratio_rows(text: str) -> dict[str, list[str]]:
    rows = [line.split("|")[1:-1] for line in text.strip().splitlines()[2:]]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


def test_bench_ratios_print_semmol_beside_the_reference(tiny_benchmark, moleculenet_dir, capsys):
    main(["bench", "conformer-ratio", str(moleculenet_dir / "esol.csv"), "--limit", "6"])
    rows = _ratio_rows(capsys.readouterr().out)
    assert len(rows) == 6 and all(float(cells[2]) > 0 for cells in rows.values())
    parts = {"MACCS keys and ErG", "the PubChem fingerprint", "the text description"}
    assert {f"of which {part} (s/molecule)" for part in parts} <= set(rows)
    main(["bench", "loader-ratio", str(tiny_benchmark["manifest"]), "--limit", "16", "--batch-size", "8"])
    rows = _ratio_rows(capsys.readouterr().out)
    assert [cells[3] for cells in rows.values()] == [">= 10", ">= 10"]
    main(
        ["bench", "pretrain-ratio", str(tiny_benchmark["manifest"]), "--job", json.dumps(JOB), "--steps", "2"]
    )
    rate, wait = _ratio_rows(capsys.readouterr().out).values()
    assert float(rate[0]) > 0 and 0 <= float(wait[0]) <= float(wait[1]) and 0 <= float(wait[2]) <= 1
    small = {"description": {"dim": 16, "layers": 1, "heads": 2}, "graph2d": {"dim": 16, "layers": 1}}
    main(
        ["bench", "encoder-ratio", str(tiny_benchmark["manifest"]), "--model", json.dumps(small)]
        + ["--modalities", "description", "--batch-size", "4", "--batches", "2"]
    )
    rows = _ratio_rows(capsys.readouterr().out)
    assert list(rows) == [
        "encoder graph2d (gine): ms per molecule, training step vs graph2d",
        "encoder description (deberta): ms per molecule, training step vs graph2d",
    ]
    assert float(rows[list(rows)[0]][2]) == 1.0 and float(rows[list(rows)[1]][0]) > 0


def test_bench_memory_ratio_times_the_corpus_and_its_copies(tiny_benchmark, capsys):
    streamed = JOB | {"pretrain": JOB["pretrain"] | {"stream_shards": 1}}
    main(
        ["bench", "memory-ratio", str(tiny_benchmark["manifest"]), "--job", json.dumps(streamed)]
        + ["--steps", "2", "--copies", "3"]
    )
    ((figure, (large, small, ratio, target)),) = _ratio_rows(capsys.readouterr().out).items()
    assert "3x vs 1x the corpus (144 vs 48 molecules, stream_shards 1)" in figure
    assert (
        float(large) > 0
        and float(small) > 0
        and float(ratio) == pytest.approx(float(large) / float(small), rel=1e-2)
    )
    assert target == "<= 1.10"


def test_bench_timings_sums_per_stage_and_skips_named_folders(tmp_path, capsys):
    def job(path: str, seconds: float, rss: float) -> None:
        file = tmp_path / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:00\t{rss}\n")

    job("finetune/semmol/esol/scaffold-0.tsv", 60, 100)
    job("finetune/semmol/esol/scaffold-1.tsv", 120, 300)
    job("finetune/metamm/esol/scaffold-0.tsv", 600, 900)
    job("pretrain/semmol.tsv", 1800, 2000)
    job("pretrain/metamm.tsv", 900, 4000)
    main(["bench", "timings", str(tmp_path), "--skip", "metamm"])
    lines = capsys.readouterr().out.splitlines()
    assert "| finetune | 2 | 3.0 | 2.0 | 300 |" in lines  # metamm's jobs left out, in a folder
    assert "| pretrain | 1 | 30.0 | 30.0 | 2000 |" in lines
    main(["bench", "timings", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert (
        "| finetune | 3 | 13.0 | 10.0 | 900 |" in lines and "| pretrain | 2 | 45.0 | 30.0 | 4000 |" in lines
    )
