#!/usr/bin/env bash
# propose's throughput on many clips with N decoding workers feeding the model (meant for a
# GPU machine: is decoding the bottleneck?), then the same job on Ray. Clips: S4 demo videos
# generated in parallel.
#
#   bash bench/gpu_propose_scale.sh [OUTDIR] [GROUPS] [CLIPS_PER_GROUP] [DEVICE]
set -u
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=PASSIVE
out=${1:-gpu-logs}; groups=${2:-8}; per=${3:-20}; device=${4:-cuda}
mkdir -p "$out"; d=$(mktemp -d)
t0=$(date +%s)
for i in $(seq 1 "$groups"); do
  python3 -m avs_studio.cli.parser -q demo-data "$d/g$i" --setting s4 --clips "$per" --seed $((200 + i)) &
done
wait
find "$d" -path '*raw_videos*' -name '*.mp4' | sort > "$d/list.txt"
echo "$(wc -l < "$d/list.txt") clips generated in $(( $(date +%s) - t0 )) s" | tee "$out/propose_scale.log"
for w in 0 2 4 8 12; do
  [ "$w" -gt "$(nproc)" ] && continue
  printf 'workers %2s: ' "$w" | tee -a "$out/propose_scale.log"
  python3 -m avs_studio.cli.parser -q propose "$d/list.txt" --setting s4 --out "$d/p$w" --workers "$w" \
    --batch-clips 4 --device "$device" 2>&1 | tail -1 | tee -a "$out/propose_scale.log"
  # wait_s: the model waiting for decoded clips (decoding is the bottleneck when it dominates)
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["timings_s"]; print("    " + "  ".join(f"{k} {v:.1f}" for k, v in t.items()))' \
    "$d/p$w/report.json" | tee -a "$out/propose_scale.log"
done
# The same job on Ray (a local runtime sized to this machine): its start-up is in the total
printf 'ray (local runtime): ' | tee -a "$out/propose_scale.log"
python3 -m avs_studio.cli.parser -q propose "$d/list.txt" --setting s4 --out "$d/pray" --ray \
  --batch-clips 4 --device "$device" 2>&1 | tail -1 | tee -a "$out/propose_scale.log"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["timings_s"]; print("    " + "  ".join(f"{k} {v:.1f}" for k, v in t.items()))' \
  "$d/pray/report.json" | tee -a "$out/propose_scale.log"
rm -rf "$d"
