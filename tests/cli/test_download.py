"""``semmol download`` end to end, with the flags workflow/rules/data.smk passes."""

from __future__ import annotations

import json
import subprocess
import sys

from semmol.cli.main import main

MOLECULES_CSV = "smiles,activity\nCCO,1\nc1ccccc1,0\n"


def test_download_local_source_writes_manifest(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "mols.csv").write_text(MOLECULES_CSV)
    dataset = {
        "source": {"kind": "local", "path": str(tmp_path / "mirror"), "filename": "mols.csv"},
        "targets": ["activity"],
        "task": "classification",
    }
    out_dir = tmp_path / "resources" / "datasets" / "mols"

    main(["download", "--name", "mols", "--dataset", json.dumps(dataset), "--out-dir", str(out_dir)])

    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert (manifest["name"], manifest["file"], manifest["rows"]) == ("mols", "mols.csv", 2)
    assert (out_dir / "mols.csv").read_text() == MOLECULES_CSV


def test_download_bad_source_prints_one_error_line(tmp_path):
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "mols.csv").write_text(MOLECULES_CSV)
    dataset = {"source": {"kind": "local", "path": str(tmp_path / "mirror"), "filename": "mol.csv"}}

    flags = ["--name", "mols", "--dataset", json.dumps(dataset), "--out-dir", str(tmp_path / "out")]
    result = subprocess.run(
        [sys.executable, "-m", "semmol", "download", *flags], capture_output=True, text=True, check=False
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"semmol download: error: local source file {tmp_path / 'mirror' / 'mol.csv'} not found; "
        f"did you mean 'mols.csv'? ({tmp_path / 'mirror'} holds: mols.csv)"
    )
    assert not (tmp_path / "out" / "manifest.json").exists()
