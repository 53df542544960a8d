# Few-shot evaluation (Meta-MM and the rows beside it) on the held-out tasks of fewshot.benchmark.


rule fewshot:
    input:
        molecules=f"results/data/{CFG.fewshot.benchmark}/molecules.parquet",
        manifest=f"results/data/{CFG.fewshot.benchmark}/shards/manifest.json",
        pretrained=fewshot_pretrained,
    output:
        "results/fewshot/{row}/{seed}/metrics.json",
    params:
        learner=lambda wildcards: CFG.fewshot.rows[wildcards.row].learner,
        options=as_json(CFG.fewshot),
        model=fewshot_model_json,
        pretrained=lambda wildcards, input: f"--pretrained {input.pretrained}" if input.pretrained else "",
        version=STAGE_VERSION["fewshot"],
    threads: 2
    conda:
        "../../environment.yml"
    log:
        "logs/fewshot/{row}/{seed}.log",
    benchmark:
        "benchmarks/fewshot/{row}/{seed}.tsv"
    shell:
        "THREADS=${{SLURM_CPUS_PER_TASK:-{threads}}}; OMP_NUM_THREADS=$THREADS python -m semmol fewshot"
        " --row {wildcards.row} --learner {params.learner} --options {params.options:q} --model {params.model:q}"
        " --molecules {input.molecules} --shards-manifest {input.manifest} --seed {wildcards.seed}"
        " {params.pretrained} --out-dir results/fewshot/{wildcards.row}/{wildcards.seed} 2> {log}"
