#!/usr/bin/env bash
# Launch `semmol pretrain` under torchrun: usage launch_pretrain.sh NODES PROCS_PER_NODE ARGS...
# One node: torchrun --standalone. Several (inside a SLURM allocation of NODES tasks): srun starts
# one torchrun per task, which meet at a c10d rendezvous on the allocation's first node.
set -euo pipefail
nodes="$1"
procs="$2"
shift 2
if [ "$nodes" -le 1 ]; then
    exec torchrun --standalone --nproc-per-node "$procs" -m semmol pretrain "$@"
fi
if [ -z "${SLURM_JOB_ID:-}" ]; then
    echo "pretrain.nodes is $nodes: a multi-node pretraining runs inside a SLURM allocation (profiles/slurm)" >&2
    exit 2
fi
head="$(scontrol show hostnames "${SLURM_JOB_NODELIST}" | head -n 1)"
port="${SEMMOL_RDZV_PORT:-29500}"
# --overlap: the step that runs this script already holds the allocation's CPUs.
exec srun --overlap --ntasks "$nodes" --kill-on-bad-exit=1 \
    torchrun --nnodes "$nodes" --nproc-per-node "$procs" \
    --rdzv-backend c10d --rdzv-endpoint "${head}:${port}" --rdzv-id "${SLURM_JOB_ID}" \
    -m semmol pretrain "$@"
