import csv
import hashlib
import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from snakemake.utils import update_config

from semmol.config import load_config, options_doc, resolve_run, schema_text

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_typed_config():
    committed = (ROOT / "workflow/schemas/config.schema.json").read_text()
    assert committed == schema_text(), "schema drifted: run `make schema`"


def test_config_readme_documents_every_option():
    readme = (ROOT / "config/README.md").read_text()
    assert readme == options_doc(readme), "config/README.md options drifted: run `make schema`"


PRESETS = sorted(p.stem for p in (ROOT / "config").glob("*.yaml"))


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


@pytest.mark.parametrize("preset", PRESETS)
def test_shipped_url_sources_pin_their_content(preset):
    config = load_config(_preset(preset))
    for name, dataset in config.datasets.items():
        if dataset.source.kind == "url":
            assert dataset.source.sha256, (
                f"{preset}: dataset '{name}' downloads {dataset.source.url} unchecked"
            )
            assert "/main/" not in dataset.source.url and "/master/" not in dataset.source.url, name
        if dataset.source.kind == "hf":
            assert re.fullmatch(r"[0-9a-f]{40}", dataset.source.revision), (
                f"{preset}: dataset '{name}' follows revision '{dataset.source.revision}', not a commit"
            )


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


def _with_overlays(*overlays: str) -> dict:
    """The CPU preset with the overlays merged in order, as `--configfile` merges them."""
    raw = _preset("moleculenet-cpu")
    for overlay in overlays:
        update_config(raw, yaml.safe_load((ROOT / "config/overlays" / overlay).read_text()))
    return raw


@pytest.mark.parametrize("overlay", sorted(p.name for p in (ROOT / "config/overlays").glob("*.yaml")))
def test_overlays_merge_into_the_cpu_preset(overlay):
    # Merged as `--configfile config/moleculenet-cpu.yaml config/overlays/<overlay>` merges them;
    # an overlay `<base>-local.yaml` goes after `<base>.yaml`.
    base = [overlay.removesuffix("-local.yaml") + ".yaml"] if overlay.endswith("-local.yaml") else []
    raw = _with_overlays(*base, overlay)
    config = load_config(raw)
    for run in config.runs:
        resolve_run(config, run)
    assert config != load_config(_preset("moleculenet-cpu")), f"{overlay} changes nothing"


def test_pretrain_gnns_rows_pin_their_checkpoints_and_have_scratch_twins():
    remote = load_config(_with_overlays("pretrain-gnns.yaml"))
    local = load_config(_with_overlays("pretrain-gnns.yaml", "pretrain-gnns-local.yaml"))
    pretrained = [name for name in remote.runs if name.startswith("hu_") and not name.endswith("_scratch")]
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
        ({"finetune.mode": "method", "pretrain.method": "infonce"}, "method 'infonce' offers no head input"),
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
