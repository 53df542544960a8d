# Pretraining (torchrun DDP) on the corpus shards, then the center library of each run; or a
# pretrained model made elsewhere (finetune.pretrained), fetched instead.


localrules:
    download_model,


rule download_model:
    output:
        "resources/pretrained/{run}/model.pt",
    params:
        source=pretrained_source,
        convert=pretrained_format_args,
        version=STAGE_VERSION["download_model"],
    conda:
        "../../environment.yml"
    log:
        "logs/download_model/{run}.log",
    benchmark:
        "benchmarks/download_model/{run}.tsv"
    shell:
        "python -m semmol download-model --name {wildcards.run} --source {params.source:q}"
        " --out-dir resources/pretrained/{wildcards.run} {params.convert} 2> {log}"


rule pretrain:
    input:
        manifest=f"results/data/{CFG.corpus}/shards/manifest.json",
    output:
        model="results/pretrain/{run}/model.pt",
        metrics="results/pretrain/{run}/metrics.jsonl",
    params:
        job=pretrain_json,
        nproc=lambda wildcards: processes_per_node(RUNS[wildcards.run].pretrain),
        nodes=lambda wildcards: RUNS[wildcards.run].pretrain.nodes,
        launcher=LAUNCH_PRETRAIN,
        version=STAGE_VERSION["pretrain"],
    threads: 8
    resources:
        runtime=1440,
        # read by the SLURM executor: one task per node (each runs torchrun), and GPUs only
        # when the config asks for them
        nodes=lambda wildcards: RUNS[wildcards.run].pretrain.nodes,
        tasks=lambda wildcards: RUNS[wildcards.run].pretrain.nodes,
        gpu=lambda wildcards: RUNS[wildcards.run].pretrain.gpus_per_node,
        tasks_per_gpu=0,  # the plugin would otherwise start one task per GPU
    conda:
        "../../environment.yml"
    log:
        "logs/pretrain/{run}.log",
    benchmark:
        "benchmarks/pretrain/{run}.tsv"
    # Checkpoints go to results/pretrain/{run}/_ckpt/ (not declared), so a killed or
    # re-queued job resumes from its last checkpoint. One torchrun per node: standalone on one
    # node, through srun and a c10d rendezvous on the first node across several.
    shell:
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; OMP_NUM_THREADS=$(( $THREADS / {params.nproc} > 0 ? $THREADS / {params.nproc} : 1 ))"
        " {params.launcher} {params.nodes} {params.nproc}"
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
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; python -m semmol centers --model {input.model} --shards-manifest {input.manifest}"
        " --n-centers {params.n_centers} --seed {params.seed} --out-dir results/pretrain/{wildcards.run}/centers"
        " --threads $THREADS 2> {log}"
