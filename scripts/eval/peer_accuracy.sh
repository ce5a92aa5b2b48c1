#!/usr/bin/env bash
# Makes slides with ../shared/peer/make_slide.py (seeds 11 and 12, on which panels/peer-slide.json's
# gates and tissue settings were chosen, then 13 and 1234, held out), quantifies each with that panel
# and scores it against the slide's truth: F1, areas and densities (the README's peer-slide rows).
#   bash scripts/eval/peer_accuracy.sh [WORKDIR]     (SIZE=8192 by default; about 2 min per slide)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-/tmp/mifq-peer-accuracy}
MIFQ=.build/release/mifq
SIZE=${SIZE:-8192}
MAKE=${MAKE_SLIDE:-../shared/peer/make_slide.py}
swift build -c release >/dev/null
mkdir -p "$W"
for seed in 11 12 13 1234; do
  S="$W/peer$seed.ome.tif"
  [ -f "$S.truth.csv" ] || python3 "$MAKE" --size "$SIZE" --seed $seed --out "$S" >/dev/null
  rm -rf "$W/q$seed"
  "$MIFQ" quantify "$S" --panel panels/peer-slide.json --out "$W/q$seed" --quiet --no-qc >/dev/null
  echo "== seed $seed"
  python3 scripts/eval/peer_truth.py "$S.truth.csv" "$W/q$seed/cells/peer$seed.csv"
done
