# Probes on frozen embeddings (probe.enabled): per pretrained run x benchmark x split x seed,
# logistic/ridge and kNN probes on the run's pretrained encoders and the same encoders at random
# initialisation (kept in results/probe_random_init for the other runs of the same architecture,
# which share that twin); ECFP4 and RDKit 2D descriptors once per benchmark x split x seed (they
# do not depend on the run).


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
        " --batch-size {params.batch_size} --features pretrained random_init"
        " --random-init-store results/probe_random_init --stage-version {params.version}"
        " --threads $THREADS --out-dir results/probe/{wildcards.run}/{wildcards.bench}/{wildcards.split}-{wildcards.seed}"
        " 2> {log}"


rule probe_fingerprints:
    input:
        molecules="results/data/{bench}/molecules.parquet",
        manifest="results/data/{bench}/shards/manifest.json",
        split="results/benchmarks/{bench}/splits/{split}-{seed}.json",
    output:
        metrics="results/probe_fingerprints/{bench}/{split}-{seed}/metrics.json",
    params:
        dataset=dataset_json,
        label_fractions=" ".join(map(str, CFG.probe.label_fractions)),
        version=STAGE_VERSION["probe"],
    threads: 2
    conda:
        "../../environment.yml"
    log:
        "logs/probe_fingerprints/{bench}/{split}-{seed}.log",
    benchmark:
        "benchmarks/probe_fingerprints/{bench}/{split}-{seed}.tsv"
    shell:
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; python -m semmol probe"
        " --molecules {input.molecules} --shards-manifest {input.manifest} --split {input.split}"
        " --dataset {params.dataset:q} --benchmark {wildcards.bench} --seed {wildcards.seed}"
        " --label-fractions {params.label_fractions} --features ecfp4 rdkit2d"
        " --threads $THREADS --out-dir results/probe_fingerprints/{wildcards.bench}/{wildcards.split}-{wildcards.seed}"
        " 2> {log}"
