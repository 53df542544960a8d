import csv
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from snakemake.utils import update_config

from semmol.config import load_config, options_doc, resolve_run, schema_text
from semmol.config_layers import merge_config_files

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_typed_config():
    committed = (ROOT / "workflow/schemas/config.schema.json").read_text()
    assert committed == schema_text(), "schema drifted: run `make schema`"


def test_config_readme_documents_every_option():
    readme = (ROOT / "config/README.md").read_text()
    assert readme == options_doc(readme), "config/README.md options drifted: run `make schema`"


PRESETS = sorted(p.stem for p in (ROOT / "config").glob("*.yaml"))
OVERLAYS = sorted(p.stem for p in (ROOT / "config/overlays").glob("*.yaml"))
#: The MoleculeNet presets: the ones config/overlays/local-data.yaml reads from the development mirror.
MOLECULENET_PRESETS = ["config", "moleculenet-cpu", "moleculenet-gpu"]


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_validate(preset):
    config = load_config(_preset(preset))
    for name, run in config.runs.items():
        resolved = resolve_run(config, name).model_dump(mode="json")
        for dotted, value in run.overrides.items():  # each override reaches the option it names
            option = resolved
            for key in dotted.split("."):
                option = option[key]
            assert option == value, f"{preset}: run '{name}' sets {dotted} to {value!r}, resolved {option!r}"


@pytest.mark.parametrize("preset", PRESETS + [f"overlays/{name}" for name in OVERLAYS])
def test_shipped_sources_pin_their_content(preset):
    raw = yaml.safe_load((ROOT / "config" / f"{preset}.yaml").read_text())
    for name, dataset in (raw.get("datasets") or {}).items():
        source = dataset.get("source", {})
        if source.get("kind") == "url":
            assert source.get("sha256"), f"{preset}: dataset '{name}' downloads {source['url']} unchecked"
            assert "/main/" not in source["url"] and "/master/" not in source["url"], name
        if source.get("kind") == "hf":
            # A branch is pinned by the lock the download stage writes (config/sources.lock), to
            # the commit it resolved to and the sha256 of the one file the pattern names.
            assert not set("*?[") & set(source["pattern"]), f"{preset}: dataset '{name}' picks its file by a glob"


def test_a_url_has_one_checksum_in_every_preset_and_overlay():
    checksums: dict[str, set[str]] = {}
    for path in (ROOT / "config").rglob("*.yaml"):
        for dataset in (yaml.safe_load(path.read_text()).get("datasets") or {}).values():
            source = dataset.get("source", {})
            if source.get("kind") == "url":
                checksums.setdefault(source["url"], set()).add(source["sha256"])
    assert checksums and {url: sums for url, sums in checksums.items() if len(sums) > 1} == {}


def test_only_development_overlays_read_the_development_mirror():
    # What a user runs reads public sources; the mirror beside the checkout is for development.
    mentions = sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "config").rglob("*.yaml") if "../shared" in path.read_text()
    )
    assert mentions == [
        "config/overlays/fewshot-sider-local.yaml",
        "config/overlays/local-data.yaml",
        "config/overlays/pretrain-gnns-local.yaml",
    ]


#: Presets layered on another one (`--configfile config/BASE.yaml config/LAYER.yaml`): read merged after it.
LAYERED_ON = {"demo-methods": "demo"}


def _preset(name: str = "demo") -> dict:
    raw = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())
    if name not in LAYERED_ON:
        return raw
    merged = _preset(LAYERED_ON[name])
    update_config(merged, raw)
    return merged


def test_unknown_option_is_rejected():
    raw = _preset()
    raw["pretrain"]["stepz"] = 3
    with pytest.raises(ValidationError, match="stepz"):
        load_config(raw)


def test_benchmark_must_be_a_dataset_with_task():
    raw = _preset()
    raw["benchmarks"].append("nope")
    with pytest.raises(ValidationError, match="benchmark 'nope'"):
        load_config(raw)


def test_label_fractions_default_to_the_whole_train_subset_and_lie_in_0_1():
    assert load_config(_preset()).label_fractions == [1.0]
    assert load_config({**_preset(), "label_fractions": [0.05, 0.5, 1.0]}).label_fractions == [0.05, 0.5, 1.0]
    for bad in ([0.0], [1.5], [-0.1], []):
        with pytest.raises(ValidationError, match="label_fractions"):
            load_config({**_preset(), "label_fractions": bad})


def test_run_overrides_are_validated():
    raw = _preset()
    raw["runs"]["bad"] = {"overrides": {"pretrain.no_such_option": 1}}
    with pytest.raises(ValidationError, match="names no option"):
        load_config(raw)
    raw["runs"]["bad"] = {"overrides": {"pretrain.method": "magic"}}
    with pytest.raises(ValidationError):
        load_config(raw)


def test_run_override_applies_only_to_that_run():
    config = load_config(_preset("demo-methods"))
    assert resolve_run(config, "infonce").pretrain.method == "infonce"
    assert resolve_run(config, "semmol").pretrain.method == "semmol"


@pytest.mark.parametrize("run_set", sorted(p.name for p in (ROOT / "config/runs").glob("*.yaml")))
def test_run_sets_merge_into_a_preset(run_set):
    # The MoleculeNet preset: it fuses every view, so each fine-tuning variant differs from it.
    raw = _preset("moleculenet-cpu")
    raw["runs"].update(yaml.safe_load((ROOT / "config/runs" / run_set).read_text())["runs"])
    config = load_config(raw)
    resolved = {name: resolve_run(config, name) for name in config.runs}
    assert len({r.model_dump_json() for r in resolved.values()}) == len(resolved), (
        "two runs are the same experiment"
    )


def _with_overlays(*overlays: str, preset: str = "moleculenet-cpu") -> dict:
    """A preset (default the CPU one) with the overlays merged in order, as `--configfile` merges them."""
    return merge_config_files([ROOT / "config" / f"{preset}.yaml", *(ROOT / "config/overlays" / o for o in overlays)])


#: Overlays layered on another preset than the CPU one.
OVERLAY_PRESET = {"url-sources.yaml": "config"}


@pytest.mark.parametrize("overlay", sorted(p.name for p in (ROOT / "config/overlays").glob("*.yaml")))
def test_overlays_merge_into_their_preset(overlay):
    # Merged as `--configfile config/moleculenet-cpu.yaml config/overlays/<overlay>` merges them;
    # an overlay `<base>-local.yaml` goes after `<base>.yaml`.
    base = [overlay.removesuffix("-local.yaml") + ".yaml"] if overlay.endswith("-local.yaml") else []
    preset = OVERLAY_PRESET.get(overlay, "moleculenet-cpu")
    config = load_config(_with_overlays(*base, overlay, preset=preset))
    for run in config.runs:
        resolve_run(config, run)
    assert config != load_config(_preset(preset)), f"{overlay} changes nothing"


def _reads(dataset) -> tuple:
    """What a dataset entry says about the file: its source and columns."""
    return dataset.source, dataset.smiles_column, dataset.targets


@pytest.mark.parametrize("preset", MOLECULENET_PRESETS)
def test_local_data_reads_every_dataset_from_the_mirror_and_changes_nothing_else(preset):
    original = load_config(_preset(preset))
    local = load_config(_with_overlays("local-data.yaml", preset=preset))

    for name, dataset in local.datasets.items():
        assert dataset.source.kind == "local" and dataset.source.path.startswith("../shared/data/"), name
        assert dataset.model_dump(exclude={"source", "smiles_column", "targets"}) == original.datasets[
            name
        ].model_dump(exclude={"source", "smiles_column", "targets"})
    assert local.model_copy(update={"datasets": original.datasets}) == original


def test_config_yaml_with_url_sources_reads_the_cpu_presets_files():
    # The Hugging Face copies' alternative is the original CSVs, the files the MoleculeNet presets read.
    with_urls = load_config(_with_overlays("url-sources.yaml", preset="config"))
    cpu = load_config(_preset("moleculenet-cpu"))
    assert {name: _reads(d) for name, d in with_urls.datasets.items()} == {name: _reads(d) for name, d in cpu.datasets.items()}
    assert [d.source.kind for d in load_config(_preset("config")).datasets.values()].count("hf") == 3


def test_local_data_mirror_holds_the_configured_columns(full_moleculenet_dir, tmp_path):
    # Every MoleculeNet preset's datasets, as local-data.yaml reads them, fetched from the mirror.
    from semmol.data.sources import fetch

    datasets = {}
    for preset in MOLECULENET_PRESETS:
        datasets.update(load_config(_with_overlays("local-data.yaml", preset=preset)).datasets)
    for name, dataset in datasets.items():
        path = dataset.source.path.replace("../shared/data", str(full_moleculenet_dir.parent))
        mirrored = dataset.model_copy(update={"source": dataset.source.model_copy(update={"path": path})})
        assert json.loads(fetch(mirrored, name=name, out_dir=tmp_path / name).read_text())["rows"] > 1000, name


def test_pretrain_gnns_rows_pin_their_checkpoints_and_have_scratch_twins():
    remote = load_config(_with_overlays("pretrain-gnns.yaml"))
    local = load_config(_with_overlays("pretrain-gnns.yaml", "pretrain-gnns-local.yaml"))
    pretrained = [name for name in remote.runs if re.fullmatch(r"hu_[a-z]+_(supervised_)?contextpred", name)]
    assert len(pretrained) == 6
    for name in pretrained:
        run, dev = resolve_run(remote, name), resolve_run(local, name)
        source, architecture = run.finetune.pretrained, run.model.graph2d_hu.architecture
        assert run.finetune.pretrained_format == "pretrain_gnns" and run.finetune.modalities == ["graph2d_hu"]
        assert source.kind == "url" and len(source.sha256) == 64
        assert "/8b20528a83b8869ce16451305b32c827258d19a3/" in source.url
        assert source.url.endswith(f"/{name.removeprefix('hu_')}.pth") and name.startswith(f"hu_{architecture}_")
        assert dev.finetune.pretrained == source.model_copy(
            update={"url": f"file:../shared/pretrained/pretrain-gnns/{source.url.rsplit('/', 1)[1]}"}
        )
        scratch = resolve_run(remote, f"hu_{architecture}_scratch")
        assert scratch.finetune.init == "scratch"
        # the twin differs in its initial weights only
        as_scratch = run.model_copy(
            update={"finetune": run.finetune.model_copy(update={"init": "scratch", "pretrained": None, "pretrained_format": "semmol"})}
        )
        assert as_scratch == scratch


def test_the_our_recipe_pair_fine_tunes_the_same_gcn_by_the_presets_recipe():
    config = load_config(_with_overlays("pretrain-gnns.yaml"))
    theirs = resolve_run(config, "hu_gcn_supervised_contextpred")
    ours, scratch = (resolve_run(config, f"hu_gcn_{name}_our_recipe") for name in ("supervised_contextpred", "scratch"))
    assert ours.model == theirs.model and ours.finetune.pretrained == theirs.finetune.pretrained
    checkpoint = {"pretrained": theirs.finetune.pretrained, "pretrained_format": "pretrain_gnns"}
    assert ours.finetune == config.finetune.model_copy(update={"modalities": ["graph2d_hu"], **checkpoint})
    assert scratch.finetune == ours.finetune.model_copy(
        update={"init": "scratch", "pretrained": None, "pretrained_format": "semmol"}
    )


def test_the_sider_overlay_holds_out_the_references_last_six_tasks():
    remote = load_config(_with_overlays("fewshot-sider.yaml"))
    local = load_config(_with_overlays("fewshot-sider.yaml", "fewshot-sider-local.yaml"))
    shot, targets = remote.fewshot, remote.datasets["sider"].targets
    assert shot.benchmark == "sider" and len(targets) == 27
    assert (shot.train_tasks, shot.test_tasks) == (targets[:21], targets[21:])
    assert shot.test_tasks[0] == "Renal and urinary disorders" and shot.test_tasks[-1].startswith("Injury")
    # the reference's inner loop over the preset's Tox21 settings; the Tox21 preset keeps its own
    assert (shot.inner_lr, shot.inner_contrast) == (1e-4, True)
    assert (load_config(_preset("moleculenet-cpu")).fewshot.inner_lr, shot.k_shot, shot.query_size) == (0.01, 10, 16)
    source = remote.datasets["sider"].source
    assert "/beb35cd0b76db5adef6cb1fa55807e4cd309aaed/originals/sider.csv" in source.url
    assert local.datasets["sider"].source == source.model_copy(
        update={"url": "file:../shared/data/moleculenet/sider.csv"}
    )
    assert local.model_copy(update={"datasets": remote.datasets}) == remote  # only the source differs


def test_the_sider_overlay_names_the_files_columns(full_moleculenet_dir):
    path = full_moleculenet_dir / "sider.csv"
    sider = load_config(_with_overlays("fewshot-sider.yaml")).datasets["sider"]
    with path.open(newline="") as handle:
        assert next(csv.reader(handle)) == ["smiles", *sider.targets]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sider.source.sha256


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pretrain.targets": ["smiles", "graph2d"]}, "exclude the anchor"),
        ({"pretrain.descriptor_views": ["image"]}, "descriptor_views"),  # not encoded
        (
            {"pretrain.targets": ["graph2d", "descriptors"], "pretrain.descriptor_views": ["descriptors"]},
            "read its own target",
        ),
        ({"finetune.mode": "method", "finetune.init": "scratch"}, "finetune.mode 'method' needs"),
        ({"finetune.w_view_contrast": 0.1}, "w_view_contrast needs finetune.fusion: weighted"),
        ({"pretrain.targets": ["graph2d", "graph2d_hu"]}, "graph2d_hu is not pretrained here"),
        (
            {"finetune.pretrained_format": "pretrain_gnns", "finetune.pretrained": {"kind": "local", "path": "x.pth"}},
            "needs finetune.pretrained and graph2d_hu among finetune.modalities",
        ),
        (
            {"finetune.fusion": "weighted", "finetune.fingerprint_fusion": ["maccs"]},
            "fingerprint_fusion needs finetune.fusion: concat",
        ),
        (
            {"finetune.fusion": "weighted", "finetune.graph_text_fusion": "cross_attention"},
            "graph_text_fusion needs finetune.fusion: concat",
        ),
    ],
)
def test_runs_whose_stages_do_not_fit_together_are_rejected(overrides, message):
    raw = _preset()
    raw["runs"]["bad"] = {"overrides": overrides}
    with pytest.raises(ValidationError, match=message):
        load_config(raw)


def test_a_model_pretrained_before_precision_existed_still_loads():
    """Its job says ``bf16``: true was bf16 on CUDA and float32 on the CPU, i.e. 'auto'."""
    from semmol.config import PretrainConfig

    assert PretrainConfig.model_validate({"bf16": True}).precision == "auto"
    assert PretrainConfig.model_validate({"bf16": False}).precision == "fp32"
    with pytest.raises(ValueError, match="extra"):
        PretrainConfig.model_validate({"bf17": True})
