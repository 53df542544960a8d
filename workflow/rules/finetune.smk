# Fine-tuning per run x benchmark x split x seed, and the fingerprint baseline beside it.


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
        "OMP_NUM_THREADS={threads} python -m semmol finetune --job {params.job:q} --name {wildcards.run}"
        " --benchmark {wildcards.bench} --molecules {input.molecules} --shards-manifest {input.manifest}"
        " --split {input.split} --seed {wildcards.seed} {params.pretrained}"
        " --out-dir results/finetune/{wildcards.run}/{wildcards.bench}/{wildcards.split}-{wildcards.seed}"
        " 2> {log}"


rule baseline:
    input:
        molecules="results/data/{bench}/molecules.parquet",
        split="results/benchmarks/{bench}/splits/{split}-{seed}.json",
    output:
        metrics="results/baseline/rf_ecfp4/{bench}/{split}-{seed}/metrics.json",
        predictions="results/baseline/rf_ecfp4/{bench}/{split}-{seed}/predictions.parquet",
    params:
        dataset=dataset_json,
        options=as_json(CFG.baseline),
        version=STAGE_VERSION["baseline"],
    threads: 2
    conda:
        "../../environment.yml"
    log:
        "logs/baseline/{bench}/{split}-{seed}.log",
    benchmark:
        "benchmarks/baseline/{bench}/{split}-{seed}.tsv"
    shell:
        "python -m semmol baseline --molecules {input.molecules} --split {input.split} --dataset {params.dataset:q}"
        " --options {params.options:q} --benchmark {wildcards.bench} --seed {wildcards.seed}"
        " --out-dir results/baseline/rf_ecfp4/{wildcards.bench}/{wildcards.split}-{wildcards.seed}"
        " --threads {threads} 2> {log}"
