# Probes on frozen embeddings (probe.enabled): per pretrained run x benchmark x split x seed,
# logistic/ridge and kNN probes on the run's pretrained encoders, the same encoders at random
# initialisation, ECFP4 and RDKit 2D descriptors.


rule probe:
    input:
        molecules="results/data/{bench}/molecules.parquet",
        manifest="results/data/{bench}/shards/manifest.json",
        split="results/benchmarks/{bench}/splits/{split}-{seed}.json",
        pretrained=pretrained_inputs,
    output:
        metrics="results/probe/{run}/{bench}/{split}-{seed}/metrics.json",
    params:
        dataset=dataset_json,
        modalities=lambda wildcards: " ".join(RUNS[wildcards.run].finetune.modalities),
        label_fractions=" ".join(map(str, CFG.probe.label_fractions)),
        batch_size=CFG.probe.batch_size,
        version=STAGE_VERSION["probe"],
    threads: 2
    conda:
        "../../environment.yml"
    log:
        "logs/probe/{run}/{bench}/{split}-{seed}.log",
    benchmark:
        "benchmarks/probe/{run}/{bench}/{split}-{seed}.tsv"
    shell:
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; python -m semmol probe --model {input.pretrained}"
        " --molecules {input.molecules} --shards-manifest {input.manifest} --split {input.split}"
        " --dataset {params.dataset:q} --modalities {params.modalities} --name {wildcards.run}"
        " --benchmark {wildcards.bench} --seed {wildcards.seed} --label-fractions {params.label_fractions}"
        " --batch-size {params.batch_size}"
        " --threads $THREADS --out-dir results/probe/{wildcards.run}/{wildcards.bench}/{wildcards.split}-{wildcards.seed}"
        " 2> {log}"
