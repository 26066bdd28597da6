#!/usr/bin/env bash
# scale-runs.sh [OUT] — the model-size runs of issue 27 §4 (docs/results/scale-seeds-2026-12-07): the claim's
# strategies on three seeds at four model sizes, as parts of `crma-bench forgetting --quick --gated` run by
# forgetting-matrix.sh. Two threads, one BLAS thread each (two cores): SmolLM2-135M then Qwen2.5-Coder-0.5B on
# one, Gemma 3 270M then Qwen2.5-Coder-1.5B on the other. Finished parts are skipped and stopped ones resume at
# their next update, so start it again in every session until every part is done (fetch the models first:
# make model model-gemma model-qwen model-qwen-1.5b). Logs: OUT/<model>.log; results: OUT/<model>/.
set -uo pipefail
out=${1:-var/scale}
cd "$(dirname "$0")/../.."
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-COOPERLAKE}
claim="naive:0 frozen:0 crma:0 crma-identity:0 naive:42 frozen:42 crma:42 crma-identity:42"
claim="$claim naive:1234 frozen:1234 crma:1234 crma-identity:1234"
mkdir -p "$out"

# model directory, flags, parts
run() {
    CRMA_BENCH_FLAGS="--quick $2" CRMA_PARTS="$3" nice -n 10 scripts/results/forgetting-matrix.sh "$out/$1" 1 \
        >> "$out/$1.log" 2>&1
}

# SmolLM2 and Gemma 3 keep the default (quantized) base they started with; Qwen runs on the fp32 base, the
# fastest where memory allows (the quantized one multiplies by the same values: quantized-base-2026-12-07).
(
    run smollm2-135m "--model models/SmolLM2-135M-Instruct.Q4_1.gguf" "$claim"
    run qwen2.5-0.5b "--base fp32 --model models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" "$claim"
) &
(
    run gemma3-270m "--model models/gemma-3-270m-q4_k_m.gguf" "$claim"
    # At 1.5B: naive, frozen and crma, seed 0 first.
    run qwen2.5-1.5b "--base fp32 --model models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" \
        "naive:0 frozen:0 crma:0 naive:42 frozen:42 crma:42 naive:1234 frozen:1234 crma:1234"
) &
wait
