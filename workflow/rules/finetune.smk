# Fine-tuning per run x benchmark x split x seed, and the fingerprint baseline beside it; a split
# wildcard such as scaffold-labels0.1 reads the split file cut to that share of train labels.


# label_fractions below 1: the split file with its train subset cut to a nested share.
rule label_fraction:
    input:
        split="results/benchmarks/{bench}/splits/{kind}-{seed}.json",
        molecules="results/data/{bench}/molecules.parquet",
    output:
        "results/benchmarks/{bench}/splits/{kind}-labels{fraction}-{seed}.json",
    conda:
        "../../environment.yml"
    log:
        "logs/label_fraction/{bench}/{kind}-labels{fraction}-{seed}.log",
    benchmark:
        "benchmarks/label_fraction/{bench}/{kind}-labels{fraction}-{seed}.tsv"
    shell:
        "python -m semmol label-fraction --split {input.split} --molecules {input.molecules}"
        " --fraction {wildcards.fraction} --out {output} 2> {log}"


rule finetune:
    input:
        molecules="results/data/{bench}/molecules.parquet",
        manifest="results/data/{bench}/shards/manifest.json",
        split="results/benchmarks/{bench}/splits/{split}-{seed}.json",
        pretrained=pretrained_inputs,
    output:
        metrics="results/finetune/{run}/{bench}/{split}-{seed}/metrics.json",
        predictions="results/finetune/{run}/{bench}/{split}-{seed}/predictions.parquet",
        model="results/finetune/{run}/{bench}/{split}-{seed}/model.pt",
    params:
        job=finetune_json,
        pretrained=lambda wildcards, input: f"--pretrained {input.pretrained}" if input.pretrained else "",
        version=STAGE_VERSION["finetune"],
    threads: 2
    conda:
        "../../environment.yml"
    log:
        "logs/finetune/{run}/{bench}/{split}-{seed}.log",
    benchmark:
        "benchmarks/finetune/{run}/{bench}/{split}-{seed}.tsv"
    shell:
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; OMP_NUM_THREADS=$THREADS python -m semmol finetune --job {params.job:q} --name {wildcards.run}"
        " --benchmark {wildcards.bench} --molecules {input.molecules} --shards-manifest {input.manifest}"
        " --split {input.split} --seed {wildcards.seed} {params.pretrained}"
        " --out-dir results/finetune/{wildcards.run}/{wildcards.bench}/{wildcards.split}-{wildcards.seed}"
        " 2> {log}"


# {baseline}: rf_ecfp4 (random forest on ECFP4) or chemprop (its own command line, own environment).
rule baseline:
    input:
        molecules="results/data/{bench}/molecules.parquet",
        split="results/benchmarks/{bench}/splits/{split}-{seed}.json",
    output:
        metrics="results/baseline/{baseline}/{bench}/{split}-{seed}/metrics.json",
        predictions="results/baseline/{baseline}/{bench}/{split}-{seed}/predictions.parquet",
    params:
        dataset=dataset_json,
        options=baseline_options,
        version=STAGE_VERSION["baseline"],
    threads: 2
    conda:
        "../../environment.yml"
    log:
        "logs/baseline/{baseline}/{bench}/{split}-{seed}.log",
    benchmark:
        "benchmarks/baseline/{baseline}/{bench}/{split}-{seed}.tsv"
    shell:
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; python -m semmol baseline --kind {wildcards.baseline} --molecules {input.molecules} --split {input.split}"
        " --dataset {params.dataset:q} --options {params.options:q} --benchmark {wildcards.bench}"
        " --seed {wildcards.seed} --threads $THREADS"
        " --out-dir results/baseline/{wildcards.baseline}/{wildcards.bench}/{wildcards.split}-{wildcards.seed}"
        " 2> {log}"
