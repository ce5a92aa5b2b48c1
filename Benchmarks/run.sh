#!/usr/bin/env bash
# Throughput and memory benchmarks, release build, everything side by side in one run.
#   bash Benchmarks/run.sh [WORKDIR] [SIZE]     (default /tmp/mifq-bench, 16384)
# Slides are generated in WORKDIR (several GB), never in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mifq-bench}
S=${2:-16384}
MIFQ=.build/release/mifq
BENCH=.build/release/mifq-bench
swift build -c release >/dev/null
mkdir -p "$W"
peak() { grep "Maximum resident" "$1" | awk '{printf "%.0f MB", $6/1024}'; }
secs() { grep "Elapsed (wall" "$1" | awk '{print $8}'; }

echo "# mifq benchmarks — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo
echo "## simulate: ${S}×${S}×7 uint16 OME-TIFF, deflate, one thread"
rm -rf "$W/sim"
/usr/bin/time -v "$MIFQ" simulate --out "$W/sim" --patients 1 --size "${S}x${S}" --threads 1 --no-masks --quiet 2> "$W/sim.time" >/dev/null
t=$(secs "$W/sim.time")
python3 -c "
import sys; h,m,s=(['0']*(3-len('$t'.split(':')))+'$t'.split(':'))
sec=float(h)*3600+float(m)*60+float(s); print(f'{sec:.1f} s, {$S*$S/1e6/sec:.1f} Mpx/s (7 channels per pixel), peak RSS $(peak "$W/sim.time")')"
SLIDE="$W/sim/slides/P001_S1.ome.tif"
ls -la "$SLIDE" | awk '{printf "file %.2f GB\n", $5/1e9}'
echo
echo "## decode: every channel of level 0 (same file, same run)"
for t in 1 2; do
  /usr/bin/time -v "$BENCH" decode-raw "$SLIDE" $t 2> "$W/raw$t.time"
  /usr/bin/time -v "$BENCH" decode-mifq "$SLIDE" $t 2> "$W/mifq$t.time"
done
echo
echo "## unmixing kernels (32 tiles of 512² × 7 in memory)"
"$BENCH" unmix "$SLIDE" panels/escc-opal7.json
echo
echo "## segment DAPI (whole slide, nuclei labels written)"
for t in 1 2; do
  /usr/bin/time -v "$MIFQ" segment "$SLIDE" --channel DAPI --out "$W/labels.tif" --threads $t --quiet 2> "$W/seg$t.time" | sed 's/^/  /'
  echo "  $t thread(s): $(secs "$W/seg$t.time") wall, peak RSS $(peak "$W/seg$t.time")"
done
echo
echo "## quantify (tissue pass, unmix, segment, measure, tables; --no-cells)"
for t in 1 2; do
  rm -rf "$W/q$t"
  /usr/bin/time -v "$MIFQ" quantify "$SLIDE" --panel panels/escc-opal7.json --out "$W/q$t" --threads $t --no-cells --quiet 2> "$W/q$t.time" >/dev/null
  echo "  $t thread(s): $(secs "$W/q$t.time") wall, peak RSS $(peak "$W/q$t.time")"
done
