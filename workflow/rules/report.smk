# The results table and plots over every run, benchmark and seed, and the data table over every
# dataset; `snakemake --report` embeds them.


rule aggregate:
    input:
        metrics=finetune_metrics(),
        baseline=baseline_metrics(),
        label_fractions=finetune_metrics(label_fraction_splits()) + baseline_metrics(label_fraction_splits()),
        fewshot=fewshot_metrics(),
        probe=probe_metrics(),
        pretrain=expand("results/pretrain/{run}/metrics.jsonl", run=pretrained_runs()),
        # snapshots are written beside model.pt by the same job
        semantic=expand("results/pretrain/{run}/model.pt", run=semantic_runs()),
        # read from results/data/{dataset}/ by --dataset-report
        standardize=expand("results/data/{dataset}/standardize.json", dataset=data_datasets()),
        shards=expand("results/data/{dataset}/shards/manifest.json", dataset=data_datasets()),
    output:
        csv="results/report/summary.csv",
        md=report("results/report/summary.md", category="Results"),
        by_run="results/report/summary-by-run.md",
        # the tables and the metrics plot in one page: the report shows HTML, not Markdown
        html=report("results/report/summary.html", category="Results"),
        data=report("results/report/data.csv", category="Results"),
        metrics_plot=report("results/report/plots/metrics.png", category="Results"),
        finetune_plot=report("results/report/plots/finetune_curves.png", category="Training curves"),
        pretrain_plot=report("results/report/plots/pretrain_curves.png", category="Training curves"),
        centers_plot=report("results/report/plots/centers.png", category="Center libraries"),
        probe_plot=report("results/report/plots/probe_curves.png", category="Probes"),
        label_plot=report("results/report/plots/label_curves.png", category="Label efficiency"),
    params:
        pretrain=lambda wildcards, input: " ".join(
            f"--pretrain-metrics {path.split('/')[2]}={path}" for path in input.pretrain
        ),
        snapshots=" ".join(f"--center-snapshots {run}=results/pretrain/{run}/centers" for run in semantic_runs()),
        datasets=" ".join(f"--dataset-report {name}=results/data/{name}" for name in data_datasets()),
        fewshot=lambda wildcards, input: " ".join(f"--fewshot-metrics {path}" for path in input.fewshot),
        probe=lambda wildcards, input: " ".join(f"--probe-metrics {path}" for path in input.probe),
        published="" if CFG.report.published else "--no-published",
        version=STAGE_VERSION["aggregate"],
    conda:
        "../../environment.yml"
    log:
        "logs/report/aggregate.log",
    benchmark:
        "benchmarks/report/aggregate.tsv"
    shell:
        "python -m semmol aggregate --out-dir results/report {params.pretrain} {params.snapshots}"
        " {params.datasets} {params.fewshot} {params.probe} {params.published} {input.metrics} {input.baseline}"
        " {input.label_fractions} 2> {log}"
