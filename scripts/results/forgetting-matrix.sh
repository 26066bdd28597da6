#!/usr/bin/env bash
# forgetting-matrix.sh OUT [WORKERS] — runs the task-domain forgetting benchmark of issue 13 as one part per
# strategy and seed (`crma-bench forgetting --strategies S --seeds N --gated`), WORKERS parts at a time
# (default 2, one BLAS thread each: on two cores two single-threaded parts finish sooner than one part on
# two threads, and nothing spins at a barrier), then merges the finished parts into OUT/results.json and
# renders OUT/report.md and OUT/drift.svg.
#
# A part that finished (OUT/parts/S-N/done) is never rerun, so the script can be started again in every
# session until everything is done; a part stopped mid-way resumes where it stopped (crma-bench keeps its
# finished runs and each run's progress after every update under OUT/parts/S-N/checkpoints). Extra flags
# for crma-bench go in CRMA_BENCH_FLAGS (e.g. "--base fp32"); the binary is .build/release/crma-bench
# unless CRMA_BENCH is set. A part already running (its lock held by another start) is skipped.
#
# The parts, in the order they start: the claims first (naive, frozen, crma, crma-identity on seed 0),
# then replay, ewc, lwf and olora on seed 0, then seeds 42 and 1234 of the first four. CRMA_PARTS replaces that
# list ("strategy:seed" words), e.g. the model-size runs of issue 27:
#   CRMA_BENCH_FLAGS="--quick --model models/gemma-3-270m-q4_k_m.gguf" \
#   CRMA_PARTS="naive:0 frozen:0 crma:0 crma-identity:0 naive:42 …" scripts/results/forgetting-matrix.sh var/scale/270m 1
set -uo pipefail
out=${1:?usage: forgetting-matrix.sh OUT [WORKERS]}
workers=${2:-2}
bench=${CRMA_BENCH:-.build/release/crma-bench}
cd "$(dirname "$0")/../.."
mkdir -p "$out/parts"
parts=""
for s in naive frozen crma crma-identity replay ewc lwf olora; do parts="$parts $s:0"; done
for seed in 42 1234; do for s in naive frozen crma crma-identity; do parts="$parts $s:$seed"; done; done
parts=${CRMA_PARTS:-$parts}

run_part() {
    local strategy=${1%%:*} seed=${1##*:}
    local dir="$out/parts/$strategy-$seed"
    [ -f "$dir/done" ] && return 0
    mkdir -p "$dir"
    # A part another start of this script is running is left to it.
    exec {lock}> "$dir/lock"
    flock -n "$lock" || { echo "$(date -u +%FT%TZ) skip $strategy seed $seed: running elsewhere"; return 0; }
    echo "$(date -u +%FT%TZ) start $strategy seed $seed"
    # shellcheck disable=SC2086
    if "$bench" forgetting --strategies "$strategy" --seeds "$seed" --gated --threads 1 ${CRMA_BENCH_FLAGS:-} \
        --out "$dir" >> "$dir/log.txt" 2>&1; then
        touch "$dir/done"
        echo "$(date -u +%FT%TZ) done $strategy seed $seed"
    else
        echo "$(date -u +%FT%TZ) FAILED $strategy seed $seed: see $dir/log.txt"
    fi
}

running=0
for p in $parts; do
    run_part "$p" &
    running=$((running + 1))
    if [ "$running" -ge "$workers" ]; then wait -n; running=$((running - 1)); fi
done
wait
done_parts=$(ls "$out"/parts/*/done 2>/dev/null | sed 's#/done$#/results.json#')
if [ -n "$done_parts" ]; then
    # shellcheck disable=SC2086
    python3 scripts/results/merge.py "$out/results.json" $done_parts && "$bench" forgetting --rerender "$out/results.json" --out "$out"
fi
echo "$(ls "$out"/parts/*/done 2>/dev/null | wc -l) of $(echo $parts | wc -w) parts done"
