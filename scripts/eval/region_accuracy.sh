#!/usr/bin/env bash
# Simulates four cohorts (seeds 1–4, three 2048² slides each by default), quantifies them with the study
# panel and compares with the truth: the README's "areas and densities" row.
#   bash scripts/eval/region_accuracy.sh [WORKDIR] [PANEL]     (needs numpy and scipy)
#   SIZE=8192 PATIENTS=2 bash scripts/eval/region_accuracy.sh …  larger slides, fewer per seed
#   SEEDS="5 6 7 8" bash scripts/eval/region_accuracy.sh …        other cohorts (four seeds, reported in pairs)
#   PIXEL=0.25 SIZE=4096 bash scripts/eval/region_accuracy.sh …     40× slides of the same area (the study panel
#                                                                   finds their cells at 0.5 µm)
#   DRIFT=0.3 bash scripts/eval/region_accuracy.sh …               autofluorescence drifting ±30% across each slide
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-/tmp/mifq-region-accuracy}
PANEL=${2:-panels/escc-opal7.json}
MIFQ=.build/release/mifq
SIZE=${SIZE:-2048}
PIXEL=${PIXEL:-0.5}
PATIENTS=${PATIENTS:-3}
swift build -c release >/dev/null
mkdir -p "$W"
args=()
read -r -a seeds <<< "${SEEDS:-1 2 3 4}"
for seed in "${seeds[@]}"; do
  rm -rf "$W/sim$seed" "$W/q$seed"
  "$MIFQ" simulate --out "$W/sim$seed" --patients "$PATIENTS" --size "${SIZE}x${SIZE}" --pixel-size "$PIXEL" --seed $seed \
    --autofluorescence-drift "${DRIFT:-0}" --quiet >/dev/null
  "$MIFQ" quantify "$W/sim$seed/slides" --panel "$PANEL" --out "$W/q$seed" --quiet --no-qc >/dev/null
  args+=("$W/sim$seed" "$W/q$seed")
done
echo "seeds ${seeds[0]}, ${seeds[1]}:"; python3 scripts/eval/region_accuracy.py "${args[@]:0:4}"
echo "seeds ${seeds[2]}, ${seeds[3]}:"; python3 scripts/eval/region_accuracy.py "${args[@]:4:4}"
