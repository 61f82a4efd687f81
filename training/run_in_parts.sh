#!/usr/bin/env bash
# Run a long training in parts of MINUTES each, in the background, resumable across sessions.
#
#   training/run_in_parts.sh OUT MINUTES siam|atom --tracker T --data ... [--init CKPT] [other options]
#
# Every part is `python -m training ... --out OUT --max-minutes MINUTES`; the first part starts the
# run (with --init if given), the later ones, and a rerun of this script in a new session, add
# --resume and drop --init (a resumed run continues OUT/last.pt; the two options exclude each other).
# After each part the exported fp16 checkpoint is copied to OUT/snapshots/step-<N>.fp16.safetensors,
# so refinement settings and evaluations can be measured while the run goes on. Stops when the run is
# done, on a failure, or when a part is stopped by SIGTERM/Ctrl-C (exit 130: `kill <pid of python>`
# saves last.pt; then kill this script's pid, or it would start the next part).
# Threads: one per process (OMP_NUM_THREADS=1, --threads 1 is up to the caller); run it niced.
set -u -o pipefail

if [ $# -lt 4 ]; then
    echo "usage: $0 OUT MINUTES siam|atom --tracker T --data ... [--init CKPT] [options]" >&2
    exit 2
fi
out=$1; minutes=$2; shift 2
python=${PYTHON:-python}
mkdir -p "$out/snapshots"

while true; do
    args=()
    if [ -f "$out/last.pt" ]; then
        skip=0
        for arg in "$@"; do
            if [ $skip = 1 ]; then skip=0; continue; fi
            if [ "$arg" = "--init" ]; then skip=1; continue; fi
            case $arg in --init=*) continue ;; esac
            args+=("$arg")
        done
        args+=(--resume)
    else
        args=("$@")
    fi
    echo "$(date -Is) part: $python -m training ${args[*]} --out $out --max-minutes $minutes"
    summary=$("$python" -m training "${args[@]}" --out "$out" --max-minutes "$minutes" | tee -a /dev/stderr)  # -a: without it tee truncates a log file that stderr points to
    code=$?
    echo "$(date -Is) part ended with exit code $code: $summary"
    step=$(sed -n 's/.*: step \([0-9]*\) of .*/\1/p' <<<"$summary")
    fp16=$(ls "$out"/*.fp16.safetensors 2>/dev/null | head -n 1)
    if [ -n "$step" ] && [ -n "$fp16" ]; then
        cp "$fp16" "$out/snapshots/step-$step.fp16.safetensors"
    fi
    if [ $code -ne 0 ]; then exit $code; fi
    case $summary in *"(done)"*) echo "run finished"; exit 0 ;; esac
done
