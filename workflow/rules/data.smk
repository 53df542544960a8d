# The data half: download -> standardize -> conformers (scattered over shards) -> gather; splits.


# Compute nodes often have no internet: downloads run on the submitting host.
localrules:
    download,
    gather_shards,


rule download:
    output:
        "resources/datasets/{dataset}/manifest.json",
    params:
        dataset=download_json,
        # The lock (semmol.data.lock) records what each source gave on its first download and
        # holds later downloads to it; `semmol lock --update` accepts new content deliberately.
        lock=str(LOCK_PATH),
        version=STAGE_VERSION["download"],
    conda:
        "../../environment.yml"
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "benchmarks/download/{dataset}.tsv"
    shell:
        "python -m semmol download --name {wildcards.dataset} --dataset {params.dataset:q}"
        " --out-dir resources/datasets/{wildcards.dataset} --lock {params.lock} 2> {log}"


rule standardize:
    input:
        "resources/datasets/{dataset}/manifest.json",
    output:
        molecules="results/data/{dataset}/molecules.parquet",
        rejected="results/data/{dataset}/rejected.parquet",
        report="results/data/{dataset}/standardize.json",
    params:
        dataset=dataset_json,
        options=as_json(CFG.standardize),
        benchmark=lambda wildcards: "--benchmark" if wildcards.dataset in CFG.benchmarks else "",
        split_column=split_column_args,
        version=STAGE_VERSION["standardize"],
    conda:
        "../../environment.yml"
    log:
        "logs/standardize/{dataset}.log",
    benchmark:
        "benchmarks/standardize/{dataset}.tsv"
    # When too many records are rejected the job fails and Snakemake deletes its outputs, so the
    # rejected rows the error names are copied beside the log.
    shell:
        "python -m semmol standardize --manifest {input} --dataset {params.dataset:q} --options {params.options:q}"
        " {params.benchmark} {params.split_column} --out-dir results/data/{wildcards.dataset}"
        " --rejected-copy logs/standardize/{wildcards.dataset}.rejected.parquet 2> {log}"


rule conformers:
    input:
        "results/data/{dataset}/molecules.parquet",
    output:
        "results/data/{dataset}/shards/{shard}.parquet",
    params:
        n_shards=CFG.conformers.shards,
        options=as_json(CFG.conformers),
        fraction=conformer_fraction,
        version=STAGE_VERSION["conformers"],
    threads: 16
    resources:
        runtime=240,
    conda:
        "../../environment.yml"
    log:
        "logs/conformers/{dataset}/{shard}.log",
    benchmark:
        "benchmarks/conformers/{dataset}/{shard}.tsv"
    shell:
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; python -m semmol conformers --molecules {input} --shard {wildcards.shard} --n-shards {params.n_shards}"
        " --options {params.options:q} --conformer-fraction {params.fraction} --out {output} --threads $THREADS 2> {log}"


rule gather_shards:
    input:
        shard_files,
    output:
        "results/data/{dataset}/shards/manifest.json",
    conda:
        "../../environment.yml"
    log:
        "logs/conformers/{dataset}/gather.log",
    benchmark:
        "benchmarks/gather/{dataset}.tsv"
    shell:
        "python -m semmol gather --out {output} {input} 2> {log}"


rule split:
    input:
        "resources/datasets/{bench}/manifest.json",
    output:
        "results/benchmarks/{bench}/splits/{split}-{seed}.json",
    wildcard_constraints:
        split=SPLIT_KINDS,  # a label fraction's split file is rule label_fraction's
    params:
        dataset=dataset_json,
        split=lambda wildcards: CFG.split.model_copy(update={"kind": wildcards.split}).model_dump_json(),
        version=STAGE_VERSION["split"],
    conda:
        "../../environment.yml"
    log:
        "logs/split/{bench}/{split}-{seed}.log",
    benchmark:
        "benchmarks/split/{bench}/{split}-{seed}.tsv"
    shell:
        "python -m semmol split --name {wildcards.bench} --manifest {input} --dataset {params.dataset:q}"
        " --split {params.split:q} --seed {wildcards.seed} --out {output} 2> {log}"
