"""The Snakemake workflow end to end on a tiny config, its caching, its per-target DAGs, and the
faults it survives: a killed pretraining or fine-tuning run, and molecules that no stage can treat
as usual."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
import yaml

from ..conftest import expected_jobs, planned_counts, planned_jobs
from .conftest import config_variant

# The first test to ask for the tiny pipeline runs it (about 80 jobs with its label fractions),
# which on 2 shared cores takes longer than the suite's default per-test limit.
pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
SNAKEFILE = ROOT / "workflow" / "Snakefile"


def snakemake_command(workdir: Path, config: Path, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run Snakemake on the repository's workflow."""
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    command = [
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--configfile",
        str(config),
        "--cores",
        "2",
        *args,
    ]
    return command, env


def snakemake(workdir: Path, config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow in ``workdir`` with ``config``."""
    command, env = snakemake_command(workdir, config, *args)
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_config) -> Path:
    """The whole tiny experiment, run once for the tests of this module."""
    workdir = tmp_path_factory.mktemp("tiny")
    snakemake(workdir, tiny_config, "all")
    return workdir


def test_every_stage_writes_its_outputs(tiny_run):
    results = tiny_run / "results"
    for dataset in ("corpus", "freesolv", "bbbp"):
        manifest = json.loads((results / f"data/{dataset}/shards/manifest.json").read_text())
        assert manifest["molecules"] == pl.read_parquet(results / f"data/{dataset}/molecules.parquet").height
        assert (results / f"data/{dataset}/rejected.parquet").exists()
    split = json.loads((results / "benchmarks/bbbp/splits/scaffold-0.json").read_text())
    assert split["sizes"]["train"] > split["sizes"]["test"] > 0
    metrics = [
        json.loads(line) for line in (results / "pretrain/semmol/metrics.jsonl").read_text().splitlines()
    ]
    assert [m["step"] for m in metrics] == [2, 4, 6]
    assert (results / "pretrain/semmol/centers/step-000003.npz").exists()
    library = json.loads((results / "pretrain/semmol/centers/library.json").read_text())
    assert set(library["modalities"]) == {"smiles", "graph2d", "geom3d"}
    assert not (results / "pretrain/semmol_head").exists()  # it fine-tunes semmol's pretraining
    # every download recorded its source's file in the lock, beside the config, outside results/
    lock = json.loads((tiny_run / "config/sources.lock").read_text())["sources"]
    locked = {name: entry["sha256"] for entry in lock for name in entry["datasets"]}
    downloads = {name: json.loads((tiny_run / f"resources/datasets/{name}/manifest.json").read_text()) for name in locked}
    assert locked == {name: manifest["sha256"] for name, manifest in downloads.items()}
    assert sorted(locked) == ["bbbp", "corpus", "freesolv"]
    mmsa = json.loads((results / "pretrain/mmsa/metrics.jsonl").read_text().splitlines()[-1])
    assert {"loss_structure", "loss_memory", "loss_fusion_reconstruction", "fusion_weight_image"} <= set(mmsa)
    for run in ("semmol", "semmol_head", "mmsa", "scratch", "rf_ecfp4"):
        kind = "baseline" if run == "rf_ecfp4" else "finetune"
        result = json.loads((results / f"{kind}/{run}/bbbp/scaffold-1/metrics.json").read_text())
        assert result["metric"] == "roc_auc" and result["n"]["test"] == split["sizes"]["test"]


def test_summary_table_has_every_run_and_benchmark(tiny_run):
    summary = pl.read_csv(tiny_run / "results/report/summary.csv")
    rows = set(zip(summary["run"], summary["benchmark"]))
    for run in ("semmol", "semmol_head", "mmsa", "scratch", "rf_ecfp4"):
        assert {(run, "bbbp"), (run, "freesolv")} <= rows
    assert (summary.filter(pl.col("kind") != "published")["n"] == 2).all()
    markdown = (tiny_run / "results/report/summary.md").read_text()
    assert "semmol" in markdown and "rf_ecfp4" in markdown
    for plot in ("metrics", "finetune_curves", "pretrain_curves", "centers"):
        assert (tiny_run / f"results/report/plots/{plot}.png").stat().st_size > 1000


def test_label_fractions_cut_train_and_make_the_label_efficiency_section(tiny_run):
    results = tiny_run / "results"
    whole = json.loads((results / "benchmarks/bbbp/splits/scaffold-0.json").read_text())
    half = json.loads((results / "benchmarks/bbbp/splits/scaffold-labels0.5-0.json").read_text())
    assert (half["valid"], half["test"]) == (whole["valid"], whole["test"])
    assert set(half["train"]) < set(whole["train"]) and half["label_fraction"] == 0.5
    for kind, run in (("finetune", "semmol"), ("finetune", "scratch"), ("baseline", "rf_ecfp4")):
        result = json.loads((results / f"{kind}/{run}/bbbp/scaffold-labels0.5-0/metrics.json").read_text())
        assert result["label_fraction"] == 0.5 and result["n"]["train"] == len(half["train"])
        assert result["n"]["test"] == whole["sizes"]["test"]
    section = (results / "report/summary.md").read_text().split("## Label efficiency")[1]
    for bench in ("bbbp", "freesolv"):
        table = section.split(f"### {bench} (scaffold")[1].split("##")[0]
        assert "| row | 50% | 100% |" in table
        cell = r"[\d.]+ ± [\d.]+ \(2\)"  # both seeds scored at each share
        for row in ("semmol", "semmol_head", "mmsa", "scratch", "lgmcl", "rf_ecfp4 (baseline)"):
            assert re.search(rf"\| {re.escape(row)} \| {cell} \| {cell} \|", table), row
    assert "<h2>Label efficiency</h2>" in (results / "report/summary.html").read_text()
    assert (results / "report/plots/label_curves.png").stat().st_size > 1000


def test_probes_per_run_and_fingerprints_once_per_split_make_the_probe_sections(tiny_run):
    results = tiny_run / "results"
    run_probe = json.loads((results / "probe/semmol/bbbp/scaffold-0/metrics.json").read_text())
    assert {row["features"] for row in run_probe["rows"]} == {"pretrained", "random_init"}
    assert sorted(run_probe["geometry"]) == ["pretrained", "random_init"]
    assert not (results / "probe/scratch").exists()  # nothing pretrained to probe
    # each random-init twin kept for the runs of its architecture (here every pretrained run's differs)
    stored = [json.loads(path.read_text()) for path in (results / "probe_random_init").glob("*.json")]
    assert len(stored) == len(list((results / "probe").glob("*/*/*/metrics.json")))
    twin = [row for row in run_probe["rows"] if row["features"] == "random_init"]
    assert {"rows": twin, "geometry": run_probe["geometry"]["random_init"]} in stored
    fingerprints = json.loads((results / "probe_fingerprints/bbbp/scaffold-0/metrics.json").read_text())
    assert {row["features"] for row in fingerprints["rows"]} == {"ecfp4", "rdkit2d"}
    summary = (results / "report/summary.md").read_text()
    probes = summary.split("## Probes")[1].split("\n## ")[0]
    cell = r"[\d.]+ ± [\d.]+ \(2\)"  # both split seeds
    for row in ("semmol pretrained", "semmol random init", "ECFP4", "RDKit 2D"):
        assert re.search(rf"\| {re.escape(row)} \| linear \| {cell} \| {cell} \|", probes), row
    geometry = summary.split("## Embedding geometry")[1].split("\n## ")[0]
    assert re.search(r"\| mmsa pretrained \| [\d.]+ / -?[\d.]+ \| [\d.]+ / -?[\d.]+ \|", geometry)


def test_data_table_counts_every_dataset(tiny_run):
    data = (tiny_run / "results/report/summary.md").read_text().split("\n## Data\n")[1]
    lines = {line.split("|")[1].strip(): line for line in data.splitlines() if line.startswith("| ")}
    csv_rows = {row["dataset"]: row for row in pl.read_csv(tiny_run / "results/report/data.csv").to_dicts()}
    for dataset in ("corpus", "freesolv", "bbbp"):
        report = json.loads((tiny_run / f"results/data/{dataset}/standardize.json").read_text())
        statuses = json.loads((tiny_run / f"results/data/{dataset}/shards/manifest.json").read_text())[
            "statuses"
        ]
        counts = [report[key] for key in ("records", "accepted", "rejected_records", "bad_label_cells")]
        no_conformer = statuses["embed_failed"] + statuses["timeout"]
        cells = [cell.strip() for cell in lines[dataset].split("|")[2:-1]]
        assert cells[:4] == [str(count) for count in counts] and cells[4].startswith(f"{no_conformer} (")
        assert [
            csv_rows[dataset][key]
            for key in ("records", "accepted", "rejected_records", "bad_label_cells", "no_conformer")
        ] == [*counts, no_conformer]


def test_rerun_has_nothing_to_do(tiny_run, tiny_config):
    assert planned_jobs(snakemake(tiny_run, tiny_config, "all", "--dry-run")) == {}


def test_conformer_fraction_reruns_the_conformers_stage_and_what_follows(tiny_run, tiny_config, tmp_path):
    datasets = yaml.safe_load(tiny_config.read_text())["datasets"]
    datasets["corpus"]["conformer_fraction"] = 0.5
    config = config_variant(tiny_config, tmp_path / "fraction.yaml", datasets=datasets)
    jobs = planned_jobs(snakemake(tiny_run, config, "all", "--dry-run"))
    assert jobs["conformers"] == 2 and jobs["gather_shards"] == 1 and jobs["pretrain"] == 3
    # the corpus is read again from its molecules.parquet; no download, standardize or split
    assert not {"download", "standardize", "split"} & set(jobs)


def test_one_split_builds_only_its_download(tmp_path, tiny_config):
    jobs = planned_jobs(
        snakemake(tmp_path, tiny_config, "results/benchmarks/bbbp/splits/scaffold-0.json", "-n")
    )
    assert jobs == {"download": 1, "split": 1}


def test_one_finetune_target_builds_only_its_dependencies(tmp_path, tiny_config):
    target = "results/finetune/scratch/bbbp/scaffold-0/metrics.json"
    jobs = planned_jobs(snakemake(tmp_path, tiny_config, target, "-n"))
    assert jobs == {
        "download": 1,
        "standardize": 1,
        "conformers": 2,
        "gather_shards": 1,
        "split": 1,
        "finetune": 1,
    }
    target = "results/finetune/semmol_head/bbbp/scaffold-0/metrics.json"
    jobs = planned_jobs(snakemake(tmp_path, tiny_config, target, "-n"))
    assert (
        jobs["pretrain"] == 1 and jobs["download"] == 2 and "centers" not in jobs and "baseline" not in jobs
    )
    # semmol (shared by semmol_head), mmsa and lgmcl
    assert planned_jobs(snakemake(tmp_path, tiny_config, "all", "-n"))["pretrain"] == 3


@pytest.mark.parametrize(
    "preset", ["config.yaml", "demo.yaml", "moleculenet-cpu.yaml", "moleculenet-gpu.yaml"]
)
def test_presets_plan_the_whole_dag(tmp_path, preset):
    expected = expected_jobs(ROOT / "config" / preset)
    result = snakemake(tmp_path, ROOT / "config" / preset, "all", "-n")
    assert planned_counts(planned_jobs(result), expected) == expected
    assert "no --configfile given" not in result.stderr
    # every stage of the pipeline takes part in each preset
    stages = {"download", "standardize", "conformers", "split", "pretrain", "centers", "finetune"}
    assert stages <= set(expected)


def test_the_development_mirror_overlay_plans_the_cpu_presets_dag_from_local_files(tmp_path):
    # local-data.yaml gives url sources a local kind: the workflow settles the merged sources
    # before validating them, and every download reads the mirror.
    preset, mirror = ROOT / "config" / "moleculenet-cpu.yaml", ROOT / "config" / "overlays" / "local-data.yaml"
    result = snakemake(tmp_path, preset, "all", "-n", "-p", "--configfile", str(preset), str(mirror))
    expected = expected_jobs(preset)
    assert planned_counts(planned_jobs(result), expected) == expected
    downloads = [line for line in result.stdout.splitlines() if "python -m semmol download " in line]
    assert len(downloads) == expected["download"] == 5
    assert all('{"source":{"kind":"local","path":"../shared/data/' in line for line in downloads)
    assert '"kind":"url"' not in result.stdout


def test_a_bare_run_says_it_runs_the_full_scale_preset_and_what_that_costs(tmp_path):
    # No --configfile: config/config.yaml of the checkout, whatever the working directory.
    command, env = snakemake_command(tmp_path, ROOT / "config" / "config.yaml", "all", "-n")
    at = command.index("--configfile")
    bare = command[:at] + command[at + 2 :]
    result = subprocess.run(bare, capture_output=True, text=True, env=env, cwd=tmp_path, check=True)

    expected = expected_jobs(ROOT / "config" / "config.yaml")
    assert planned_counts(planned_jobs(result), expected) == expected
    notice = " ".join(result.stderr.split("Assuming")[0].split())  # printed before Snakemake's own lines
    assert notice.startswith("semmol: no --configfile given, so this runs config/config.yaml, the full-scale experiment:")
    pretrainings = expected["pretrain"]
    assert f"{pretrainings} pretrainings of 50,000 steps of batch 512" in notice
    assert f"{expected['finetune']} fine-tunings of up to 100 epochs" in notice
    assert "--configfile config/demo.yaml" in notice and "config/moleculenet-cpu.yaml" in notice


@pytest.mark.parametrize("runs_file", ["ablations.yaml", "finetuning.yaml", "methods.yaml"])
def test_run_sets_share_pretraining_where_they_can(tmp_path, runs_file):
    # The preset's runs plus the file's; runs that differ in fine-tuning only (e.g. from scratch,
    # or another head) add fine-tuning jobs and no pretraining.
    preset = ROOT / "config" / "moleculenet-cpu.yaml"
    runs = ROOT / "config" / "runs" / runs_file
    expected = expected_jobs(preset, runs)
    jobs = planned_jobs(snakemake(tmp_path, preset, "all", "-n", "--configfile", str(preset), str(runs)))
    assert planned_counts(jobs, expected) == expected


def test_demo_methods_plans_every_method_and_the_few_shot_stage(tmp_path):
    # config/demo.yaml runs SemMol and scratch only; demo-methods.yaml, layered on it, adds
    # InfoNCE, MMSA and LGM-CL (a pretraining each), the few-shot rows and three seeds.
    demo = ROOT / "config" / "demo.yaml"
    layered = (str(demo), str(ROOT / "config" / "demo-methods.yaml"))
    jobs = planned_jobs(snakemake(tmp_path, demo, "all", "-n", "--configfile", *layered))
    assert jobs["pretrain"] == 4
    assert jobs["finetune"] == 5 * 2 * 3  # runs x benchmarks x seeds
    assert jobs["fewshot"] == 4 * 3  # rows x seeds


def test_a_published_gnn_row_fetches_its_checkpoint_and_pretrains_nothing(tmp_path):
    preset = ROOT / "config" / "moleculenet-cpu.yaml"
    overlay = ROOT / "config" / "overlays" / "pretrain-gnns.yaml"
    target = "results/finetune/hu_gcn_supervised_contextpred/bbbp/scaffold-0/metrics.json"
    result = snakemake(tmp_path, preset, target, "-n", "-p", "--configfile", str(preset), str(overlay))
    jobs = planned_jobs(result)
    assert jobs["download_model"] == 1 and jobs["finetune"] == 1 and "pretrain" not in jobs
    assert "--format pretrain_gnns --encoder" in result.stdout and '"architecture":"gcn"' in result.stdout


def test_the_sider_overlay_plans_the_few_shot_rows_on_sider(tmp_path):
    # The CPU preset, the run set naming the few-shot rows, then the SIDER overlay: the five rows
    # x three seeds on SIDER's episodes, SemMol's one pretraining for the rows that start from it.
    preset = ROOT / "config" / "moleculenet-cpu.yaml"
    layers = [preset, ROOT / "config/runs/methods.yaml", ROOT / "config/overlays/fewshot-sider.yaml"]
    rows = ["metamm", "metamm_semmol", "transfer", "rf_ecfp4", "protonet_semmol"]
    targets = [f"results/fewshot/{row}/{seed}/metrics.json" for row in rows for seed in (0, 1, 2)]
    result = snakemake(tmp_path, preset, *targets, "-n", "-p", "--configfile", *map(str, layers))
    jobs = planned_jobs(result)
    assert jobs["fewshot"] == 15 and jobs["pretrain"] == 1 and "finetune" not in jobs
    assert jobs["download"] == 2  # SIDER, and the corpus of the pretraining
    assert "results/data/sider/shards/manifest.json" in result.stdout
    assert '"inner_lr":0.0001' in result.stdout and '"inner_contrast":true' in result.stdout


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, ROOT / "config" / "demo.yaml", "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def html_report(tiny_run, tiny_config) -> Path:
    """``snakemake --report`` of the tiny run."""
    snakemake(tiny_run, tiny_config, "--report", "report.html")
    return tiny_run / "report.html"


def test_html_report_embeds_the_results(html_report):
    html = html_report.read_text(errors="replace")
    for name in (
        "summary.html",
        "summary.md",
        "data.csv",
        "metrics.png",
        "pretrain_curves.png",
        "centers.png",
        "probe_curves.png",
        "label_curves.png",
    ):
        assert name in html, name


def assert_drawn(screenshot: Path, box: dict[str, float] | None, what: str) -> None:
    """Assert that the region ``box`` of a screenshot lies in it and shows something.

    Args:
        screenshot: the PNG file.
        box: the region in CSS pixels (a Playwright bounding box; device scale factor 1).
        what: what should be there, for the failure message.
    """
    from PIL import Image

    assert box is not None, f"{what}: not laid out"
    with Image.open(screenshot) as image:
        left, top = round(box["x"]), round(box["y"])
        right, bottom = left + round(box["width"]), top + round(box["height"])
        assert 0 <= left < right <= image.width and 0 <= top < bottom <= image.height, f"{what}: off screen"
        pixels = np.asarray(image.convert("RGB").crop((left, top, right, bottom))).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    drawn = 1 - counts.max() / counts.sum()  # share of pixels not in the background colour
    assert len(colours) > 16 and drawn > 0.03, f"{what}: {len(colours)} colours, {drawn:.1%} drawn"


def test_html_report_shows_tables_and_plots_in_a_browser(
    html_report, tiny_run, browser_page, artifact_dir, capsys
):
    from playwright.sync_api import expect

    page = browser_page
    page.goto(html_report.as_uri())
    # as a person would: the 'Results' category, then the eye button of the summary page
    page.get_by_role("link", name="Results", exact=True).click()
    page.get_by_role("row").filter(has_text="summary.html").locator("a[iconname=eye]").click()
    summary = page.frame_locator("iframe")
    # results (mean ± std), seed ensembles, label efficiency (one per benchmark), probes, embedding
    # geometry, data; each found by the heading above it
    expect(summary.locator("table")).to_have_count(7)
    results_table = summary.locator("table").first
    ensemble_table, probe_table, data_table = (
        summary.locator(f"xpath=//h2[normalize-space()='{heading}']/following-sibling::table[1]")
        for heading in ("Seed ensembles", "Probes", "Data")
    )
    expect(probe_table).to_contain_text("semmol")
    for table in (results_table, ensemble_table):
        for run in ("semmol", "semmol_head", "scratch", "rf_ecfp4 (baseline)"):
            expect(table.locator("th")).to_contain_text([run])
        expect(table.get_by_role("row")).to_have_count(3)  # header, freesolv, bbbp
    for dataset in ("corpus", "freesolv", "bbbp"):
        report = json.loads((tiny_run / f"results/data/{dataset}/standardize.json").read_text())
        cells = [dataset, str(report["records"]), str(report["accepted"]), str(report["rejected_records"])]
        expect(data_table.get_by_role("row").filter(has_text=dataset).locator("td")).to_contain_text(cells)
    plot = summary.get_by_role("img")
    expect(plot).to_be_visible()
    assert plot.evaluate("image => image.complete && image.naturalWidth") > 0
    # each element scrolled into view as a reader would, then a screenshot of what they see
    for what, element in (("results table", results_table), ("metrics plot", plot), ("data table", data_table)):
        element.scroll_into_view_if_needed()
        shot = artifact_dir / f"report-{what.replace(' ', '-')}.png"
        page.screenshot(path=shot)
        with capsys.disabled():
            print(f"\nscreenshot of the report's {what}: {shot}")
        assert_drawn(shot, element.bounding_box(), what)

    # back to the categories, then the pretraining curves
    page.get_by_role("link", name="Results", exact=True).first.click()
    page.get_by_role("link", name="Training curves", exact=True).click()
    page.get_by_role("row").filter(has_text="pretrain_curves.png").locator("a[iconname=eye]").click()
    curves = page.locator("img[src^='data:image/png']")
    expect(curves).to_be_visible()
    shot = artifact_dir / "report-pretrain-curves.png"
    page.screenshot(path=shot)
    with capsys.disabled():
        print(f"screenshot of the report's pretraining curves: {shot}")
    assert_drawn(shot, curves.bounding_box(), "pretraining curves")


def test_stage_timings_from_the_benchmark_files(tiny_run, tiny_config, capsys):
    from semmol.cli.main import main

    main(["bench", "timings", str(tiny_run / "benchmarks")])
    table = capsys.readouterr().out
    stages = {line.split("|")[1].strip(): int(line.split("|")[2]) for line in table.splitlines()[2:]}
    # a benchmark file per job; two stages are named for their folder, not their rule
    folder = {"gather_shards": "gather", "aggregate": "report"}
    assert stages == {folder.get(rule, rule): count for rule, count in expected_jobs(tiny_config).items()}


def test_chemprop_is_a_baseline_row_of_the_same_table(tmp_path, tiny_config):
    """chemprop enabled by config: trained by the pipeline on the same split and seed, in the table."""
    tiny = yaml.safe_load(tiny_config.read_text())
    chemprop = {"enabled": True, "command": str(ROOT / ".venv-chemprop/bin/chemprop"), "epochs": 3}
    config = config_variant(
        tiny_config,
        tmp_path / "chemprop.yaml",
        benchmarks=["freesolv"],
        seeds=[0],
        runs={"scratch": tiny["runs"]["scratch"]},
        baseline={**tiny["baseline"], "chemprop": chemprop},
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    snakemake(workdir, config, "all")
    metrics = json.loads((workdir / "results/baseline/chemprop/freesolv/scaffold-0/metrics.json").read_text())
    scratch = json.loads((workdir / "results/finetune/scratch/freesolv/scaffold-0/metrics.json").read_text())
    assert metrics["kind"] == "baseline" and metrics["n"] == scratch["n"]  # the same molecules
    summary = pl.read_csv(workdir / "results/report/summary.csv")
    assert set(zip(summary["run"], summary["kind"])) >= {("chemprop", "baseline"), ("rf_ecfp4", "baseline")}
    markdown = (workdir / "results/report/summary.md").read_text()
    assert "| chemprop (baseline) |" in markdown and "chemprop (baseline): chemprop's D-MPNN" in markdown


def test_fewshot_rows_in_the_report(tmp_path, tiny_config, moleculenet_dir):
    """Meta-MM, a random forest and SemMol prototypes on the same episodes of held-out Tox21 tasks."""
    tiny = yaml.safe_load(tiny_config.read_text())
    tox21 = {
        "source": {"kind": "local", "path": str(moleculenet_dir), "filename": "tox21.csv"},
        "targets": ["NR-AhR", "NR-ER", "SR-ARE", "SR-HSE", "SR-p53"],
        "task": "classification",
        "max_rows": 300,
    }
    fewshot = {
        "benchmark": "tox21", "train_tasks": ["NR-AhR", "NR-ER", "SR-ARE"], "test_tasks": ["SR-HSE", "SR-p53"],
        "k_shot": 4, "query_size": 8, "episodes": 2, "views": ["graph2d", "graph_attention"],
        "meta_steps": 2, "meta_batch": 2, "inner_steps": 1,
        "rows": {
            "metamm": {"learner": "maml"},
            "rf_ecfp4": {"learner": "rf"},
            "protonet_semmol": {"learner": "protonet", "pretrained": "semmol"},
        },
    }  # fmt: skip
    config = config_variant(
        tiny_config,
        tmp_path / "fewshot.yaml",
        datasets={**tiny["datasets"], "tox21": tox21},
        benchmarks=["freesolv"],
        seeds=[0],
        runs={"semmol": tiny["runs"]["semmol"]},
        model={**tiny["model"], "graph_attention": {"dim": 16, "layers": 1, "timesteps": 1}},
        fewshot=fewshot,
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    snakemake(workdir, config, "all")
    episodes = {}
    for row in fewshot["rows"]:
        metrics = json.loads((workdir / f"results/fewshot/{row}/0/metrics.json").read_text())
        assert set(metrics["per_task"]) == {"SR-HSE", "SR-p53"}
        episodes[row] = {task: len(scores["episodes"]) for task, scores in metrics["per_task"].items()}
    assert len({json.dumps(e, sort_keys=True) for e in episodes.values()}) == 1
    section = (workdir / "results/report/summary.md").read_text().split("## Few-shot")[1]
    for row in fewshot["rows"]:
        assert f"| {row} |" in section
    assert pl.read_csv(workdir / "results/report/fewshot.csv").height == 3 * 3  # rows x (2 tasks + mean)


def kill_snakemake_when(
    ready: Callable[[], bool], workdir: Path, config: Path, target: str, *, log: Path
) -> None:
    """Run Snakemake on ``target`` in a process group of its own and SIGKILL the whole group as
    soon as ``ready()`` holds; fails if Snakemake ends first or 600 s pass.

    Args:
        ready: polled every 50 ms.
        workdir: Snakemake's working directory.
        config: the config file.
        target: the file asked for.
        log: where Snakemake's output goes.
    """
    command, env = snakemake_command(workdir, config, target)
    with log.open("w") as handle:
        process = subprocess.Popen(
            command, env=env, cwd=workdir, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 600
    while not ready():
        assert process.poll() is None, f"snakemake ended before the kill:\n{log.read_text()[-6000:]}"
        assert time.monotonic() < deadline, "not ready for the kill within 600 s"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_pretraining_resumes_to_the_same_model(tmp_path, tiny_config):
    """SIGKILL to the whole Snakemake process group mid-run; the re-run continues from the
    checkpoint and ends with the weights and loss curve of a run that was never killed."""
    pretrain = {"steps": 60, "batch_size": 16, "warmup_steps": 2, "checkpoint_every": 10, "log_every": 1}
    config = config_variant(tiny_config, tmp_path / "resume.yaml", pretrain=pretrain)
    target, out = "results/pretrain/semmol/model.pt", "results/pretrain/semmol"
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    killed.mkdir()
    snakemake(killed, config, "results/data/corpus/shards/manifest.json")
    shutil.copytree(killed, straight, symlinks=True)  # the same corpus shards and Snakemake records
    snakemake(straight, config, target)

    history = killed / out / "_ckpt/metrics.jsonl"
    # killed after the step-10 checkpoint, with steps past it logged that the re-run must redo
    kill_snakemake_when(
        lambda: history.exists() and history.read_text().count("\n") >= 12,
        killed,
        config,
        target,
        log=tmp_path / "killed.log",
    )
    logged = history.read_text()
    time.sleep(2)  # a training process that outlived the kill (torchrun's worker) would log on
    assert history.read_text() == logged
    assert not (killed / target).exists() and not (killed / out / "metrics.jsonl").exists()

    snakemake(killed, config, target, "--unlock")  # a SIGKILL leaves Snakemake's lock behind
    snakemake(killed, config, target)  # no --rerun-incomplete: the kill left no declared output
    resumed = re.search(r"resumed from \S+ at step (\d+)", (killed / "logs/pretrain/semmol.log").read_text())
    assert resumed is not None and int(resumed[1]) >= 10
    models = [torch.load(workdir / target, weights_only=True) for workdir in (straight, killed)]
    weights = [
        {**model["state_dict"], **{f"method.{k}": v for k, v in model["extra"]["method"].items()}}
        for model in models
    ]
    assert weights[0].keys() == weights[1].keys()
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
    curves = [
        [json.loads(line) for line in (workdir / out / "metrics.jsonl").read_text().splitlines()]
        for workdir in (straight, killed)
    ]
    assert [m["step"] for m in curves[1]] == list(range(1, 61))
    assert [m["loss"] for m in curves[1]] == [m["loss"] for m in curves[0]]



def test_killed_fine_tuning_resumes_to_the_same_result(tmp_path, tiny_config):
    """SIGKILL to the whole Snakemake process group mid fine-tuning; the re-run continues from
    the last epoch's checkpoint and ends with the metrics, predictions and weights of a run that
    was never killed, its checkpoint gone. From scratch on BBBP: no pretraining to wait for."""
    finetune = {"epochs": 6, "patience": 6, "batch_size": 32, "dropout": 0.2}
    config = config_variant(tiny_config, tmp_path / "resume.yaml", finetune=finetune)
    out = "results/finetune/scratch/bbbp/scaffold-0"
    target = f"{out}/metrics.json"
    killed, straight = tmp_path / "killed", tmp_path / "straight"
    killed.mkdir()
    inputs = ["results/data/bbbp/shards/manifest.json", "results/benchmarks/bbbp/splits/scaffold-0.json"]
    snakemake(killed, config, *inputs)
    shutil.copytree(killed, straight, symlinks=True)  # the same shards, split and Snakemake records
    snakemake(straight, config, target)

    log = killed / "logs/finetune/scratch/bbbp/scaffold-0.log"
    # the epoch-3 line comes after the epoch-2 checkpoint: killed with an epoch or more still to do
    kill_snakemake_when(
        lambda: log.exists() and "epoch 3:" in log.read_text(),
        killed,
        config,
        target,
        log=tmp_path / "killed.log",
    )
    assert (killed / out / "_ckpt/last.pt").exists()
    outputs = ("metrics.json", "predictions.parquet", "model.pt")
    assert not any((killed / out / name).exists() for name in outputs)

    snakemake(killed, config, target, "--unlock")  # a SIGKILL leaves Snakemake's lock behind
    snakemake(killed, config, target)  # no --rerun-incomplete: the kill left no declared output
    resumed = re.search(r"resumed from \S+ after epoch (\d+)", log.read_text())
    assert resumed is not None and 2 <= int(resumed[1]) < 6
    assert not (killed / out / "_ckpt").exists()
    metrics = [json.loads((workdir / target).read_text()) for workdir in (straight, killed)]
    for record in metrics:
        del record["seconds"]  # wall time: the resumed run's counts the epochs after the checkpoint
    assert metrics[0] == metrics[1] and len(metrics[1]["history"]) == 6
    predictions = [pl.read_parquet(workdir / out / "predictions.parquet") for workdir in (straight, killed)]
    assert predictions[0].equals(predictions[1])
    models = [torch.load(workdir / out / "model.pt", weights_only=True) for workdir in (straight, killed)]
    assert models[0]["state_dict"].keys() == models[1]["state_dict"].keys()
    for name, value in models[0]["state_dict"].items():
        assert torch.equal(value, models[1]["state_dict"][name]), name

#: Molecules most benchmarks do not have, each kept with its label (name, SMILES).
ODD_MOLECULES = [
    (
        "cyanocobalamin, dative bonds to [Co]",
        "CC1=C2C(CCC(N)=O)C(C)(CC(N)=O)C3(C)C4C(CC(N)=O)C5(C)CCC(=O)NCC(C)OP(=O)([O-])OC6C(CO)OC("
        "n7c[n](->[Co]89([C]#N)([N]23)<-[N]2=C(C=C3C(CCC(N)=O)C(C)(CC(N)=O)C1=[N]->83)C(C)(C)C(CCC(N)=O)"
        "C2=C(C)C5=[N]->94)c1cc(C)c(C)cc17)C6O",
    ),
    ("ferrocene, ionic", "[CH-]1C=CC=C1.[CH-]1C=CC=C1.[Fe+2]"),
    ("ferrocene, dative", "C1=CC=C[CH]1->[Fe]<-[CH]1C=CC=C1"),
    ("cisplatin, dative", "[NH3]->[Pt](<-[NH3])(Cl)Cl"),
    ("cisplatin, fragments", "N.N.Cl[Pt]Cl"),
    ("ammonia borane", "N->B"),
    ("gadolinium chloride", "[Gd+3].[Cl-].[Cl-].[Cl-]"),
    ("carbon-13 methane", "[13CH4]"),
    ("ethanol-d3", "[2H]C([2H])([2H])CO"),
    ("sodium benzoate", "[Na+].[O-]C(=O)c1ccccc1"),
    ("tetramethylammonium chloride", "C[N+](C)(C)C.[Cl-]"),
    ("glycine zwitterion", "[NH3+]CC([O-])=O"),
]
#: Records no stage can use, which must be rejected with a reason (name, SMILES).
UNUSABLE = [("ring never closed", "C1CC"), ("pentavalent carbon", "C(C)(C)(C)(C)C"), ("dihydrogen", "[H][H]")]


def test_odd_molecules_never_fail_a_benchmark(tmp_path, tiny_config, moleculenet_dir):
    """Metal complexes, dative bonds, isotopes, salts and a 168-heavy-atom peptide beside 60
    ESOL molecules: every fine-tuning job succeeds, and every odd record is either predicted or
    rejected with a reason."""
    import csv

    from rdkit import Chem

    from semmol.evaluate.records import PRED_SUFFIX

    with (moleculenet_dir / "esol.csv").open() as handle:
        esol = [
            (row["smiles"], row["measured log solubility in mols per litre"])
            for row in csv.DictReader(handle)
        ]
    peptide = ("20-residue peptide", Chem.MolToSmiles(Chem.MolFromSequence("ACDEFGHIKLMNPQRSTVWY")))
    odd = [*ODD_MOLECULES, peptide]
    records = esol[:60] + [(smiles, "-1.5") for _, smiles in odd + UNUSABLE]
    table = tmp_path / "odd.csv"
    with table.open("w", newline="") as handle:
        csv.writer(handle).writerows([("smiles", "logS"), *records])
    tiny = yaml.safe_load(tiny_config.read_text())
    datasets = {
        "corpus": tiny["datasets"]["corpus"],
        "odd": {
            "source": {"kind": "local", "path": str(table)},
            "smiles_column": "smiles",
            "targets": ["logS"],
            "task": "regression",
        },
    }
    config = config_variant(
        tiny_config, tmp_path / "odd.yaml", datasets=datasets, benchmarks=["odd"], seeds=[0]
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    snakemake(workdir, config, "all")

    results = workdir / "results"
    rejected = pl.read_parquet(results / "data/odd/rejected.parquet")
    reasons = dict(zip(rejected["row"], rejected["reason"]))
    shard_rows = pl.concat(
        pl.read_parquet(path, columns=["row", "status"])
        for path in sorted((results / "data/odd/shards").glob("*.parquet"))
    )
    statuses = dict(zip(shard_rows["row"], shard_rows["status"]))
    manifest = json.loads((results / "data/odd/shards/manifest.json").read_text())
    assert sum(manifest["statuses"].values()) == manifest["molecules"] == len(records) - len(UNUSABLE)
    split = json.loads((results / "benchmarks/odd/splits/scaffold-0.json").read_text())
    dropped = {entry["row"]: entry["reason"] for entry in split["dropped"]}  # RDKit cannot parse them
    odd_rows = {60 + i: name for i, (name, _) in enumerate(odd)}
    unusable_rows = {60 + len(odd) + i: name for i, (name, _) in enumerate(UNUSABLE)}
    assert set(dropped) == set(list(unusable_rows)[:2]) and all(dropped.values())
    for run, kind in [
        ("semmol", "finetune"),
        ("semmol_head", "finetune"),
        ("scratch", "finetune"),
        ("rf_ecfp4", "baseline"),
    ]:
        out = results / kind / run / "odd/scaffold-0"
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["test"] is not None and math.isfinite(metrics["test"]), (run, metrics["test"])
        predictions = pl.read_parquet(out / "predictions.parquet")
        predicted = dict(zip(predictions["row"], predictions[f"logS{PRED_SUFFIX}"]))
        for row, name in odd_rows.items():
            assert row in predicted and math.isfinite(predicted[row]), (run, name)
            assert statuses[row] in {"ok", "mmff_failed", "embed_failed", "timeout"}, (run, name)
        for row, name in unusable_rows.items():
            assert row not in predicted and reasons[row], (run, name)
        assert sum(metrics["n"].values()) + sum(metrics["missing"].values()) == len(records) - len(dropped)
