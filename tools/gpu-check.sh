#!/usr/bin/env bash
# The one device check of the GPU path (semmol/evaluate/gpu_check.py), in two phases:
#   tools/gpu-check.sh prepare [BUNDLE]      here, with the whole environment: the demo corpus
#                                            shards and the freesolv benchmark (RDKit) -> BUNDLE,
#                                            with pydantic's wheels (pip download) unpacked in
#                                            BUNDLE/site-packages for the device's Python
#                                            (DEVICE_PYTHON, e.g. 3.11; default this one's)
#   tools/gpu-check.sh run [BUNDLE] [OUT]    on the GPU machine: bf16 pretraining of the SemMol
#                                            row, its first 20 steps in fp32, one fine-tuning;
#                                            prints the figures, writes OUT/gpu-check.json
# BUNDLE defaults to gpu-check-bundle, OUT to gpu-check-out (both ignored by git). Without a CUDA
# device, `run` is a short CPU mode of the same code (what CI tests), whose figures say nothing
# about a GPU. PYTHON names the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:?usage: tools/gpu-check.sh prepare|run [BUNDLE] [OUT]}
bundle=${2:-gpu-check-bundle}
python=${PYTHON:-python}
case $phase in
prepare)
    snakemake --configfile config/demo.yaml --cores "${CORES:-2}" \
        results/data/chembl_samples/shards/manifest.json \
        results/data/freesolv/shards/manifest.json \
        results/benchmarks/freesolv/splits/scaffold-0.json
    "$python" -m semmol.evaluate.gpu_check prepare "$bundle" --config config/demo.yaml \
        --run semmol --benchmark freesolv ${DEVICE_PYTHON:+--python "$DEVICE_PYTHON"}
    du -sh "$bundle"
    ;;
run)
    out=${3:-gpu-check-out}
    # first, so that torch too loads the bundle's typing_extensions, the version pydantic needs
    export PYTHONPATH="$bundle/site-packages${PYTHONPATH:+:$PYTHONPATH}"
    if "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
        "$python" -m semmol.evaluate.gpu_check run "$bundle" --out "$out"
    else
        echo "no CUDA device: CPU mode, short runs of the same code; the figures say nothing about a GPU"
        "$python" -m semmol.evaluate.gpu_check run "$bundle" --out "$out" \
            --steps "${CPU_STEPS:-6}" --fp32-steps 4 --finetune-epochs 1
    fi
    ;;
*)
    echo "usage: tools/gpu-check.sh prepare|run [BUNDLE] [OUT]" >&2
    exit 2
    ;;
esac
