# Pretraining (torchrun DDP) on the corpus shards, then the center library of each run; or a
# pretrained model made elsewhere (finetune.pretrained), fetched instead.


localrules:
    download_model,


rule download_model:
    output:
        "resources/pretrained/{run}/model.pt",
    params:
        source=pretrained_source,
        version=STAGE_VERSION["download_model"],
    conda:
        "../../environment.yml"
    log:
        "logs/download_model/{run}.log",
    benchmark:
        "benchmarks/download_model/{run}.tsv"
    shell:
        "python -m semmol download-model --name {wildcards.run} --source {params.source:q}"
        " --out-dir resources/pretrained/{wildcards.run} 2> {log}"


rule pretrain:
    input:
        manifest=f"results/data/{CFG.corpus}/shards/manifest.json",
    output:
        model="results/pretrain/{run}/model.pt",
        metrics="results/pretrain/{run}/metrics.jsonl",
    params:
        job=pretrain_json,
        nproc=lambda wildcards: RUNS[wildcards.run].pretrain.nproc,
        version=STAGE_VERSION["pretrain"],
    threads: 8
    resources:
        runtime=1440,
    conda:
        "../../environment.yml"
    log:
        "logs/pretrain/{run}.log",
    benchmark:
        "benchmarks/pretrain/{run}.tsv"
    # Checkpoints go to results/pretrain/{run}/_ckpt/ (not declared), so a killed or
    # re-queued job resumes from its last checkpoint.
    shell:
        "OMP_NUM_THREADS=$(( {threads} / {params.nproc} > 0 ? {threads} / {params.nproc} : 1 ))"
        " torchrun --standalone --nproc-per-node {params.nproc} -m semmol pretrain"
        " --job {params.job:q} --shards-manifest {input.manifest}"
        " --out-dir results/pretrain/{wildcards.run} 2> {log}"


rule centers:
    input:
        model="results/pretrain/{run}/model.pt",
        manifest=f"results/data/{CFG.corpus}/shards/manifest.json",
    output:
        "results/pretrain/{run}/centers/library.json",
    params:
        n_centers=lambda wildcards: RUNS[wildcards.run].semantic.n_centers,
        seed=lambda wildcards: RUNS[wildcards.run].pretrain.seed,
        version=STAGE_VERSION["centers"],
    threads: 4
    conda:
        "../../environment.yml"
    log:
        "logs/centers/{run}.log",
    benchmark:
        "benchmarks/centers/{run}.tsv"
    shell:
        "python -m semmol centers --model {input.model} --shards-manifest {input.manifest}"
        " --n-centers {params.n_centers} --seed {params.seed} --out-dir results/pretrain/{wildcards.run}/centers"
        " --threads {threads} 2> {log}"
