#!/usr/bin/env bash
# Documented check that the figures and the report render in a real browser: headless Chromium
# screenshots of report.html and of one figure of each kind, to look at (nothing overlapping or
# cut off). Needs Debian's chromium (apt-get install chromium).
#   bash scripts/check_render.sh demo-out/results      (after make demo)
set -euo pipefail
DIR=${1:-demo-out/results}
OUT=${2:-$DIR/screenshots}
mkdir -p "$OUT"
shot() { chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --screenshot="$2" --window-size="$3" "$1" 2>/dev/null; }
shot "$DIR/report.html" "$OUT/report.png" 1200,4000
shot "$DIR/figures/boxplots.svg" "$OUT/boxplots.png" 960,2000
km=$(ls "$DIR"/figures/km_*_pfs.svg | head -1)
shot "$km" "$OUT/km.png" 540,420
shot "$DIR/figures/forest_pfs.svg" "$OUT/forest.png" 720,1000
ls -la "$OUT"
