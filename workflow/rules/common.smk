# Config loading and validation, wildcard constraints, and the helpers every rule uses.
import json
import os
import shlex
import textwrap

import numpy
from snakemake.utils import validate

from semmol.config import load_config, resolve_run
from semmol.config_layers import settle_source_kinds
from semmol.data.lock import LOCK_PATH
from semmol.methods import check_head_input, method_class

# An overlay that gives a dataset a source of another kind replaces its source: Snakemake's
# key-by-key merge of the --configfile files left the earlier kind's fields beside it.
settle_source_kinds(config)
# set_default=False: defaults come from the typed config; the validator would otherwise copy the
# defaults of every branch of the source union into the source.
validate(config, "../schemas/config.schema.json", set_default=False)
CFG = load_config(config)
RUNS = {name: resolve_run(CFG, name) for name in CFG.runs}
check_head_input(CFG, "the defaults")
for run_name, resolved in RUNS.items():
    check_head_input(resolved, f"run '{run_name}'")

# Bump a stage's version when the meaning of its output changes: Snakemake does not notice
# edits to the semmol package, but it re-runs a rule whose params changed.
STAGE_VERSION = {
    "download": 1,
    "download_model": 1,
    "standardize": 1,
    "conformers": 6,  # 6: PubChem fingerprints in the shards  # 5: a text description per molecule  # 4: MACCS keys and ErG fingerprints in the shards  # 3: shards carry a 2D depiction per molecule (the image view)
    "split": 1,
    "pretrain": 4,  # 4: descriptors standardized with corpus statistics (model.pt holds them)
    "centers": 1,
    "finetune": 5,  # 5: weighted view fusion, fingerprint cross-attention (model format 3)  # 4: every encoder at encoder_lr, lr schedules, descriptors standardized on train
    "baseline": 2,  # 2: one rule for every baseline kind (rf_ecfp4, chemprop)
    "fewshot": 2,  # 2: meta-training leaves out tasks too small for an episode
    "probe": 3,  # 3: embedding geometry in metrics.json; fingerprints probed once per split  # 2: a label fraction keeps ceil(f * n) train molecules, as fine-tuning does
    "aggregate": 6,  # 6: the Embedding geometry section  # 5: the Label efficiency section  # 4: the Probes section  # 3: seed ensembles, baselines by name, the few-shot section  # 2: the data table over the datasets (summary.md, summary.html, data.csv)
}

SPLIT_KINDS = r"scaffold|random|balanced_scaffold|column|none"
#: A label fraction below 1 in a path, as numpy writes it: 0.05, 0.1, 0.25
FRACTION = r"0\.\d+"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.-]+",
    bench=r"[A-Za-z0-9_.-]+",
    run=r"[A-Za-z0-9_.-]+",
    shard=r"\d+",
    seed=r"\d+",
    # a split kind, or a kind cut to a share of its train subset (label_fractions): scaffold-labels0.1
    split=rf"({SPLIT_KINDS})(-labels{FRACTION})?",
    kind=SPLIT_KINDS,
    fraction=FRACTION,
    baseline=r"rf_ecfp4|chemprop",
    row=r"[A-Za-z0-9_.-]+",


# Threads: every heavy rule's shell command starts with
#   THREADS=${SLURM_CPUS_PER_TASK:-<threads>}
# so that a job uses its SLURM allocation (srun sets SLURM_CPUS_PER_TASK for the step), and
# Snakemake's thread count elsewhere.
LAUNCH_PRETRAIN = os.path.join(workflow.basedir, "scripts", "launch_pretrain.sh")


def as_json(model):
    """A config section as compact JSON: passed to the CLI and, as a param, a re-run trigger."""
    return model.model_dump_json()


#: Dataset fields that the conformers stage alone reads (a param of its own there): left out of
#: what the other stages get, so that changing them re-runs the conformers stage and what follows.
CONFORMER_FIELDS = {"conformer_fraction"}


def download_json(wildcards):
    """What the download needs (and re-runs for): the source and the columns it checks."""
    dataset = CFG.datasets[wildcards.dataset]
    dataset = dataset.model_copy(update={"label_map": {}, "max_rows": None})
    return dataset.model_dump_json(exclude=CONFORMER_FIELDS)


def dataset_json(wildcards):
    name = getattr(wildcards, "dataset", None) or wildcards.bench
    return CFG.datasets[name].model_dump_json(exclude=CONFORMER_FIELDS)


def split_column_args(wildcards):
    """standardize's option carrying a benchmark's split column (split kind column), or none."""
    if CFG.split.kind != "column" or wildcards.dataset not in CFG.benchmarks:
        return ""
    return f"--split-column {shlex.quote(CFG.split.column)}"


def conformer_fraction(wildcards):
    return CFG.datasets[wildcards.dataset].conformer_fraction


def processes_per_node(pretrain):
    """torchrun processes per node: one per GPU when the config asks for GPUs, else pretrain.nproc."""
    return pretrain.gpus_per_node or pretrain.nproc


def pretraining_sections(name):
    """The options a run's pretraining depends on: the model, the pretraining section and its
    method's own section (so that options of other methods never re-run it)."""
    run = RUNS[name]
    sections = {"model": run.model.model_dump(mode="json"), "pretrain": run.pretrain.model_dump(mode="json")}
    own = method_class(run.pretrain.method).options_section
    if own is not None:
        sections[own] = getattr(run, own).model_dump(mode="json")
    return sections


def pretrain_json(wildcards):
    return json.dumps(
        {"standardize": CFG.standardize.model_dump(mode="json"), **pretraining_sections(wildcards.run)},
        separators=(",", ":"),
    )


def finetune_json(wildcards):
    run = RUNS[wildcards.run]
    return json.dumps(
        {
            "dataset": CFG.datasets[wildcards.bench].model_dump(mode="json", exclude=CONFORMER_FIELDS),
            "standardize": CFG.standardize.model_dump(mode="json"),
            "model": run.model.model_dump(mode="json"),
            "finetune": run.finetune.model_dump(mode="json"),
        },
        separators=(",", ":"),
    )


def shard_files(wildcards):
    return expand(
        "results/data/{dataset}/shards/{shard}.parquet",
        dataset=wildcards.dataset,
        shard=range(CFG.conformers.shards),
    )


def pretraining_of(run):
    """The run whose pretraining ``run`` fine-tunes from: the first run with the same
    pretraining options, so runs that differ only in fine-tuning share it."""
    own = (name for name in RUNS if RUNS[name].finetune.pretrained is None)
    return next(name for name in own if pretraining_sections(name) == pretraining_sections(run))


def pretrained_inputs(wildcards):
    """The pretrained model a fine-tuning run starts from: its own pretraining (shared where
    possible), a model made elsewhere (finetune.pretrained), or none for a from-scratch run."""
    finetune = RUNS[wildcards.run].finetune
    if finetune.init == "scratch":
        return []
    if finetune.pretrained is not None:
        return [f"resources/pretrained/{wildcards.run}/model.pt"]
    return [f"results/pretrain/{pretraining_of(wildcards.run)}/model.pt"]


def pretrained_runs():
    """The runs that are pretrained here (each shared pretraining once)."""
    runs = [
        pretraining_of(name)
        for name, run in RUNS.items()
        if run.finetune.init == "pretrained" and run.finetune.pretrained is None
    ]
    return list(dict.fromkeys(runs))


def pretrained_source(wildcards):
    """The source of a run's pretrained model made elsewhere, as JSON."""
    source = RUNS[wildcards.run].finetune.pretrained
    if source is None:
        raise ValueError(f"run '{wildcards.run}' sets no finetune.pretrained")
    return source.model_dump_json()


def pretrained_format_args(wildcards):
    """download-model's options for a model that needs converting (finetune.pretrained_format
    pretrain_gnns: the graph2d_hu architecture it is loaded into); none for a semmol model.pt."""
    run = RUNS[wildcards.run]
    if run.finetune.pretrained_format == "semmol":
        return ""
    encoder = shlex.quote(run.model.graph2d_hu.model_dump_json())
    return f"--format {run.finetune.pretrained_format} --encoder {encoder}"


def semantic_runs():
    """Pretrained runs with the SemMol objective: they leave center-library snapshots."""
    return [name for name in pretrained_runs() if RUNS[name].pretrain.method == "semmol"]


def fewshot_pretrained(wildcards):
    """The pretrained model a few-shot row starts from (its run's pretraining), or none."""
    run = CFG.fewshot.rows[wildcards.row].pretrained
    return [] if run is None else [f"results/pretrain/{pretraining_of(run)}/model.pt"]


def fewshot_model_json(wildcards):
    """The model section of a few-shot row: its pretrained run's, or the experiment's."""
    run = CFG.fewshot.rows[wildcards.row].pretrained
    return as_json(CFG.model if run is None else RUNS[run].model)


def fewshot_metrics():
    if CFG.fewshot.benchmark is None:
        return []
    return expand("results/fewshot/{row}/{seed}/metrics.json", row=list(CFG.fewshot.rows), seed=CFG.seeds)


def data_datasets():
    """The datasets that go through the data stages: the corpus when a run pretrains, and the benchmarks."""
    corpus = [CFG.corpus] if pretrained_runs() else []
    fewshot = [CFG.fewshot.benchmark] if CFG.fewshot.benchmark is not None else []
    return list(dict.fromkeys([*corpus, *CFG.benchmarks, *fewshot]))


def label_fraction_splits():
    """The split wildcards of the label fractions below 1: the split kind and the share
    (scaffold-labels0.1), each with its own split file, results, logs and benchmark files."""
    return [
        f"{CFG.split.kind}-labels{numpy.format_float_positional(fraction)}"
        for fraction in dict.fromkeys(CFG.label_fractions)
        if fraction < 1
    ]


def finetune_metrics(splits=None):
    """Every run's fine-tuning results on ``splits`` (default: the split kind, whole train subsets)."""
    return expand(
        "results/finetune/{run}/{bench}/{split}-{seed}/metrics.json",
        run=list(RUNS),
        bench=CFG.benchmarks,
        split=[CFG.split.kind] if splits is None else splits,
        seed=CFG.seeds,
    )


def baselines():
    """The baselines the config asks for."""
    return [name for name, on in (("rf_ecfp4", CFG.baseline.enabled), ("chemprop", CFG.baseline.chemprop.enabled)) if on]


def baseline_options(wildcards):
    """The baseline section as the CLI reads it, holding only this kind's options (so that
    changing one baseline's options never re-runs the other)."""
    if wildcards.baseline == "chemprop":
        return json.dumps({"chemprop": CFG.baseline.chemprop.model_dump(mode="json")}, separators=(",", ":"))
    return json.dumps(CFG.baseline.model_dump(mode="json", exclude={"chemprop"}), separators=(",", ":"))


def baseline_metrics(splits=None):
    """Every baseline's results on ``splits`` (default: the split kind, whole train subsets)."""
    return expand(
        "results/baseline/{baseline}/{bench}/{split}-{seed}/metrics.json",
        baseline=baselines(),
        bench=CFG.benchmarks,
        split=[CFG.split.kind] if splits is None else splits,
        seed=CFG.seeds,
    )


def probe_metrics():
    """The probe results the config asks for: every run that fine-tunes a pretrained model, and
    the fingerprints of each benchmark split."""
    if not CFG.probe.enabled:
        return []
    runs = [name for name, run in RUNS.items() if run.finetune.init == "pretrained"]
    splits = {"bench": CFG.benchmarks, "split": CFG.split.kind, "seed": CFG.seeds}
    return [
        *expand("results/probe/{run}/{bench}/{split}-{seed}/metrics.json", run=runs, **splits),
        *expand("results/probe_fingerprints/{bench}/{split}-{seed}/metrics.json", **splits),
    ]


def all_targets():
    return [
        "results/report/summary.md",
        # named too: Snakemake re-runs a job for a missing output only when a target asks for it
        "results/report/summary.html",
        *expand("results/pretrain/{run}/centers/library.json", run=pretrained_runs()),
    ]


def default_preset_notice(preset):
    """What a bare `snakemake` (no --configfile) runs, what that costs, and the lighter presets."""
    pretrainings = len(pretrained_runs())
    steps, batch = CFG.pretrain.steps, CFG.pretrain.batch_size
    corpus = CFG.datasets[CFG.corpus]
    molecules = "every molecule" if corpus.max_rows is None else f"{corpus.max_rows:,} molecules"
    epochs = max(run.finetune.epochs for run in RUNS.values())
    text = (
        f"semmol: no --configfile given, so this runs {preset}, the full-scale experiment:"
        f" {CFG.conformers.n_conformers} conformers for {molecules} of {CFG.corpus}, {pretrainings} pretrainings"
        f" of {steps:,} steps of batch {batch} ({pretrainings * steps * batch / 1e6:.1f} million molecules)"
        f" and {len(finetune_metrics())} fine-tunings of up to {epochs} epochs: work for a GPU node or a"
        " cluster (--profile profiles/slurm), days on CPU cores. Lighter presets (config/README.md):"
        " --configfile config/demo.yaml (minutes on 2 CPU cores; `make demo`), config/moleculenet-cpu.yaml"
        " (hours on 2 CPU cores) or config/moleculenet-gpu.yaml (one GPU)."
    )
    return textwrap.fill(text, 100, subsequent_indent="  ", break_on_hyphens=False)
