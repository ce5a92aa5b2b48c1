#!/usr/bin/env bash
# make demo: a simulated cohort of 20 patients, end to end — slides → densities → PR vs SD →
# 30th-percentile survival strata → one HTML report.
set -euo pipefail
BIN=${1:-.build/release/mifq}
OUT=${2:-demo-out}
rm -rf "$OUT"
start=$(date +%s)
echo "== 1/5 simulate: 20 patients, one 1024×1024 Opal 7-colour slide each (OME-TIFF), with ground truth"
"$BIN" simulate --out "$OUT/cohort" --patients 20 --size 1024x1024 --seed 2024 --panel panels/escc-opal7.json
echo "== 2/5 inspect one slide"
"$BIN" inspect "$OUT/cohort/slides/P001_S1.ome.tif"
echo "== 3/5 quantify: unmix, segment, phenotype, densities per mm² in tumour and stroma"
"$BIN" quantify "$OUT/cohort/slides" --panel panels/escc-opal7.json --out "$OUT/results" --regions-geojson
echo "== 4/5 compare PR vs SD, and survival at the 30th percentile"
"$BIN" compare "$OUT/results/densities.csv" --clinical "$OUT/cohort/clinical.csv" --out "$OUT/results"
"$BIN" survival "$OUT/results/densities.csv" --clinical "$OUT/cohort/clinical.csv" --out "$OUT/results" --percentile 30
echo "== 5/5 report"
"$BIN" report "$OUT/results"
echo
echo "CD8 density, PR vs SD:"
grep -E "^CD8_density" "$OUT/results/mann_whitney.csv" | cut -d, -f1,4-9
echo
echo "Done in $(( $(date +%s) - start )) s. Results:"
echo "  per-patient densities   $OUT/results/densities.csv"
echo "  per-slide table         $OUT/results/slides.csv"
echo "  thresholds used         $OUT/results/thresholds.csv"
echo "  per-cell tables         $OUT/results/cells/"
echo "  QC pictures             $OUT/results/qc/"
echo "  QuPath regions          $OUT/results/regions/"
echo "  statistics              $OUT/results/mann_whitney.csv  $OUT/results/logrank.csv  $OUT/results/hazard_ratios.csv  $OUT/results/km_summary.csv"
echo "  report                  $OUT/results/report.html"
echo "  simulated truth         $OUT/cohort/truth/"
