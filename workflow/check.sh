#!/usr/bin/env bash
# Runs the Snakemake workflow locally on a tiny simulated cohort and checks that its merged
# tables equal a single-machine `mifq quantify` of the same slides.  Needs snakemake (PyPI).
#   bash workflow/check.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-/tmp/mifq-workflow-check}
MIFQ=.build/release/mifq
swift build -c release >/dev/null
rm -rf "$W"
"$MIFQ" simulate --out "$W/cohort" --patients 6 --size 512x512 --seed 5 --quiet >/dev/null
snakemake -s workflow/Snakefile --cores 2 --quiet all \
  --config slides="$W/cohort/slides" clinical="$W/cohort/clinical.csv" panel=panels/escc-opal7.json out="$W/cluster" mifq="$MIFQ"
"$MIFQ" quantify "$W/cohort/slides" --panel panels/escc-opal7.json --out "$W/single" --quiet >/dev/null
for f in slides.csv densities.csv; do
  cmp "$W/cluster/$f" "$W/single/$f" && echo "same $f"
done
test -s "$W/cluster/report.html" && echo "report written"
