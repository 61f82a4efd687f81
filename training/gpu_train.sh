#!/usr/bin/env bash
# One GPU training part on the lent device machine (issue 17), prepared on a CPU-only session.
#
# Here, first (once): pack the training split (38 MiB with these settings, under the tool's 64 MiB):
#   .venv/bin/python -m training.pack_data out/train17-data --max-side 400 --quality 75 --every 2
# Then, with the device tool:
#   run(command="bash training/gpu_train.sh atom 7", carry=["out/train17-data"], timeout_s=560)
#   run(command="bash training/gpu_train.sh siam 7", carry=["out/train17-data"], timeout_s=560)
# and to continue from what a previous GPU part brought back (copy it into out/ first):
#   INIT=out/train17-init/aff-atom.fp16.safetensors bash training/gpu_train.sh atom 7   (carry it too)
#
# TASK atom: AFF-ATOM's IoU-Net (+ MS-CAM) on the frozen backbone of the shipped demo (or INIT),
#            batch 64 (pytracking's), Adam 1e-3, the "tracking" augmentations.
# TASK siam: SCS-Siam continued from the shipped demo (or INIT), batch 32, SGD 1e-3 -> 1e-5.
# MINUTES:   training time of this part (--max-minutes); a device command lasts at most 10 minutes and
#            a session has 15 minutes of device time, machine start included: 7 leaves room for the
#            start, the data loading and the export.
#
# What comes back under $OUT (the tool returns at most 8 files of 16 MiB): the fp16 checkpoint
# (13 MB), log.jsonl, run.json, and a copy of this part's console log. last.pt (weights + Adam state,
# ~50 MB) does not fit the return limits, so a later GPU part continues with INIT=<the checkpoint>
# (a new optimiser state; the schedule restarts) rather than --resume.
set -euo pipefail

task=${1:?usage: gpu_train.sh atom|siam MINUTES}
minutes=${2:-7}
out=${OUT:-/tmp/gpu_out}
data=${DATA:-out/train17-data}
python=${PYTHON:-python3}
device=${DEVICE:-cuda}  # DEVICE=cpu: a dry run of this script on a CPU machine
run=/tmp/train17-$task
mkdir -p "$out"
rm -rf "$run"
[ -d "$data" ] || { echo "no $data: pack it with python -m training.pack_data and carry it" >&2; exit 2; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
workers=$(( $(nproc) - 2 ))

case $task in
atom)
    init=${INIT:-edge_tracker/checkpoints/aff-atom.safetensors}
    args=(atom --tracker aff-atom --init "$init" --arch backbone_width=32 --arch iou_pred_dim=128
          --arch iou_inter_dim=128 --freeze-backbone --steps 20000 --batch-size 64)
    name=aff-atom ;;
siam)
    init=${INIT:-edge_tracker/checkpoints/scs-siam.safetensors}
    args=(siam --tracker scs-siam --init "$init" --steps 20000 --batch-size 32 --lr 1e-3 --lr-end 1e-5)
    name=scs-siam ;;
*) echo "TASK must be atom or siam, got $task" >&2; exit 2 ;;
esac

set +e
"$python" -m training "${args[@]}" --data "$data" synthetic:30 --out "$run" --device "$device" \
    --workers "$workers" --max-minutes "$minutes" --log-every 20 --save-every 1000000 2>&1 | tee "$out/console.log"
code=${PIPESTATUS[0]}
set -e
cp "$run/$name.fp16.safetensors" "$run/log.jsonl" "$run/run.json" "$out/" 2>/dev/null || true
tail -n 3 "$run/log.jsonl" || true
exit "$code"
