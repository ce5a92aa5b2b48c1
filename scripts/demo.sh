#!/usr/bin/env bash
# make demo: runs mifq on the bundled slides and prints where the results are.
set -euo pipefail
BIN=${1:-.build/release/mifq}
OUT=${2:-demo-out}
mkdir -p "$OUT"
for f in testdata/third-party/synth7_qptiff_like.qptiff testdata/third-party/synth7_ome_pyramid.ome.tif \
         testdata/third-party/synth7_lzw_strips_planar.tif; do
  name=$(basename "$f")
  "$BIN" inspect "$f" --stats
  "$BIN" inspect "$f" --stats --json > "$OUT/$name.json"
done
echo "demo: slide descriptions written to $OUT/"
